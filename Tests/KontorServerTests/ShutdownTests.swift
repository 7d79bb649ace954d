import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import KontorServer

/// systemd stops kontor-server with SIGTERM and waits; a background service that sleeps through the
/// graceful shutdown holds the stop (and a restart) for as long as it sleeps. Found when the memory trim
/// service, which sleeps 15 s between looks, made every stop wait out its sleep.
@Suite("Shutdown", .timeLimit(.minutes(5))) struct ShutdownTests {
    @Test("the whole server, every background service with it, stops at once on a graceful shutdown (SIGTERM)")
    func stopsAtOnce() async throws {
        let harness = try await Harness()
        var config = ServerConfig()
        config.port = 0
        var logger = Logger(label: "kontor-test")
        logger.logLevel = .error
        // Every period an hour: a service that sleeps through the shutdown holds it for an hour, past the time limit (5 minutes).
        var periods = BackgroundPeriods()
        (periods.checkinFlush, periods.retention, periods.eventLimits, periods.memoryTrim) = (.seconds(3600), .seconds(3600), .seconds(3600), .seconds(3600))
        (periods.offboarding, periods.approvalSweep, periods.archivePurge) = (3600, 3600, 3600)
        let app = try buildApplication(config: config, services: harness.services, logger: logger, periods: periods)
        let clock = ContinuousClock()
        let shutdownFrom = Mutex<ContinuousClock.Instant?>(nil)
        try await app.test(.live) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            shutdownFrom.withLock { $0 = clock.now }
        }
        // A stop takes well under a second; the bound leaves room for a loaded test run.
        let took = clock.now - (try #require(shutdownFrom.withLock { $0 }))
        #expect(took < .seconds(300), "the stop took \(took)")
    }
}

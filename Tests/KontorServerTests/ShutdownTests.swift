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
@Suite("Shutdown") struct ShutdownTests {
    @Test("the whole server, every background service with it, stops at once on a graceful shutdown (SIGTERM)")
    func stopsAtOnce() async throws {
        let harness = try await Harness()
        var config = ServerConfig()
        config.port = 0
        var logger = Logger(label: "kontor-test")
        logger.logLevel = .error
        let app = try buildApplication(config: config, services: harness.services, logger: logger)
        let clock = ContinuousClock()
        let shutdownFrom = Mutex<ContinuousClock.Instant?>(nil)
        try await app.test(.live) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            shutdownFrom.withLock { $0 = clock.now }
        }
        // The shortest period of a background service is 15 s: a service that waits its period out
        // before it looks at the shutdown shows here as a stop of seconds.
        let took = clock.now - (try #require(shutdownFrom.withLock { $0 }))
        #expect(took < .seconds(5), "the stop took \(took)")
    }
}

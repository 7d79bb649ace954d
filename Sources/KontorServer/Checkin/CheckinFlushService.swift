import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// Runs the recorder's flush every few seconds and flushes everything on graceful shutdown.
struct CheckinFlushService: Service {
    let recorder: CheckinRecorder
    let clock: WallClock
    let logger: Logger
    var period: Duration = .seconds(5)

    func run() async throws {
        // Sleep until shutdown or the next tick; never return early while the server runs.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                do {
                    try await recorder.flush(now: clock.now())
                } catch {
                    logger.error("could not write check-ins; will retry", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
        }
        do {
            let n = try await recorder.flush(now: clock.now(), all: true)
            logger.info("flushed pending check-ins on shutdown", metadata: ["count": "\(n)"])
        } catch {
            logger.error("could not flush check-ins on shutdown", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}

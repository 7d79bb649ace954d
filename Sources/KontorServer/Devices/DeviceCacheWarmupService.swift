import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// Reads the fleet into the device cache once the server has started.
struct DeviceCacheWarmupService: Service {
    let devices: DeviceCache
    let store: any DeviceStore
    let clock: WallClock
    let logger: Logger

    func run() async throws {
        let start = ContinuousClock.now
        do {
            let added = try await devices.preload(from: store, now: clock.seconds())
            logger.info("device cache warmed", metadata: ["devices": "\(added)", "seconds": "\(ContinuousClock.now - start)"])
        } catch {
            logger.warning("could not warm the device cache; devices are read on their first check-in", metadata: ["error": "\(String(reflecting: error))"])
        }
        // A service that returns would end the server; this one has nothing more to do.
        try? await gracefulShutdown()
    }
}

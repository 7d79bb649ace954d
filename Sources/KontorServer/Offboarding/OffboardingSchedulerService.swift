import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// Issues due offboarding wipes and completes offboardings, every `period` seconds.
struct OffboardingSchedulerService: Service {
    let offboarding: OffboardingService
    let period: Double
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await offboarding.tick() } catch { logger.error("offboarding scheduler failed", metadata: ["error": "\(error)"]) }
                try await Task.sleep(for: .milliseconds(Int64(period * 1000)))
            }
        }
    }
}

import Foundation
import Logging
import ServiceLifecycle

/// Expires the approval requests whose time ran out, every `period` seconds, so each is audited as
/// `approval.expired` near its time even when nobody looks (reads and decisions expire them too).
struct ApprovalSweepService: Service {
    let approvals: ApprovalService
    let period: Double
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await approvals.sweep() } catch { logger.error("approval sweep failed", metadata: ["error": "\(error)"]) }
                try await Task.sleep(for: .milliseconds(Int64(period * 1000)))
            }
        }
    }
}

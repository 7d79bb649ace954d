import Foundation
import Metrics
import ServiceLifecycle
import Synchronization

/// Ends the held check-ins when the server begins to shut down, so it does not wait for them.
struct LongPollShutdownService: Service {
    let longPolls: LongPolls

    func run() async throws {
        try? await gracefulShutdown()
        longPolls.close()
    }
}

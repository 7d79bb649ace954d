import Crypto
import Foundation
import KontorCore
import KontorPostgres
import Logging
import ServiceLifecycle
import Synchronization

/// Receives the other instances' events for as long as the server runs.
struct ClusterListenerService: Service {
    let store: PostgresStore
    let events: ClusterEvents
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await store.listen(
                connected: {
                    // Whatever was sent while not listening is lost: read everything again.
                    logger.info("cluster listener connected")
                    await events.receive(.resync)
                },
                received: { payload in await events.receive(payload: payload) })
        }
    }
}

import Crypto
import Foundation
import KontorCore
import KontorPostgres
import Logging
import ServiceLifecycle
import Synchronization

/// Sends cluster events as PostgreSQL notifications.
struct PostgresClusterTransport: ClusterTransport {
    let store: PostgresStore
    func send(_ payload: String) async throws { try await store.notify(payload) }
}

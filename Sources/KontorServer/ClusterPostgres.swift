import Crypto
import Foundation
import KontorCore
import KontorPostgres
import Logging
import ServiceLifecycle
import Synchronization

/// Where a signature's nonce is remembered for its window, so a captured request is accepted once.
public protocol ReplayWindow: Sendable {
    /// Records the nonce of `key` until `expiry` (seconds since 1970); false when it is a replay.
    func firstUse(key: String, nonce: String, expiry: Int, now: Int) async throws -> Bool
    /// Signatures created before this second (since 1970) are refused: the window cannot tell whether
    /// they were used before this process started (``SQLiteReplayWindow``). Nil: it can tell for any.
    var notBefore: Int? { get }
}

extension NonceCache: ReplayWindow {
    public func firstUse(key: String, nonce: String, expiry: Int, now: Int) async throws -> Bool {
        insert(key: key, nonce: nonce, expiry: expiry, now: now)
    }

    /// Memory only; used where nothing outlives the process (tests), or wrapped by a window that knows more.
    public var notBefore: Int? { nil }
}

/// The replay window of several instances: in PostgreSQL, so a request accepted by one instance is
/// refused by every other. This instance's own memory answers first, so a replay sent to the same
/// instance costs no query.
public final class SharedReplayWindow: ReplayWindow {
    let store: PostgresStore
    let local = NonceCache()
    private let lastPurge = Atomic<Int>(0)

    public init(store: PostgresStore) { self.store = store }

    /// In the database, kept across restarts.
    public var notBefore: Int? { nil }

    public func firstUse(key: String, nonce: String, expiry: Int, now: Int) async throws -> Bool {
        guard local.insert(key: key, nonce: nonce, expiry: expiry, now: now) else { return false }
        let hash = Bytes.sha256Hex(Data("\(key)\n\(nonce)".utf8))
        let fresh = try await store.recordNonce(hash, expiresAt: Double(expiry), now: Double(now))
        // Expired nonces are deleted about once a minute, by whichever instance gets there.
        let last = lastPurge.load(ordering: .relaxed)
        if now - last >= 60, lastPurge.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged {
            try await store.purgeNonces(before: Double(now))
        }
        return fresh
    }
}

/// Sends cluster events as PostgreSQL notifications.
struct PostgresClusterTransport: ClusterTransport {
    let store: PostgresStore
    func send(_ payload: String) async throws { try await store.notify(payload) }
}

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

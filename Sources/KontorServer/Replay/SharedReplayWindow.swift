import Crypto
import Foundation
import KontorCore
import KontorPostgres
import Logging
import ServiceLifecycle
import Synchronization

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

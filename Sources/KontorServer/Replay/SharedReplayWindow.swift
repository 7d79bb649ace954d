import Foundation
import KontorStore

/// The replay window of several instances: in the shared store (PostgreSQL), so a request accepted by one
/// instance is refused by every other. This instance's own memory answers first, so a replay sent to the
/// same instance costs no query.
public final class SharedReplayWindow: ReplayWindow {
    let local = NonceCache()
    let stored: StoredNonces

    public init(store: any ReplayNonceStore) { self.stored = StoredNonces(store: store) }

    /// In the database, kept across restarts.
    public var notBefore: Int? { nil }

    public func firstUse(key: String, nonce: String, expiry: Int, now: Int) async throws -> Bool {
        guard local.insert(key: key, nonce: nonce, expiry: expiry, now: now) else { return false }
        return try await stored.record(key: key, nonce: nonce, expiry: expiry, now: now)
    }
}

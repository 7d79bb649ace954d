import Crypto
import Foundation
import KontorCore
import KontorStore
import Synchronization

/// The nonces of accepted signatures (keyed by key ID), until they could no longer pass the freshness
/// check, so a captured request cannot be replayed within the window. Held as 64-bit SipHash values
/// under this process's random seed (a sender cannot aim for a collision; two honest nonces colliding
/// among a million live ones, about 2^-25, refuses one request), in buckets by expiry, so forgetting the
/// expired ones drops whole buckets instead of scanning every nonce. About 10 bytes per live nonce.
public final class NonceCache: Sendable {
    private struct State {
        /// Bucket number (expiry / bucketSeconds) → hashes of key ID and nonce.
        var buckets: [Int: Set<Int>] = [:]
    }

    private static let bucketSeconds = 30
    private let state = Mutex(State())

    public init() {}

    /// Records the nonce of `key` until `expiry`; false when it is already there (a replay).
    public func insert(key: String, nonce: String, expiry: Int, now: Int) -> Bool {
        var hasher = Hasher()
        hasher.combine(key)
        hasher.combine(nonce)
        let value = hasher.finalize()
        let bucket = expiry / Self.bucketSeconds
        return state.withLock { s in
            let current = now / Self.bucketSeconds
            // Buckets ending before now hold only expired nonces.
            if s.buckets.keys.contains(where: { $0 < current }) { s.buckets = s.buckets.filter { $0.key >= current } }
            // A nonce may sit in any live bucket (the same nonce with another created time).
            for (_, set) in s.buckets where set.contains(value) { return false }
            s.buckets[bucket, default: []].insert(value)
            return true
        }
    }

    /// Number of nonces held.
    public var count: Int { state.withLock { $0.buckets.values.reduce(0) { $0 + $1.count } } }
}

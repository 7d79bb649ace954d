import Foundation
import KontorCore
import KontorStore
import Synchronization

/// The nonces a replay window writes to the store (``ReplayNonceStore``): by the hash of key ID and nonce,
/// with the expired ones deleted about once a minute, by whichever request (or instance) gets there first.
final class StoredNonces: Sendable {
    let store: any ReplayNonceStore
    private let lastPurge = Atomic<Int>(0)

    init(store: any ReplayNonceStore) { self.store = store }

    /// Records the nonce of `key` until `expiry` (seconds since 1970); false when the store holds it already
    /// (a replay, seen by another instance or an earlier process).
    func record(key: String, nonce: String, expiry: Int, now: Int) async throws -> Bool {
        let fresh = try await store.recordNonce(Self.hash(key: key, nonce: nonce), expiresAt: Double(expiry), now: Double(now))
        let last = lastPurge.load(ordering: .relaxed)
        if now - last >= 60, lastPurge.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged {
            try await store.purgeNonces(before: Double(now))
        }
        return fresh
    }

    /// What the store keeps of a nonce: neither the key ID nor the nonce itself.
    static func hash(key: String, nonce: String) -> String { Bytes.sha256Hex(Data("\(key)\n\(nonce)".utf8)) }
}

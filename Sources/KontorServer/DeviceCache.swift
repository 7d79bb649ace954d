import Crypto
import Foundation
import KontorCore
import KontorStore
import Synchronization

/// What the check-in path needs to know about an enrolled device, without its facts or history.
public struct AuthenticatedDevice: Sendable, Equatable {
    public var id: String
    public var keyId: String
    public var status: DeviceStatus
    public var personId: String?
    public var group: String?
    public var successorId: String?
}

/// The devices that check in, kept in memory by key ID so an unchanged check-in never reads the store:
/// the parsed public key, the status, the nonces accepted within the signature window, the policy hash
/// under the current policy catalog, and fingerprints of what the store holds (or will, once pending
/// check-ins are written) so a check-in that changes nothing an admin looks at is recognised as such.
///
/// An entry is filled from the store on first use and dropped whenever the device's status changes
/// (``invalidate(deviceId:)``: revocation, replacement by re-enrollment, a confirmed wipe). One server
/// process per store owns its cache; several instances need a shared replay window (issue 8).
/// All state sits behind one lock taken for a few dictionary operations, never across an `await`.
public final class DeviceCache: Sendable {
    /// The policy hash and check-in interval computed for a device under catalog `generation`.
    public struct CachedPolicy: Sendable, Equatable {
        public var generation: Int
        public var hash: String
        public var interval: Int
    }

    struct Entry {
        var device: AuthenticatedDevice
        var publicKey: Curve25519.Signing.PublicKey
        /// When the status and key were last read from the store (seconds since 1970).
        var loadedAt: Int
        var policy: CachedPolicy?
        /// Nonces accepted from this key, as keyed hashes, until they could no longer pass the
        /// freshness check (expiry in seconds since 1970). Typically a handful per device.
        var nonces: [(expiry: Int, nonce: Int)] = []
        // What the store holds, folded with what this process has recorded since.
        var seen: Bool
        var appliedPolicyHash: String?
        var agentStatus: AgentReport?
        var facts: Int
        var compliance: Int?
    }

    struct State {
        var byKey: [String: Entry] = [:]
        var keyById: [String: String] = [:]
        /// Nonces of dropped entries, by key ID, until the entry is read again.
        var retired: [String: [(expiry: Int, nonce: Int)]] = [:]
        /// Bumped by every invalidation, so an entry read from the store before one is not put back after it.
        var epoch = 0
    }

    private let state = Mutex(State())
    /// How long an entry's status is trusted before it is read again: changes this process did not make
    /// (another instance, an operator's hand) are seen within this time. This process's own changes
    /// invalidate at once.
    let maxAge: Int

    /// Nonces are remembered as SipHash values under this process's random seed: a sender cannot aim
    /// for a collision, and two honest nonces of one device colliding (2^-64) only refuses one request.
    private static func nonceHash(_ nonce: String) -> Int {
        var hasher = Hasher()
        hasher.combine(nonce)
        return hasher.finalize()
    }

    public init(maxAge: Int = 300) { self.maxAge = maxAge }

    /// Number of devices held.
    public var count: Int { state.withLock { $0.byKey.count } }

    /// The device with `keyId` and its public key, from memory when present and read within `maxAge`,
    /// else from `store`. Nil when no device has that key.
    public func device(keyId: String, store: any DeviceStore, now: Int) async throws -> (AuthenticatedDevice, Curve25519.Signing.PublicKey)? {
        let (cached, epoch): ((AuthenticatedDevice, Curve25519.Signing.PublicKey)?, Int) = state.withLock { s in
            guard let entry = s.byKey[keyId], now - entry.loadedAt < maxAge, entry.loadedAt <= now else { return (nil, s.epoch) }
            return ((entry.device, entry.publicKey), s.epoch)
        }
        if let cached { return cached }
        guard let stored = try await store.device(keyId: keyId) else { return nil }
        guard let key = DeviceKeys.publicKey(base64: stored.publicKey) else { throw DeviceCacheError.unusableKey(deviceId: stored.id) }
        let device = AuthenticatedDevice(
            id: stored.id, keyId: stored.keyId, status: stored.status, personId: stored.personId, group: stored.group, successorId: stored.successorId)
        return state.withLock { s in
            // Something about some device changed while the store was read: serve this request with
            // what was read, but do not keep it, so the next request reads again.
            guard s.epoch == epoch else { return (device, key) }
            if var known = s.byKey[keyId] {
                // Refreshed: the status and key from the store; the nonces, the policy hash and what
                // this process recorded (possibly not yet written) stay.
                known.device = device
                known.publicKey = key
                known.loadedAt = now
                s.byKey[keyId] = known
                s.keyById[device.id] = keyId
                return (device, key)
            }
            let entry = Entry(
                device: device, publicKey: key, loadedAt: now, nonces: s.retired.removeValue(forKey: keyId) ?? [], seen: stored.lastSeen != nil,
                appliedPolicyHash: stored.appliedPolicyHash, agentStatus: stored.agentStatus, facts: stored.facts.hashValue,
                compliance: stored.compliance?.hashValue)
            s.byKey[keyId] = entry
            s.keyById[device.id] = keyId
            return (device, key)
        }
    }

    /// Records `nonce` for `keyId` until `expiry` (seconds since 1970); false when it is already there (a
    /// replay), nil when the key is not held (an enrollment request; then the caller asks a ``NonceCache``).
    /// Forgets the key's expired nonces on the way.
    public func admitNonce(keyId: String, nonce: String, expiry: Int, now: Int) -> Bool? {
        let hash = Self.nonceHash(nonce)
        return state.withLock { s in
            guard s.byKey[keyId] != nil else { return nil }
            s.byKey[keyId]!.nonces.removeAll { $0.expiry <= now }
            if s.byKey[keyId]!.nonces.contains(where: { $0.nonce == hash }) { return false }
            s.byKey[keyId]!.nonces.append((expiry, hash))
            return true
        }
    }

    /// Notes a check-in: returns whether it changes something the store holds that an admin looks at
    /// (first check-in ever, applied policy, agent state, facts, compliance), and folds it in.
    public func noteCheckin(keyId: String, _ record: CheckinRecord) -> Bool {
        state.withLock { s in
            guard var entry = s.byKey[keyId] else { return true }
            var changed = !entry.seen
            entry.seen = true
            if let hash = record.appliedPolicyHash, hash != entry.appliedPolicyHash {
                changed = true
                entry.appliedPolicyHash = hash
            }
            if let status = record.status, status != entry.agentStatus {
                changed = true
                entry.agentStatus = status
            }
            if let facts = record.facts?.hashValue, facts != entry.facts {
                changed = true
                entry.facts = facts
            }
            if let compliance = record.compliance?.hashValue, compliance != entry.compliance {
                changed = true
                entry.compliance = compliance
            }
            if changed { s.byKey[keyId] = entry }
            return changed
        }
    }

    /// The device's policy hash if it was computed under catalog `generation`.
    public func policy(keyId: String, generation: Int) -> CachedPolicy? {
        state.withLock { s in
            guard let policy = s.byKey[keyId]?.policy, policy.generation == generation else { return nil }
            return policy
        }
    }

    public func rememberPolicy(keyId: String, _ policy: CachedPolicy) {
        state.withLock { s in
            guard s.byKey[keyId] != nil else { return }
            s.byKey[keyId]!.policy = policy
        }
    }

    /// Drops the device (its status or key changed in the store). Its unexpired nonces are kept aside
    /// and taken over when the device is read again, so a request captured before cannot be replayed.
    public func invalidate(deviceId: String, now: Int) {
        state.withLock { s in
            s.epoch += 1
            guard let keyId = s.keyById.removeValue(forKey: deviceId), let entry = s.byKey.removeValue(forKey: keyId) else { return }
            if s.retired.count > 1_000 { s.retired = s.retired.filter { $0.value.contains { $0.expiry > now } } }
            let live = entry.nonces.filter { $0.expiry > now }
            if !live.isEmpty { s.retired[keyId] = live }
        }
    }
}

enum DeviceCacheError: Error {
    case unusableKey(deviceId: String)
}

/// Nonces of keys the device cache does not hold (enrollment requests, devices just dropped from it),
/// until they could no longer pass the freshness check. Kept in buckets by expiry, so forgetting the
/// expired ones drops whole buckets instead of scanning every nonce.
public final class NonceCache: Sendable {
    private struct State {
        /// Bucket number (expiry / bucketSeconds) → key hash → nonce hashes.
        var buckets: [Int: Set<Int>] = [:]
    }

    private static let bucketSeconds = 30
    private let state = Mutex(State())

    public init() {}

    private static func combined(_ key: String, _ nonceHash: Int) -> Int {
        var hasher = Hasher()
        hasher.combine(key)
        hasher.combine(nonceHash)
        return hasher.finalize()
    }

    /// Records the nonce of `key` until `expiry`; false when it is already there (a replay).
    public func insert(key: String, nonce: String, expiry: Int, now: Int) -> Bool {
        var hasher = Hasher()
        hasher.combine(nonce)
        return insert(key: key, nonceHash: hasher.finalize(), expiry: expiry, now: now)
    }

    private func insert(key: String, nonceHash: Int, expiry: Int, now: Int) -> Bool {
        let value = Self.combined(key, nonceHash)
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

import Crypto
import Foundation
import KontorCore
import KontorStore
import Synchronization

/// The devices that check in, kept in memory by key ID so an unchanged check-in never reads the store:
/// the parsed public key, the status, the policy hash under the current policy catalog, and
/// fingerprints of what the store holds (or will, once pending check-ins are written) so a check-in that
/// changes nothing an admin looks at is recognised as such.
///
/// An entry is filled from the store on first use and dropped whenever the device's status changes
/// (``invalidate(deviceId:)``: revocation, replacement by re-enrollment, a confirmed wipe), and read
/// again after `maxAge`, so changes made outside this process are seen within that time.
/// All state sits behind one lock taken for a few dictionary operations, never across an `await`.
public final class DeviceCache: Sendable {
    /// The policy hash, check-in interval and posture requirements computed for a device under catalog `generation`.
    public struct CachedPolicy: Sendable, Equatable {
        public var generation: Int
        public var hash: String
        public var interval: Int
        public var posture: PosturePolicy? = nil
    }

    /// A class, so the dictionary holds a pointer per slot rather than the whole entry (a dictionary
    /// keeps a quarter to a half of its slots empty).
    final class Entry {
        var device: AuthenticatedDevice
        var publicKey: Curve25519.Signing.PublicKey
        /// When the status and key were last read from the store (seconds since 1970).
        var loadedAt: Int
        var policy: CachedPolicy?
        // What the store holds, folded with what this process has recorded since.
        var seen: Bool
        var appliedPolicyHash: String?
        var agentStatus: AgentReport?
        var facts: Int
        var compliance: Int?

        init(
            device: AuthenticatedDevice, publicKey: Curve25519.Signing.PublicKey, loadedAt: Int, seen: Bool, appliedPolicyHash: String?,
            agentStatus: AgentReport?, facts: Int, compliance: Int?
        ) {
            self.device = device
            self.publicKey = publicKey
            self.loadedAt = loadedAt
            self.seen = seen
            self.appliedPolicyHash = appliedPolicyHash
            self.agentStatus = agentStatus
            self.facts = facts
            self.compliance = compliance
        }
    }

    struct State {
        var byKey: [String: Entry] = [:]
        var keyById: [String: String] = [:]
        /// One instance of each policy hash in use, shared by every entry that holds it.
        var hashes: Set<String> = []
        /// Bumped by every invalidation, so an entry read from the store before one is not put back after it.
        var epoch = 0
    }

    private let state = Mutex(State())
    /// How long an entry's status is trusted before it is read again: changes this process did not make
    /// (another instance, an operator's hand) are seen within this time. This process's own changes
    /// invalidate at once.
    let maxAge: Int
    /// Tells the other instances (``ClusterEvents``) which device to drop.
    private let announce: (@Sendable (String) -> Void)?

    public init(maxAge: Int = 300, announce: (@Sendable (String) -> Void)? = nil) {
        self.maxAge = maxAge
        self.announce = announce
    }

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
        let device = AuthenticatedDevice(stored)
        return state.withLock { s in
            // Something about some device changed while the store was read: serve this request with
            // what was read, but do not keep it, so the next request reads again.
            guard s.epoch == epoch else { return (device, key) }
            if let known = s.byKey[keyId] {
                // Refreshed: the status and key from the store; the policy hash and what this process
                // recorded (possibly not yet written) stay.
                known.device = device
                known.publicKey = key
                known.loadedAt = now
                s.keyById[device.id] = keyId
                return (device, key)
            }
            s.insert(stored, key: key, loadedAt: now)
            return (device, key)
        }
    }

    /// Reads every active device into the cache, page by page (a restarted server then answers its
    /// fleet from memory instead of reading each device on its first check-in). Devices already held
    /// are left as they are. Returns how many were added.
    @discardableResult
    public func preload(from store: any DeviceStore, now: Int, pageSize: Int = 2_000) async throws -> Int {
        var added = 0
        var after: String?
        while true {
            let epoch = state.withLock { $0.epoch }
            let page = try await store.activeDevices(after: after, limit: pageSize)
            // Keys are parsed outside the lock; only the insertion holds it.
            let parsed: [(Device, Curve25519.Signing.PublicKey)] = page.compactMap { stored in
                DeviceKeys.publicKey(base64: stored.publicKey).map { (stored, $0) }
            }
            added += state.withLock { s in
                // A device changed while the page was read: leave this page to be read on demand.
                guard s.epoch == epoch else { return 0 }
                var n = 0
                for (stored, key) in parsed where s.byKey[stored.keyId] == nil {
                    s.insert(stored, key: key, loadedAt: now)
                    n += 1
                }
                return n
            }
            guard page.count == pageSize, let last = page.last else { return added }
            after = last.id
            await Task.yield()
        }
    }

    /// Notes a check-in: returns whether it changes something the store holds that an admin looks at
    /// (first check-in ever, applied policy, agent state, facts, compliance), and folds it in.
    public func noteCheckin(keyId: String, _ record: CheckinRecord) -> Bool {
        state.withLock { s in
            guard let entry = s.byKey[keyId] else { return true }
            var changed = !entry.seen
            entry.seen = true
            if let hash = record.appliedPolicyHash, hash != entry.appliedPolicyHash {
                changed = true
                entry.appliedPolicyHash = s.intern(hash)
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
            guard let entry = s.byKey[keyId] else { return }
            var shared = policy
            shared.hash = s.intern(policy.hash)
            entry.policy = shared
        }
    }

    /// Drops the device (its status or key changed in the store), so its next request reads it again.
    /// Drops the device here and, unless the news came from another instance, there too.
    public func invalidate(deviceId: String, announce: Bool = true) {
        state.withLock { s in
            s.epoch += 1
            guard let keyId = s.keyById.removeValue(forKey: deviceId) else { return }
            s.byKey[keyId] = nil
        }
        if announce { self.announce?(deviceId) }
    }

    /// Drops every device (news may have been missed); each is read again on its next request.
    public func invalidateAll() {
        state.withLock { s in
            s.epoch += 1
            s.byKey.removeAll()
            s.keyById.removeAll()
        }
    }
}

extension DeviceCache.State {
    /// A new entry for a device as the store holds it.
    mutating func insert(_ stored: Device, key: Curve25519.Signing.PublicKey, loadedAt: Int) {
        byKey[stored.keyId] = DeviceCache.Entry(
            device: AuthenticatedDevice(stored), publicKey: key, loadedAt: loadedAt, seen: stored.lastSeen != nil,
            appliedPolicyHash: stored.appliedPolicyHash.map { intern($0) }, agentStatus: stored.agentStatus, facts: stored.facts.hashValue,
            compliance: stored.compliance?.hashValue)
        keyById[stored.id] = stored.keyId
    }

    /// The shared instance of `hash`. Policy hashes are few (one per distinct effective policy) and
    /// held by every device, so each is stored once; the set is emptied when it grows past what a
    /// fleet's live policies explain (old revisions are then simply no longer shared).
    mutating func intern(_ hash: String) -> String {
        if let known = hashes.firstIndex(of: hash) { return hashes[known] }
        if hashes.count >= 4_096 { hashes.removeAll(keepingCapacity: true) }
        hashes.insert(hash)
        return hash
    }
}

enum DeviceCacheError: Error {
    case unusableKey(deviceId: String)
}

import Foundation
import KontorCore

/// The console's view of the whole fleet, counted, searched, sorted and paged by the store, so a page
/// costs the same at 100 devices as at 100,000.
///
/// Compliance needs one thing only the server can compute: the policy each active device should run
/// (its hash and its posture requirements, from the profiles, the assignments and the device's person).
/// The server stores it beside each device (``setExpectedPolicies(_:)``); the store derives each device's
/// compliance from it and from what the device reported, and clears it when what it depends on changes
/// in the store (the device's person, their email or groups), so it is computed again.
public protocol FleetStore: Sendable {
    /// Active devices with what their policy is computed from and the expected policy they have: all of
    /// them, or (`all` false) only those without one (new devices, or their person changed).
    func expectedPolicyInputs(all: Bool) async throws -> [ExpectedPolicyInputs]
    /// Stores each device's expected policy, unless its stored one changed since `previousHash` was read
    /// (a person's groups changed meanwhile: it is computed again).
    func setExpectedPolicies(_ updates: [ExpectedPolicyUpdate]) async throws
    /// Every device counted by state, and the active ones by ownership and by compliance at `now`.
    func fleetCounts(now: Date) async throws -> FleetCounts
    /// Active devices not seen (or, never seen, not enrolled) since before `seenBefore`, longest silent
    /// first: at most `limit` of them, and how many there are.
    func offlineDevices(seenBefore: Date, limit: Int) async throws -> (rows: [FleetRow], total: Int)
    /// The devices that match `query`, in its order: one page of them, and how many match.
    func fleetPage(_ query: FleetQuery, now: Date) async throws -> (rows: [FleetRow], total: Int)
}

/// What a device's expected policy is computed from, and the one it has.
public struct ExpectedPolicyInputs: Sendable, Equatable {
    public var deviceId: String
    public var keyId: String
    public var personId: String?
    public var group: String?
    public var ownership: Ownership
    public var expected: ExpectedPolicy?

    public init(deviceId: String, keyId: String, personId: String?, group: String?, ownership: Ownership, expected: ExpectedPolicy?) {
        self.deviceId = deviceId
        self.keyId = keyId
        self.personId = personId
        self.group = group
        self.ownership = ownership
        self.expected = expected
    }
}

/// The policy a device should run, as far as compliance needs it.
public struct ExpectedPolicy: Sendable, Equatable {
    public var hash: String
    public var requiresDiskEncryption: Bool
    public var maxUpdateAgeDays: Int?

    public init(hash: String, requiresDiskEncryption: Bool = false, maxUpdateAgeDays: Int? = nil) {
        self.hash = hash
        self.requiresDiskEncryption = requiresDiskEncryption
        self.maxUpdateAgeDays = maxUpdateAgeDays
    }

    /// The posture requirements as a profile states them; nil when there are none.
    public var posture: PosturePolicy? {
        requiresDiskEncryption || maxUpdateAgeDays != nil
            ? PosturePolicy(requireDiskEncryption: requiresDiskEncryption ? true : nil, maxUpdateAgeDays: maxUpdateAgeDays) : nil
    }
}

/// A device's new expected policy, and the hash it had when its inputs were read.
public struct ExpectedPolicyUpdate: Sendable, Equatable {
    public var deviceId: String
    public var expected: ExpectedPolicy
    public var previousHash: String?

    public init(deviceId: String, expected: ExpectedPolicy, previousHash: String?) {
        self.deviceId = deviceId
        self.expected = expected
        self.previousHash = previousHash
    }
}

/// Where an active device stands, as the console shows it; the raw values are the console's filter values.
public enum FleetCompliance: String, Sendable, CaseIterable {
    case compliant, outdated, violations, posture, never
}

/// The fleet's numbers for the dashboard.
public struct FleetCounts: Sendable, Equatable {
    /// By state: `active`, `wiped` (a wipe confirmed, whatever the status), `revoked`, `replaced`.
    public var states: [String: Int]
    /// Devices whose status is active, by ownership.
    public var ownership: [Ownership: Int]
    /// Devices whose status is active, by compliance.
    public var compliance: [FleetCompliance: Int]

    public init(states: [String: Int] = [:], ownership: [Ownership: Int] = [:], compliance: [FleetCompliance: Int] = [:]) {
        self.states = states
        self.ownership = ownership
        self.compliance = compliance
    }

    /// Every device.
    public var total: Int { states.values.reduce(0, +) }
    /// Devices whose status is active (a confirmed wipe included).
    public var active: Int { ownership.values.reduce(0, +) }
}

/// A search of the device list.
public struct FleetQuery: Sendable, Equatable {
    public enum Sort: String, Sendable, CaseIterable {
        case hostname, person, lastSeen, enrolled
    }

    /// Matched, ignoring case, as part of the hostname, the device ID, the group, or the email or name of the device's person.
    public var search: String
    /// `active`, `wiped`, `revoked` or `replaced`; nil for every state.
    public var state: String?
    /// Only active devices of this compliance.
    public var compliance: FleetCompliance?
    public var ownership: Ownership?
    /// Ties are broken by enrollment time and ID, ascending also when `descending`.
    public var sort: Sort
    public var descending: Bool
    public var limit: Int
    public var offset: Int

    public init(
        search: String = "", state: String? = nil, compliance: FleetCompliance? = nil, ownership: Ownership? = nil, sort: Sort = .hostname,
        descending: Bool = false, limit: Int = 50, offset: Int = 0
    ) {
        self.search = search
        self.state = state
        self.compliance = compliance
        self.ownership = ownership
        self.sort = sort
        self.descending = descending
        self.limit = limit
        self.offset = offset
    }
}

/// One device of a fleet listing: its summary, the policy it should run and its person.
public struct FleetRow: Sendable, Equatable {
    public var summary: DeviceSummary
    /// Nil for a device that is not active, or whose expected policy is not known yet.
    public var expected: ExpectedPolicy?
    public var personEmail: String?
    public var personName: String?

    public init(summary: DeviceSummary, expected: ExpectedPolicy?, personEmail: String?, personName: String?) {
        self.summary = summary
        self.expected = expected
        self.personEmail = personEmail
        self.personName = personName
    }
}

extension FleetCounts {
    /// Devices of one status, stored compliance and ownership, as both stores count them; `postureDue` of
    /// them fail the update age at the time asked, which moves them (unless never seen) to `posture`.
    public struct Group: Sendable {
        public var status: String
        public var compliance: String
        public var ownership: String
        public var count: Int
        public var postureDue: Int

        public init(status: String, compliance: String, ownership: String, count: Int, postureDue: Int) {
            self.status = status
            self.compliance = compliance
            self.ownership = ownership
            self.count = count
            self.postureDue = postureDue
        }
    }

    /// The counts from the groups and the devices with a confirmed wipe by status.
    public init(groups: [Group], wiped: [(status: String, count: Int)]) {
        self.init()
        for g in groups {
            states[g.status, default: 0] += g.count
            guard g.status == DeviceStatus.active.rawValue, let stored = FleetCompliance(rawValue: g.compliance) else { continue }
            if let ownership = Ownership(rawValue: g.ownership) { self.ownership[ownership, default: 0] += g.count }
            let due = [.never, .posture].contains(stored) ? 0 : g.postureDue
            if g.count > due { compliance[stored, default: 0] += g.count - due }
            if due > 0 { compliance[.posture, default: 0] += due }
        }
        for w in wiped where w.count > 0 {
            states[w.status, default: 0] -= w.count
            states["wiped", default: 0] += w.count
        }
        states = states.filter { $0.value != 0 }
    }
}

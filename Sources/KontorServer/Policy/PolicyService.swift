import Foundation
import KontorCore
import KontorProfiles
import KontorStore
import Synchronization

/// Profiles, assignments and each device's effective policy.
public struct PolicyService: Sendable {
    let store: any PolicyStore & SettingsStore & PersonStore & DeviceStore & TermsStore & OffboardingStore
    let config: ServerConfig
    let clock: WallClock
    /// Where each device's policy hash is cached between check-ins.
    let devices: DeviceCache
    /// Other instances reload their catalog when this one changes it.
    let cluster: ClusterEvents
    let catalog = PolicyCatalog()

    /// The catalog changed here: reload it here and on every other instance.
    func catalogChanged() async {
        await catalog.invalidate()
        await cluster.publish(.catalog)
    }

    /// How a device's policy would change.
    public struct DeviceChange: Codable, Sendable, Equatable {
        public var deviceId: String
        public var hostname: String
        public var fields: [String]
    }

    public struct ApplyResult: Codable, Sendable {
        public var profile: Profile
        /// The stored revision; nil for a dry run.
        public var revision: Int?
        public var dryRun: Bool
        /// How many active devices get another policy.
        public var devicesChanged: Int
        /// Those devices, at most ``changesListed`` of them (a whole fleet would be megabytes).
        public var changes: [DeviceChange]
    }

    /// The most devices an apply lists by name.
    public static let changesListed = 1_000

    /// Every profile, delivered or held back, with what is wrong with the held ones and where each is assigned.
    public struct Listed: Codable, Sendable {
        public var name: String
        public var revision: Int
        public var description: String?
        public var createdAt: Date
        public var createdBy: String?
        public var assignedTo: [String]
        /// True when the latest revision breaks today's rules and is not delivered.
        public var held: Bool
        /// `field: message`, for a held profile.
        public var issues: [String]?
    }

    func listing() async throws -> [Listed] {
        let snapshot = try await snapshot()
        let revisions = snapshot.latest.values.map { ($0, [ProfileIssue]()) } + snapshot.held.values.map { ($0.revision, $0.issues) }
        return revisions.sorted { $0.0.name < $1.0.name }.map { r, issues in
            Listed(
                name: r.name, revision: r.revision, description: r.profile.description, createdAt: r.createdAt, createdBy: r.createdBy,
                assignedTo: snapshot.assignments.filter { $0.profile == r.name }.map { $0.scope == "default" ? "default" : "\($0.scope) \($0.target)" },
                held: !issues.isEmpty, issues: issues.isEmpty ? nil : issues.map(\.description))
        }
    }

    /// A profile's revision `revision`, or its latest; not found names what was asked for.
    func revision(name: String, _ revision: Int? = nil) async throws -> ProfileRevision {
        let revisions = try await store.profileRevisions(name: name)
        guard let found = revision.map({ w in revisions.first { $0.revision == w } }) ?? revisions.last else {
            throw KontorError.notFound("no profile \(name)\(revision.map { " revision \($0)" } ?? "")")
        }
        return found
    }

    /// Every revision of a profile, oldest first; not found when there is none.
    func revisions(name: String) async throws -> [ProfileRevision] {
        let revisions = try await store.profileRevisions(name: name)
        guard !revisions.isEmpty else { throw KontorError.notFound("no profile \(name)") }
        return revisions
    }

    /// Every assignment, as stored.
    func assignments() async throws -> [ProfileAssignment] { try await store.assignments() }

    /// The current profiles, assignments and default interval (cached until one of them changes).
    func snapshot() async throws -> PolicyCatalog.Snapshot { try await catalog.snapshot(store, defaultInterval: config.checkinInterval) }

    /// The device's effective policy from the current profiles and assignments.
    public func effectivePolicy(for device: Device) async throws -> EffectivePolicy {
        let snapshot = try await snapshot()
        return try await effectivePolicy(for: device, snapshot: snapshot, defaultInterval: snapshot.checkinInterval)
    }

    func effectivePolicy(for device: Device, snapshot: PolicyCatalog.Snapshot, defaultInterval: Int) async throws -> EffectivePolicy {
        try await effectivePolicy(
            deviceId: device.id, personId: device.personId, group: device.group, ownership: device.ownership, snapshot: snapshot,
            defaultInterval: defaultInterval)
    }

    func effectivePolicy(
        deviceId: String, personId: String?, group: String?, ownership: Ownership, snapshot: PolicyCatalog.Snapshot, defaultInterval: Int
    ) async throws -> EffectivePolicy {
        var person: Person?
        if let personId { person = try await store.person(id: personId) }
        return Self.effectivePolicy(
            deviceId: deviceId, person: person, group: group, ownership: ownership, snapshot: snapshot, defaultInterval: defaultInterval)
    }

    /// The merge itself, with the person already read: default < ownership < group < device; on a personal
    /// device without what reaches beyond the work container (``PersonalDevice``).
    static func effectivePolicy(
        deviceId: String, person: Person?, group: String?, ownership: Ownership, snapshot: PolicyCatalog.Snapshot, defaultInterval: Int
    ) -> EffectivePolicy {
        var layers: [AssignedProfile] = []
        func add(_ scope: String, _ target: String?, _ name: String?) {
            guard let name, let revision = snapshot.latest[name] else { return }
            layers.append(
                AssignedProfile(source: PolicySource(scope: scope, target: target, profile: name, revision: revision.revision), profile: revision.profile))
        }
        add("default", nil, snapshot.defaultProfile)
        add("ownership", ownership.rawValue, snapshot.ownerships[ownership.rawValue])
        if let group { add("group", group, snapshot.groups[group]) }
        add("device", deviceId, snapshot.devices[deviceId])
        let subject = person.map { PolicySubject(email: $0.email, groups: $0.groups + (group.map { [$0] } ?? [])) }
        var policy = PolicyMerge.effectivePolicy(
            layers: layers, subject: subject, fallbackAccountSuffix: "device-" + String(deviceId.prefix(8)), defaultCheckinInterval: defaultInterval)
        let terms = policy.usageTermsVersion.flatMap { snapshot.terms[$0] }
        if let terms {
            policy.terms = terms.requirement(
                personId: person?.id, decision: snapshot.answer(personId: person?.id, deviceId: deviceId, version: terms.version))
        }
        if let person { policy.offboardingWipeAt = snapshot.offboardings[person.id] }
        if ownership == .personal {
            policy = PersonalDevice.restrict(policy, offlineWipe: PersonalDevice.offlineWipeRefusal(terms: terms, decision: policy.terms?.decision))
        }
        return policy
    }

    /// The hash and check-in interval of the device's effective policy, from the cache when the catalog
    /// has not changed since it was computed; otherwise computed (and the policy returned too).
    func policyHash(for device: AuthenticatedDevice) async throws -> (hash: String, interval: Int, policy: EffectivePolicy?) {
        if let cached = devices.policy(keyId: device.keyId, generation: catalog.currentGeneration.current) { return (cached.hash, cached.interval, nil) }
        let snapshot = try await snapshot()
        var person: Person?
        if let personId = device.personId { person = try await store.person(id: personId) }
        let (policy, hash) = computeAndRemember(
            keyId: device.keyId, deviceId: device.id, person: person, group: device.group, ownership: device.ownership, snapshot: snapshot)
        return (hash, policy.checkinInterval, policy)
    }

    /// Merges a device's policy under `snapshot` and keeps its hash in the device cache for that catalog.
    private func computeAndRemember(
        keyId: String, deviceId: String, person: Person?, group: String?, ownership: Ownership, snapshot: PolicyCatalog.Snapshot
    ) -> (EffectivePolicy, String) {
        let policy = Self.effectivePolicy(
            deviceId: deviceId, person: person, group: group, ownership: ownership, snapshot: snapshot, defaultInterval: snapshot.checkinInterval)
        let hash = policy.canonicalHash
        devices.rememberPolicy(keyId: keyId, .init(generation: snapshot.generation, hash: hash, interval: policy.checkinInterval, posture: policy.posture))
        return (policy, hash)
    }

    /// The effective policy of an authenticated device (a check-in whose device runs another policy).
    func effectivePolicy(for device: AuthenticatedDevice) async throws -> EffectivePolicy {
        let snapshot = try await snapshot()
        return try await effectivePolicy(
            deviceId: device.id, personId: device.personId, group: device.group, ownership: device.ownership, snapshot: snapshot,
            defaultInterval: snapshot.checkinInterval)
    }

    func checkinInterval() async throws -> Int { try await snapshot().checkinInterval }

    /// Changes the default check-in interval.
    func setCheckinInterval(_ seconds: Int) async throws {
        try await store.setSetting(Settings.checkinIntervalKey, value: String(seconds))
        await catalogChanged()
    }

    /// Validates a profile, works out which active devices would change, and (unless a dry run) stores it
    /// as a new revision.
    public func apply(source: String, dryRun: Bool, by: String?) async throws -> ApplyResult {
        let profile: Profile
        do {
            profile = try ProfileYAML.load(source, file: "profile")
        } catch let error as ProfileLoadError {
            throw KontorError.invalid(error.description)
        }
        let current = try await snapshot()
        try await checkPersonalAssignments(profile, snapshot: current)
        var proposed = current
        let revision = (current.latest[profile.name]?.revision ?? 0) + 1
        proposed.latest[profile.name] = ProfileRevision(
            name: profile.name, revision: revision, source: source, profile: profile, createdAt: clock.now(), createdBy: by)
        var revisionStored: Int?
        if !dryRun {
            // Stored first: devices get the new policy from their next check-in on, while the list of
            // what changed (seconds for a large fleet) is still being worked out.
            revisionStored = try await store.addProfileRevision(source: source, profile: profile, at: clock.now(), by: by).revision
            await catalogChanged()
        }
        let changes = try await changes(from: current, to: proposed)
        return ApplyResult(
            profile: profile, revision: revisionStored, dryRun: dryRun, devicesChanged: changes.count, changes: Array(changes.prefix(Self.changesListed)))
    }

    /// Stores a new revision with the content of revision `to`.
    public func rollback(name: String, to revision: Int, by: String?) async throws -> ApplyResult {
        guard let old = try await store.profileRevisions(name: name).first(where: { $0.revision == revision }) else {
            throw KontorError.notFound("profile \(name) has no revision \(revision)")
        }
        return try await apply(source: old.source, dryRun: false, by: by)
    }

    public func assign(profile: String, scope: String, target: String?, by: String?) async throws -> ProfileAssignment {
        let snapshot = try await snapshot()
        if let held = snapshot.held[profile] {
            throw KontorError.invalid(
                "profile: \(profile) revision \(held.revision.revision) is held back (\(held.issues.map(\.description).joined(separator: "; "))); apply a fixed revision first (kontorctl profiles lint)"
            )
        }
        guard snapshot.latest[profile] != nil else { throw KontorError.invalid("profile: no profile named \(profile); apply it first") }
        let resolvedTarget = try await validateTarget(scope: scope, target: target)
        if let revision = snapshot.latest[profile] {
            try await checkPersonalBoundary(revision.profile, scope: scope, target: resolvedTarget, snapshot: snapshot)
        }
        let assignment = ProfileAssignment(scope: scope, target: resolvedTarget, profile: profile, assignedAt: clock.now(), assignedBy: by)
        try await store.assign(assignment)
        await catalogChanged()
        return assignment
    }

    public func unassign(scope: String, target: String?) async throws {
        let resolvedTarget = try await validateTarget(scope: scope, target: target)
        guard try await store.unassign(scope: scope, target: resolvedTarget) else {
            throw KontorError.notFound("nothing is assigned to \(scope)\(resolvedTarget.isEmpty ? "" : " \(resolvedTarget)")")
        }
        await catalogChanged()
    }

    private func validateTarget(scope: String, target: String?) async throws -> String {
        switch scope {
        case "default":
            guard target == nil || target == "" else { throw KontorError.invalid("target: the default assignment takes no target") }
            return ""
        case "group":
            guard let target, Validation.isName(target) else {
                throw KontorError.invalid("target: a group name is required (letters, digits, '.', '_' or '-')")
            }
            return target
        case "ownership":
            guard let target, let ownership = Ownership(rawValue: target) else {
                throw KontorError.invalid("target: expected company or personal for the ownership assignment, found \"\(target ?? "")\"")
            }
            return ownership.rawValue
        case "device":
            guard let target, try await store.device(id: target) != nil else { throw KontorError.invalid("target: no device \(target ?? "")") }
            return target
        default:
            throw KontorError.invalid("scope: expected default, ownership, group or device, found \"\(scope)\"")
        }
    }

    /// Active devices whose effective policy differs between two catalogs, with the fields that differ.
    func changes(from old: PolicyCatalog.Snapshot, to new: PolicyCatalog.Snapshot) async throws -> [DeviceChange] {
        let interval = old.checkinInterval
        // One read of the directory instead of one per device: a large fleet is compared in one pass.
        let persons = Dictionary(uniqueKeysWithValues: try await store.persons().map { ($0.id, $0) })
        func layers(_ snapshot: PolicyCatalog.Snapshot, _ device: Device) -> [ProfileRevision?] {
            [
                snapshot.defaultProfile, snapshot.ownerships[device.ownership.rawValue], device.group.flatMap { snapshot.groups[$0] },
                snapshot.devices[device.id],
            ]
            .map { $0.flatMap { snapshot.latest[$0] } }
        }
        // Devices with the same person, group and device assignments get the same policies, so their
        // fields are compared once — unless a container is involved and they have no person: the account
        // is then named after each device.
        var known: [String: [String]] = [:]
        var out: [DeviceChange] = []
        // Page by page, giving way to check-ins between pages: a large fleet neither fills memory nor
        // holds a thread for seconds.
        let pageSize = 2_000
        var after: String?
        while true {
            let page = try await store.activeDevices(after: after, limit: pageSize)
            for device in page {
                let was = layers(old, device)
                let will = layers(new, device)
                // The same profile revisions in the same places give the same policy.
                if was.map({ $0.map { "\($0.name)#\($0.revision)" } }) == will.map({ $0.map { "\($0.name)#\($0.revision)" } }) { continue }
                let perDevice = device.personId == nil && (was + will).contains { $0?.profile.container != nil }
                let key =
                    perDevice
                    ? "device \(device.id)"
                    : "\(device.personId ?? "-") \(device.group ?? "-") \(device.ownership) \(old.devices[device.id] ?? "-") \(new.devices[device.id] ?? "-")"
                let fields: [String]
                if let seen = known[key] {
                    fields = seen
                } else {
                    let person = device.personId.flatMap { persons[$0] }
                    func merged(_ snapshot: PolicyCatalog.Snapshot) -> EffectivePolicy {
                        Self.effectivePolicy(
                            deviceId: device.id, person: person, group: device.group, ownership: device.ownership, snapshot: snapshot, defaultInterval: interval
                        )
                    }
                    fields = Self.differingFields(merged(old), merged(new))
                    if !perDevice { known[key] = fields }
                }
                if !fields.isEmpty { out.append(DeviceChange(deviceId: device.id, hostname: device.facts.hostname, fields: fields)) }
            }
            guard page.count == pageSize, let last = page.last else { break }
            after = last.id
            await Task.yield()
        }
        return out
    }

    /// Field paths (`quietHours.weekly`) whose values differ; provenance fields are ignored.
    static func differingFields(_ a: EffectivePolicy, _ b: EffectivePolicy) -> [String] {
        func flatten(_ p: EffectivePolicy) -> [String: String] {
            guard let data = try? KontorJSON.encode(p), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            var out: [String: String] = [:]
            for (key, value) in object where !["sources", "origins", "notApplied"].contains(key) {
                if let nested = value as? [String: Any] {
                    for (k, v) in nested { out["\(key).\(k)"] = render(v) }
                } else {
                    out[key] = render(value)
                }
            }
            return out
        }
        func render(_ v: Any) -> String {
            (try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) } ?? "\(v)"
        }
        let x = flatten(a)
        let y = flatten(b)
        return Set(x.keys).union(y.keys).filter { x[$0] != y[$0] }.sorted()
    }
}

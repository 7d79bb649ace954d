import Crypto
import Foundation
import KontorCore
import KontorStore
import Logging

/// The staff directory and the devices in it.
public struct DirectoryService: Sendable {
    let store: any PersonStore & DeviceStore & CheckinStore & CommandStore & OffboardingStore
    let clock: WallClock
    let recorder: CheckinRecorder
    let policies: PolicyService

    public struct NewPerson: Codable, Sendable {
        public var email: String
        public var displayName: String
        public var groups: [String]?
        /// A work phone number, for who is on call.
        public var phone: String?
    }

    public func createPerson(_ input: NewPerson) async throws -> Person {
        let email = input.email.trimmingCharacters(in: .whitespaces)
        guard Validation.isEmail(email) else { throw KontorError.invalid("email: \"\(input.email)\" is not an email address") }
        let person = Person(
            id: IdentifierGenerator.uuidV7(now: clock.now()), email: email, displayName: try Self.displayName(input.displayName),
            groups: try Self.groups(input.groups ?? []), createdAt: clock.now(), phone: try Self.phone(input.phone))
        do {
            try await store.insertPerson(person)
        } catch StoreError.conflict(let what) {
            throw KontorError.conflict(what)
        }
        return person
    }

    /// What `PATCH /api/v1/persons/{person}` changes; every part is optional.
    public struct PersonChange: Codable, Sendable {
        public var displayName: String?
        /// The person's groups, replacing the ones they have.
        public var groups: [String]?
        public var addGroups: [String]?
        public var removeGroups: [String]?
        /// A work phone number; an empty one removes it.
        public var phone: String?
        public var participation: Participation?

        public init(
            displayName: String? = nil, groups: [String]? = nil, addGroups: [String]? = nil, removeGroups: [String]? = nil, phone: String? = nil,
            participation: Participation? = nil
        ) {
            self.displayName = displayName
            self.groups = groups
            self.addGroups = addGroups
            self.removeGroups = removeGroups
            self.phone = phone
            self.participation = participation
        }
    }

    /// `person` with `change` applied to its name, groups and phone, each checked; the store is not touched.
    static func applying(_ change: PersonChange, to person: Person) throws -> Person {
        var updated = person
        if let name = change.displayName { updated.displayName = try displayName(name) }
        if let groups = change.groups { updated.groups = try Self.groups(groups) }
        for group in try Self.groups(change.addGroups ?? [], field: "addGroups") where !updated.groups.contains(group) { updated.groups.append(group) }
        let removed = Set(try Self.groups(change.removeGroups ?? [], field: "removeGroups"))
        updated.groups.removeAll { removed.contains($0) }
        if let phone = change.phone { updated.phone = try Self.phone(phone) }
        return updated
    }

    /// Stores a changed name, groups or phone; the person as before and after.
    func updatePerson(_ reference: String, _ change: PersonChange) async throws -> (before: Person, after: Person) {
        let before = try await person(reference)
        let after = try Self.applying(change, to: before)
        guard after != before else { return (before, after) }
        guard try await store.updatePerson(after) else { throw KontorError.notFound("no person \(reference)") }
        return (before, after)
    }

    static func displayName(_ text: String) throws -> String {
        let name = text.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(name.count) else { throw KontorError.invalid("displayName: must be 1 to 200 characters") }
        guard VisibleText.firstHidden(in: name) == nil else { throw KontorError.invalid("displayName: contains a control or invisible character") }
        return name
    }

    static func groups(_ groups: [String], field: String = "groups") throws -> [String] {
        for (i, group) in groups.enumerated() where !Validation.isName(group) {
            throw KontorError.invalid("\(field)[\(i)]: \"\(VisibleText.escaped(group))\" must be 1 to 64 letters, digits, '.', '_' or '-'")
        }
        var seen = Set<String>()
        return groups.filter { seen.insert($0).inserted }
    }

    static func phone(_ text: String?) throws -> String? {
        let phone = text?.trimmingCharacters(in: .whitespaces).nonEmpty
        if let phone, !Validation.isPhone(phone) {
            throw KontorError.invalid("phone: \"\(VisibleText.escaped(phone))\" is not a phone number (digits, spaces, + - / ( ), 3 to 32 characters)")
        }
        return phone
    }

    /// A person by ID or email.
    public func person(_ reference: String) async throws -> Person {
        let found = reference.contains("@") ? try await store.person(email: reference) : try await store.person(id: reference)
        guard let found else { throw KontorError.notFound("no person \(reference)") }
        return found
    }

    public func persons() async throws -> [Person] { try await store.persons() }

    public func device(_ id: String) async throws -> Device {
        try await deviceWithPolicy(id).device
    }

    /// The device as stored (without the check-ins not yet written), nil when there is none.
    func storedDevice(id: String) async throws -> Device? { try await store.device(id: id) }

    /// The device's most recent events, newest first.
    func events(deviceId: String, limit: Int = 200) async throws -> [DeviceEvent] { try await store.events(deviceId: deviceId, limit: limit) }

    /// A person by ID, nil when there is none.
    func person(id: String) async throws -> Person? { try await store.person(id: id) }

    /// Every device in brief (no reports), for listings and counts.
    func deviceSummaries() async throws -> [DeviceSummary] { try await store.deviceSummaries() }

    /// Offboardings that have not finished.
    func openOffboardings() async throws -> [Offboarding] { try await store.openOffboardings() }

    /// The device, and the effective policy it should enforce when it is active (computed once, for pages
    /// that show the policy itself).
    func deviceWithPolicy(_ id: String) async throws -> (device: Device, policy: EffectivePolicy?) {
        guard let stored = try await store.device(id: id) else { throw KontorError.notFound("no device \(id)") }
        let device = await recorder.overlay(stored)
        guard device.status == .active else { return (device, nil) }
        let policy = try await policies.effectivePolicy(for: device)
        return (Self.with(policy, device, now: clock.now()), policy)
    }

    /// Devices, optionally only one person's and only those of one ownership.
    public func devices(person: String?, ownership: Ownership? = nil) async throws -> [Device] {
        var personId: String?
        if let person { personId = try await self.person(person).id }
        var out: [Device] = []
        for device in try await store.devices(personId: personId) where ownership == nil || device.ownership == ownership {
            out.append(try await withPolicy(await recorder.overlay(device)))
        }
        return out
    }

    /// A person with their devices, their offboarding and each device's wipe progress.
    func personDetail(_ personId: String) async throws -> PersonDetail {
        let person = try await self.person(personId)
        let devices = try await self.devices(person: person.id)
        var progress: [PersonDetail.Progress] = []
        for device in devices {
            let wipe = try await store.commands(deviceId: device.id).first { $0.type == .wipe }
            progress.append(
                .init(
                    deviceId: device.id, hostname: device.facts.hostname, status: device.status, wipe: wipe?.state, wipeCommandId: wipe?.id,
                    wipeConfirmedAt: device.wipeConfirmedAt))
        }
        var detail = PersonDetail(person: person, devices: devices, offboarding: try await store.offboarding(personId: person.id), progress: progress)
        if person.previousId != nil || person.status == .offboarded {
            let all = Dictionary(uniqueKeysWithValues: try await store.persons().map { ($0.id, $0) })
            var chain: [String] = []
            var next = person.previousId
            while let id = next, chain.count < 1000, let earlier = all[id] {
                chain.append(id)
                next = earlier.previousId
            }
            detail.previousIds = chain.isEmpty ? nil : chain
            detail.returnedAs = all.values.first { $0.previousId == person.id }?.id
        }
        return detail
    }

    /// Someone who left comes back: a new person (a new ID) linked to the one who left, with their name,
    /// groups and phone unless `change` gives others. The old ID keeps its history and is never reused.
    func rehire(_ reference: String, _ change: PersonChange) async throws -> (previous: Person, person: Person) {
        let previous = try await person(reference)
        var person = Person(
            id: IdentifierGenerator.uuidV7(now: clock.now()), email: previous.email, displayName: previous.displayName, groups: previous.groups,
            createdAt: clock.now(), phone: previous.phone, previousId: previous.id)
        person = try Self.applying(change, to: person)
        do {
            try await store.rehirePerson(person)
        } catch StoreError.conflict(let why) {
            throw KontorError.conflict("\(previous.email): \(why)")
        }
        return (previous, person)
    }

    /// The device with the hash and sources of the policy it should enforce.
    private func withPolicy(_ device: Device) async throws -> Device {
        guard device.status == .active else { return device }
        return Self.with(try await policies.effectivePolicy(for: device), device, now: clock.now())
    }

    /// The device with what the API adds: its policy's hash and sources, and the posture requirements it fails.
    private static func with(_ policy: EffectivePolicy, _ device: Device, now: Date) -> Device {
        var out = device
        out.effectivePolicyHash = policy.canonicalHash
        out.policySources = policy.sources
        out.postureFailures = PostureCompliance.failures(policy.posture, device.facts.posture?.summary, now: now)
        out.notApplied = policy.notApplied
        return out
    }
}

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
        let name = input.displayName.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(name.count) else { throw KontorError.invalid("displayName: must be 1 to 200 characters") }
        let groups = input.groups ?? []
        for (i, group) in groups.enumerated() where !Validation.isName(group) {
            throw KontorError.invalid("groups[\(i)]: \"\(group)\" must be 1 to 64 letters, digits, '.', '_' or '-'")
        }
        let phone = input.phone?.trimmingCharacters(in: .whitespaces).nonEmpty
        if let phone, !Validation.isPhone(phone) {
            throw KontorError.invalid("phone: \"\(VisibleText.escaped(phone))\" is not a phone number (digits, spaces, + - / ( ), 3 to 32 characters)")
        }
        let person = Person(
            id: IdentifierGenerator.uuidV7(now: clock.now()), email: email, displayName: name, groups: groups, createdAt: clock.now(),
            phone: phone)
        do {
            try await store.insertPerson(person)
        } catch StoreError.conflict(let what) {
            throw KontorError.conflict(what)
        }
        return person
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

    public func devices(person: String?) async throws -> [Device] {
        var personId: String?
        if let person { personId = try await self.person(person).id }
        var out: [Device] = []
        for device in try await store.devices(personId: personId) { out.append(try await withPolicy(await recorder.overlay(device))) }
        return out
    }

    /// Every device as a listing shows it, with the hash of the policy each active one should enforce.
    /// Reads the fleet in one query without decoding reports, the persons once, and takes each hash from
    /// the device cache when a check-in computed it for the current profiles (else computes and keeps it).
    func fleet() async throws -> (devices: [FleetDevice], persons: [String: Person]) {
        let summaries = await recorder.overlay(try await store.deviceSummaries())
        let persons = Dictionary(uniqueKeysWithValues: try await store.persons().map { ($0.id, $0) })
        let expected = try await policies.policyHashes(for: summaries.filter { $0.status == .active }, persons: persons)
        let now = clock.now()
        return (
            summaries.map { d in
                FleetDevice(
                    summary: d, effectivePolicyHash: expected[d.id]?.hash,
                    postureFailures: PostureCompliance.failures(expected[d.id]?.posture, d.posture, now: now))
            }, persons
        )
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
        return PersonDetail(person: person, devices: devices, offboarding: try await store.offboarding(personId: person.id), progress: progress)
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
        return out
    }
}

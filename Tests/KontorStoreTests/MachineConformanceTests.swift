import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

private func person(_ store: any KontorStore, _ name: String) async throws -> String {
    let id = IdentifierGenerator.uuidV7(now: t0)
    try await store.insertPerson(Person(id: id, email: "\(name)@example.org", displayName: name, groups: ["staff"], createdAt: t0))
    return id
}

private func token(_ store: any KontorStore, person: String? = nil, group: String? = nil, uses: Int = 5) async throws -> String {
    let secret = IssuedSecret.generate(.enrollmentToken)
    try await store.insertEnrollmentToken(
        StoredEnrollmentToken(
            token: EnrollmentToken(id: secret.id, personId: person, group: group, maxUses: uses, expiresAt: t0 + 86_400, createdAt: t0),
            secretHash: secret.secretHash))
    return secret.id
}

private func device(_ machine: String) -> NewDevice {
    let id = IdentifierGenerator.uuidV7(now: t0)
    let facts = DeviceFacts(hostname: "laptop", osRelease: "Debian", kernel: "6.1", machineIdHash: machine, agentVersion: "0.1.0")
    return NewDevice(id: id, keyId: "k-\(id)", publicKey: "p-\(id)", facts: facts, acceptedTermsVersion: nil)
}

@Suite("Store conformance: one machine, one owner")
struct MachineConformanceTests {
    @Test("a token for another person, or for a group, cannot replace a person's device; nothing is written", arguments: Backend.all)
    func otherPerson(backend: Backend) async throws {
        let store = try await backend.make()
        let ada = try await person(store, "ada")
        let eve = try await person(store, "eve")
        let adas = try await store.enroll(device("m"), tokenId: try await token(store, person: ada), now: t0)
        for other in [try await token(store, person: eve), try await token(store, group: "staff"), try await token(store)] {
            await #expect(throws: StoreError.machineEnrolled(deviceId: adas.id, .otherOwner)) {
                try await store.enroll(device("m"), tokenId: other, now: t0 + 60)
            }
            #expect(try await store.enrollmentToken(id: other)?.token.uses == 0)
        }
        #expect(try await store.device(id: adas.id)?.status == .active)
        #expect(try await store.deviceCount() == 1)
        // The same person's token replaces it; a revoked device is no obstacle to anyone.
        let again = try await store.enroll(device("m"), tokenId: try await token(store, person: ada), now: t0 + 120)
        #expect(again.predecessorId == adas.id)
        #expect(try await store.revokeDevice(id: again.id, at: t0 + 180))
        let eves = try await store.enroll(device("m"), tokenId: try await token(store, person: eve), now: t0 + 240)
        #expect(eves.predecessorId == nil)
    }

    @Test("devices without a person are replaced only by a token without a person for the same group", arguments: Backend.all)
    func groups(backend: Backend) async throws {
        let store = try await backend.make()
        let first = try await store.enroll(device("lab-1"), tokenId: try await token(store, group: "workshop"), now: t0)
        await #expect(throws: StoreError.machineEnrolled(deviceId: first.id, .otherOwner)) {
            try await store.enroll(device("lab-1"), tokenId: try await token(store, group: "office"), now: t0 + 60)
        }
        let ada = try await person(store, "ada")
        await #expect(throws: StoreError.machineEnrolled(deviceId: first.id, .otherOwner)) {
            try await store.enroll(device("lab-1"), tokenId: try await token(store, person: ada, group: "workshop"), now: t0 + 60)
        }
        let second = try await store.enroll(device("lab-1"), tokenId: try await token(store, group: "workshop"), now: t0 + 120)
        #expect(second.predecessorId == first.id)
    }

    @Test("a device with a wipe queued, delivered or acknowledged is not replaced, even for its own person", arguments: Backend.all)
    func openWipe(backend: Backend) async throws {
        let store = try await backend.make()
        let ada = try await person(store, "ada")
        let adaToken = try await token(store, person: ada)
        let enrolled = try await store.enroll(device("m"), tokenId: adaToken, now: t0)
        let wipe = CommandRecord(id: IdentifierGenerator.uuidV7(now: t0), deviceId: enrolled.id, type: .wipe, issuedAt: t0, issuedBy: "test")
        try await store.insertCommand(wipe)
        for state in [CommandState.queued, .delivered, .acknowledged] {
            if state != .queued { _ = try await store.transitionCommand(id: wipe.id, deviceId: enrolled.id, to: state, at: t0 + 10, error: nil) }
            await #expect(throws: StoreError.machineEnrolled(deviceId: enrolled.id, .openWipe)) {
                try await store.enroll(device("m"), tokenId: adaToken, now: t0 + 60)
            }
        }
        #expect(try await store.device(id: enrolled.id)?.status == .active)
        #expect(try await store.enrollmentToken(id: adaToken)?.token.uses == 1)
        // A wipe that failed is no longer open: the machine can enroll again.
        _ = try await store.transitionCommand(id: wipe.id, deviceId: enrolled.id, to: .failed, at: t0 + 90, error: "disk full")
        #expect(try await store.enroll(device("m"), tokenId: adaToken, now: t0 + 120).predecessorId == enrolled.id)
    }

    @Test("a device whose person is being offboarded is not replaced", arguments: Backend.all)
    func offboarding(backend: Backend) async throws {
        let store = try await backend.make()
        let ada = try await person(store, "ada")
        let enrolled = try await store.enroll(device("m"), tokenId: try await token(store, person: ada), now: t0)
        try await store.startOffboarding(
            Offboarding(personId: ada, requestedAt: t0, requestedBy: "it", wipeAt: t0 + 86_400, restrictedProfile: nil, reason: nil), now: t0)
        // Offboarding revokes the person's tokens; one made afterwards (a race, a hand edit) still cannot take the machine.
        let late = try await token(store, person: ada)
        await #expect(throws: StoreError.machineEnrolled(deviceId: enrolled.id, .offboarding)) {
            try await store.enroll(device("m"), tokenId: late, now: t0 + 60)
        }
        #expect(try await store.device(id: enrolled.id)?.status == .active)
    }

    @Test("the audit log is read page by page after a sequence number", arguments: Backend.all)
    func auditPages(backend: Backend) async throws {
        let store = try await backend.make()
        var appended: [AuditEntry] = []
        for i in 0..<7 {
            appended.append(try await store.appendAudit(at: t0 + Double(i), actor: "system", action: "test.\(i)", target: nil, detail: ["n": String(i)]))
        }
        #expect(try await store.auditEntries(afterSeq: 0, limit: 3) == Array(appended[0..<3]))
        #expect(try await store.auditEntries(afterSeq: 3, limit: 3) == Array(appended[3..<6]))
        #expect(try await store.auditEntries(afterSeq: 6, limit: 3) == [appended[6]])
        #expect(try await store.auditEntries(afterSeq: 7, limit: 3).isEmpty)
        #expect(try await store.auditEntries(afterSeq: 0, limit: 0).isEmpty)
    }
}

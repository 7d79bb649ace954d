import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

/// Enrolls a device with a token for `personId` (or, without one, for a group) that accepted `terms`.
private func enroll(_ store: any KontorStore, personId: String?, machine: String, terms: String?, at: Date) async throws -> Device {
    let secret = IssuedSecret.generate(.enrollmentToken)
    try await store.insertEnrollmentToken(
        StoredEnrollmentToken(
            token: EnrollmentToken(
                id: secret.id, personId: personId, group: personId == nil ? "kiosk" : nil, maxUses: 1, expiresAt: at + 86_400, createdAt: at),
            secretHash: secret.secretHash))
    let id = IdentifierGenerator.uuidV7(now: at)
    let facts = DeviceFacts(hostname: machine, osRelease: "Debian", kernel: "6.1", machineIdHash: machine, agentVersion: "0.1.0")
    return try await store.enroll(
        NewDevice(id: id, keyId: "k-\(id)", publicKey: "p-\(id)", facts: facts, acceptedTermsVersion: terms), tokenId: secret.id, now: at)
}

@Suite("Store conformance: consent records")
struct ConsentRecordConformanceTests {
    @Test("a person's consent records are the ones their enrollments wrote, oldest first, and no one else's", arguments: Backend.all)
    func personsConsentRecords(backend: Backend) async throws {
        let store = try await backend.make()
        let ada = IdentifierGenerator.uuidV7(now: t0)
        let bob = IdentifierGenerator.uuidV7(now: t0 + 1)
        try await store.insertPerson(Person(id: ada, email: "ada@example.org", displayName: "Ada", groups: [], createdAt: t0))
        try await store.insertPerson(Person(id: bob, email: "bob@example.org", displayName: "Bob", groups: [], createdAt: t0))
        let first = try await enroll(store, personId: ada, machine: "m1", terms: "2026-1", at: t0 + 10)
        _ = try await enroll(store, personId: bob, machine: "m2", terms: "2026-1", at: t0 + 20)
        _ = try await enroll(store, personId: nil, machine: "m3", terms: "2026-1", at: t0 + 30)
        _ = try await enroll(store, personId: ada, machine: "m4", terms: nil, at: t0 + 40)
        let second = try await enroll(store, personId: ada, machine: "m5", terms: "2026-2", at: t0 + 50)

        let records = try await store.consentRecords(personId: ada)
        #expect(records.map(\.deviceId) == [first.id, second.id])
        #expect(records.map(\.termsVersion) == ["2026-1", "2026-2"])
        #expect(records.map(\.acceptedAt) == [t0 + 10, t0 + 50])
        #expect(records.allSatisfy { $0.personId == ada })
        #expect(records[0].id < records[1].id)
        #expect(try await store.consentRecords(personId: bob).count == 1)
        #expect(try await store.consentRecords(personId: IdentifierGenerator.uuidV7(now: t0)).isEmpty)
    }
}

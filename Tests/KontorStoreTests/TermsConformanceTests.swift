import Crypto
import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

/// A person with an enrolled device, for answers to refer to.
private func enrolled(_ store: any KontorStore, _ name: String) async throws -> (person: String, device: Device) {
    let personId = IdentifierGenerator.uuidV7(now: t0)
    try await store.insertPerson(Person(id: personId, email: "\(name)@example.org", displayName: name, groups: [], createdAt: t0))
    let secret = IssuedSecret.generate(.enrollmentToken)
    try await store.insertEnrollmentToken(
        StoredEnrollmentToken(
            token: EnrollmentToken(id: secret.id, personId: personId, group: nil, maxUses: 1, expiresAt: t0 + 86_400, createdAt: t0),
            secretHash: secret.secretHash))
    let id = IdentifierGenerator.uuidV7(now: t0)
    let facts = DeviceFacts(hostname: "\(name)-laptop", osRelease: "Debian", kernel: "6.1", machineIdHash: "m-\(name)", agentVersion: "0.1.0")
    let device = try await store.enroll(
        NewDevice(id: id, keyId: "k-\(id)", publicKey: "p-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id, now: t0)
    return (personId, device)
}

private func answer(_ version: String, device: Device, person: String?, _ decision: TermsDecision, at: Date) throws -> StoredTermsResponse {
    let id = IdentifierGenerator.uuidV7(now: at)
    let statement = TermsStatement(
        id: id, version: version, textSha256: "x", undertakingSha256: nil, deviceId: device.id, personId: person, login: "ada", decision: decision, at: at)
    let signed = try SignedTermsResponse.sign(statement, key: Curve25519.Signing.PrivateKey())
    return StoredTermsResponse(
        id: id, version: version, deviceId: device.id, personId: person, decision: decision, answeredAt: at, receivedAt: at, signed: signed)
}

@Suite("Store conformance: usage terms, participation and editing persons")
struct TermsConformanceTests {
    @Test("a published version is kept exactly and never replaced", arguments: Backend.all)
    func versionsAreImmutable(backend: Backend) async throws {
        let store = try await backend.make()
        let terms = UsageTerms(
            version: "2026-12", text: "Work stays work.\n", undertaking: "I keep secrets.", graceSeconds: 0, publishedAt: t0, publishedBy: "ada")
        try await store.insertTerms(terms)
        #expect(try await store.terms(version: "2026-12") == terms)
        let changed = UsageTerms(version: "2026-12", text: "Other text", undertaking: nil, graceSeconds: 60, publishedAt: t0 + 60, publishedBy: "eve")
        await #expect(throws: StoreError.self) { try await store.insertTerms(changed) }
        #expect(try await store.terms(version: "2026-12") == terms)
        try await store.insertTerms(UsageTerms(version: "2027-01", text: "v2", undertaking: nil, graceSeconds: 60, publishedAt: t0 + 60, publishedBy: nil))
        #expect(try await store.allTerms().map(\.version) == ["2026-12", "2027-01"])
        #expect(try await store.terms(version: "nope") == nil)
    }

    @Test("answers are stored once, as signed, in the order received; unknown versions and devices are refused", arguments: Backend.all)
    func answers(backend: Backend) async throws {
        let store = try await backend.make()
        let (ada, laptop) = try await enrolled(store, "ada")
        try await store.insertTerms(UsageTerms(version: "v1", text: "t", undertaking: nil, graceSeconds: 0, publishedAt: t0, publishedBy: nil))
        let declined = try answer("v1", device: laptop, person: ada, .declined, at: t0 + 10)
        let accepted = try answer("v1", device: laptop, person: ada, .accepted, at: t0 + 20)
        #expect(try await store.recordTermsResponse(declined))
        #expect(try await store.recordTermsResponse(accepted))
        #expect(try await store.recordTermsResponse(accepted) == false)
        #expect(try await store.termsResponses(version: "v1") == [declined, accepted])
        #expect(try await store.termsResponses(version: nil).count == 2)
        #expect(try await store.termsResponses(version: "v2").isEmpty)
        await #expect(throws: StoreError.self) { try await store.recordTermsResponse(try answer("v2", device: laptop, person: ada, .accepted, at: t0)) }
        var ghost = laptop
        ghost.id = IdentifierGenerator.uuidV7(now: t0)
        await #expect(throws: StoreError.self) { try await store.recordTermsResponse(try answer("v1", device: ghost, person: nil, .accepted, at: t0)) }
        #expect(try await store.termsResponses(version: nil).count == 2)
    }

    @Test("a person's email, name, groups and phone are replaced; the ID, status and participation stay", arguments: Backend.all)
    func updatePerson(backend: Backend) async throws {
        let store = try await backend.make()
        let (ada, _) = try await enrolled(store, "ada")
        var person = try #require(try await store.person(id: ada))
        person.displayName = "Ada L."
        person.groups = ["techs", "office"]
        person.phone = "+49 30 1"
        person.email = "ada.l@example.org"
        #expect(try await store.updatePerson(person))
        let stored = try #require(try await store.person(id: ada))
        #expect(stored.displayName == "Ada L." && stored.groups == ["techs", "office"] && stored.phone == "+49 30 1")
        #expect(stored.email == "ada.l@example.org")
        #expect(stored.status == .active && stored.participation == .takingPart)
        person.id = IdentifierGenerator.uuidV7(now: t0)
        #expect(try await store.updatePerson(person) == false)
    }

    @Test("an import is all or nothing: an email taken by another insert leaves every insert and update unwritten", arguments: Backend.all)
    func importAllOrNothing(backend: Backend) async throws {
        let store = try await backend.make()
        let (ada, _) = try await enrolled(store, "ada")
        var renamed = try #require(try await store.person(id: ada))
        renamed.displayName = "Renamed"
        let fresh = Person(id: IdentifierGenerator.uuidV7(now: t0), email: "new@example.org", displayName: "New", groups: [], createdAt: t0)
        let clash = Person(id: IdentifierGenerator.uuidV7(now: t0), email: "ADA@example.org", displayName: "Clash", groups: [], createdAt: t0)
        await #expect(throws: StoreError.self) { try await store.importPersons(inserts: [fresh, clash], updates: [renamed]) }
        #expect(try await store.person(email: "new@example.org") == nil)
        #expect(try await store.person(id: ada)?.displayName == "ada")
        try await store.importPersons(inserts: [fresh], updates: [renamed])
        #expect(try await store.person(email: "new@example.org")?.displayName == "New")
        #expect(try await store.person(id: ada)?.displayName == "Renamed")
    }

    @Test("a person who left comes back as a new person linked to the old one, once; an email is unique among current persons only", arguments: Backend.all)
    func rehire(backend: Backend) async throws {
        let store = try await backend.make()
        let (ada, _) = try await enrolled(store, "ada")
        let back = Person(
            id: IdentifierGenerator.uuidV7(now: t0 + 60), email: "ada@example.org", displayName: "Ada", groups: [], createdAt: t0 + 60, previousId: ada)
        await #expect(throws: StoreError.conflict("the person is active, not offboarded; only someone who left can come back")) {
            try await store.rehirePerson(back)
        }
        try await store.startOffboarding(
            Offboarding(personId: ada, requestedAt: t0, requestedBy: nil, wipeAt: t0, restrictedProfile: nil, reason: nil), now: t0)
        try await store.completeOffboarding(personId: ada, at: t0 + 30)
        #expect(try await store.person(email: "ada@example.org")?.id == ada, "the one who left, while nobody else has the email")
        try await store.rehirePerson(back)
        #expect(try await store.person(email: "ADA@example.org")?.id == back.id)
        #expect(try await store.person(id: back.id)?.previousId == ada)
        var twice = back
        twice.id = IdentifierGenerator.uuidV7(now: t0 + 90)
        await #expect(throws: StoreError.self) { try await store.rehirePerson(twice) }
        let other = Person(id: IdentifierGenerator.uuidV7(now: t0 + 120), email: "Ada@Example.org", displayName: "X", groups: [], createdAt: t0 + 120)
        await #expect(throws: StoreError.self) { try await store.insertPerson(other) }
        #expect(try await store.persons().filter { $0.email.lowercased() == "ada@example.org" }.count == 2)
        // Left again and back again, all at one instant: the lookup follows the chain, not the clock.
        try await store.startOffboarding(
            Offboarding(personId: back.id, requestedAt: t0, requestedBy: nil, wipeAt: t0, restrictedProfile: nil, reason: nil), now: t0)
        try await store.completeOffboarding(personId: back.id, at: t0)
        for round in 0..<4 {
            let previous = try #require(try await store.person(email: "ada@example.org"))
            #expect(previous.status == .offboarded)
            let next = Person(
                id: String(repeating: "\(round)", count: 8) + "-0000-7000-8000-000000000000", email: "ada@example.org", displayName: "Ada", groups: [],
                createdAt: t0, previousId: previous.id)
            try await store.rehirePerson(next)
            #expect(try await store.person(email: "ada@example.org")?.id == next.id)
            try await store.startOffboarding(
                Offboarding(personId: next.id, requestedAt: t0, requestedBy: nil, wipeAt: t0, restrictedProfile: nil, reason: nil), now: t0)
            try await store.completeOffboarding(personId: next.id, at: t0)
            #expect(try await store.person(email: "ada@example.org")?.id == next.id, "the one who left last")
        }
    }

    @Test("declining to take part revokes the person's unused enrollment tokens in the same step", arguments: Backend.all)
    func participation(backend: Backend) async throws {
        let store = try await backend.make()
        let (ada, _) = try await enrolled(store, "ada")
        #expect(try await store.person(id: ada)?.participation == .takingPart)
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(id: secret.id, personId: ada, group: nil, maxUses: 1, expiresAt: t0 + 86_400, createdAt: t0),
                secretHash: secret.secretHash))
        #expect(try await store.setParticipation(personId: ada, .declined, at: t0 + 5))
        #expect(try await store.person(id: ada)?.participation == .declined)
        #expect(try await store.enrollmentToken(id: secret.id)?.token.revokedAt == t0 + 5)
        #expect(try await store.setParticipation(personId: ada, .takingPart, at: t0 + 10))
        #expect(try await store.person(id: ada)?.participation == .takingPart)
        #expect(try await store.enrollmentToken(id: secret.id)?.token.revokedAt == t0 + 5)
        #expect(try await store.setParticipation(personId: IdentifierGenerator.uuidV7(now: t0), .declined, at: t0) == false)
    }
}

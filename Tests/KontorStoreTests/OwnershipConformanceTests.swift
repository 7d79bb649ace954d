import Foundation
import GRDB
import KontorCore
import KontorStore
import Testing

@testable import KontorSQLite

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

private func token(_ store: any KontorStore, person: String? = nil, ownership: Ownership = .company, uses: Int = 1) async throws -> String {
    let secret = IssuedSecret.generate(.enrollmentToken)
    try await store.insertEnrollmentToken(
        StoredEnrollmentToken(
            token: EnrollmentToken(id: secret.id, personId: person, group: nil, maxUses: uses, expiresAt: t0 + 3600, createdAt: t0, ownership: ownership),
            secretHash: secret.secretHash))
    return secret.id
}

private func newDevice(_ machine: String) -> NewDevice {
    let id = IdentifierGenerator.uuidV7(now: t0)
    let facts = DeviceFacts(hostname: "laptop", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: machine, agentVersion: "0.1.0")
    return NewDevice(id: id, keyId: "key-\(id)", publicKey: "pk-\(id)", facts: facts, acceptedTermsVersion: nil)
}

@Suite("Store conformance: personal and company devices")
struct OwnershipConformanceTests {
    @Test("a token keeps its ownership and the devices enrolled with it take it, in records and summaries", arguments: Backend.all)
    func tokenOwnershipReachesDevices(backend: Backend) async throws {
        let store = try await backend.make()
        let personalToken = try await token(store, ownership: .personal)
        let companyToken = try await token(store)
        #expect(try await store.enrollmentToken(id: personalToken)?.token.ownership == .personal)
        #expect(try await store.enrollmentTokens().map(\.ownership).sorted { $0.rawValue < $1.rawValue } == [.company, .personal])
        let personal = try await store.enroll(newDevice("m-personal"), tokenId: personalToken, now: t0)
        let company = try await store.enroll(newDevice("m-company"), tokenId: companyToken, now: t0)
        #expect(personal.ownership == .personal)
        #expect(company.ownership == .company)
        #expect(try await store.device(id: personal.id)?.ownership == .personal)
        let summaries = Dictionary(uniqueKeysWithValues: try await store.deviceSummaries().map { ($0.id, $0.ownership) })
        #expect(summaries == [personal.id: .personal, company.id: .company])
    }

    @Test("a re-enrollment replacing its predecessor takes the new token's ownership", arguments: Backend.all)
    func reenrollmentTakesNewOwnership(backend: Backend) async throws {
        let store = try await backend.make()
        try await store.insertPerson(Person(id: "p1", email: "ada@example.org", displayName: "Ada", groups: [], createdAt: t0))
        let first = try await store.enroll(newDevice("m1"), tokenId: try await token(store, person: "p1"), now: t0)
        let second = try await store.enroll(newDevice("m1"), tokenId: try await token(store, person: "p1", ownership: .personal), now: t0 + 60)
        #expect(second.predecessorId == first.id)
        #expect(second.ownership == .personal)
        #expect(try await store.device(id: first.id)?.ownership == .company)
    }

    @Test("whether terms allow an offline wipe on personal devices is kept with the version", arguments: Backend.all)
    func termsFlag(backend: Backend) async throws {
        let store = try await backend.make()
        let allowing = UsageTerms(
            version: "byod-1", text: "t", undertaking: nil, graceSeconds: 0, publishedAt: t0, publishedBy: nil, allowsOfflineWipeOnPersonalDevices: true)
        let plain = UsageTerms(version: "v1", text: "t", undertaking: nil, graceSeconds: 0, publishedAt: t0 + 1, publishedBy: nil)
        try await store.insertTerms(allowing)
        try await store.insertTerms(plain)
        #expect(try await store.terms(version: "byod-1") == allowing)
        #expect(try await store.terms(version: "byod-1")?.allowsOfflineWipeOnPersonalDevices == true)
        #expect(try await store.terms(version: "v1")?.allowsOfflineWipeOnPersonalDevices == nil)
    }

    @Test("an assignment by ownership is stored; the schema refuses an ownership that does not exist", arguments: Backend.all)
    func ownershipAssignments(backend: Backend) async throws {
        let store = try await backend.make()
        let personal = ProfileAssignment(scope: "ownership", target: "personal", profile: "byod", assignedAt: t0, assignedBy: nil)
        try await store.assign(personal)
        #expect(try await store.assignments() == [personal])
        await #expect(throws: (any Error).self) {
            try await store.assign(ProfileAssignment(scope: "ownership", target: "private", profile: "byod", assignedAt: t0, assignedBy: nil))
        }
        #expect(try await store.unassign(scope: "ownership", target: "personal"))
        #expect(try await store.assignments().isEmpty)
    }
}

@Suite("SQLite: upgrading to ownership")
struct SQLiteOwnershipUpgradeTests {
    @Test("v11 makes earlier tokens and devices company-owned, earlier terms not allowing an offline wipe, and keeps the assignments")
    func upgrade() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-upgrade-\(UUID().uuidString).sqlite").path
        let seconds = t0.timeIntervalSince1970
        do {
            let old = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(old, upTo: "v10-rehire")
            try await old.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO enrollment_tokens (id, secret_hash, max_uses, uses, expires_at, created_at) VALUES ('t1', 'h', 1, 1, ?, ?);
                        INSERT INTO devices (id, status, key_id, public_key, facts, machine_id_hash, enrolled_at, enrollment_token_id)
                            VALUES ('d1', 'active', 'k1', 'pk1', '{"hostname":"a","osRelease":"b","kernel":"c","machineIdHash":"m","agentVersion":"1"}', 'm', ?, 't1');
                        INSERT INTO usage_terms (version, text, sha256, grace_seconds, published_at) VALUES ('v1', 't', 'x', 0, ?);
                        INSERT INTO profile_assignments (scope, target, profile_name, assigned_at) VALUES ('group', 'techs', 'techs', ?);
                        """,
                    arguments: [seconds + 3600, seconds, seconds, seconds, seconds])
            }
        }
        let store = try SQLiteStore(path: path)
        #expect(try await store.enrollmentToken(id: "t1")?.token.ownership == .company)
        #expect(try await store.device(id: "d1")?.ownership == .company)
        #expect(try await store.terms(version: "v1")?.allowsOfflineWipeOnPersonalDevices == nil)
        #expect(try await store.assignments().map(\.target) == ["techs"])
    }
}

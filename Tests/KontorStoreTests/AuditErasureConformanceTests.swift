import Foundation
import GRDB
import KontorCore
import KontorStore
import KontorTestSupport
import Testing

@testable import KontorPostgres
@testable import KontorSQLite

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

@Suite("Store conformance: erasing personal values from the audit log")
struct AuditErasureConformanceTests {
    @Test("erased values read [erased] everywhere they appeared, the chain still verifies, other entries are as they were", arguments: Backend.all)
    func erase(backend: Backend) async throws {
        let store = try await backend.make()
        _ = try await store.appendAudit(
            at: t0, actor: "token:admin", action: "person.created", target: "ada@example.org", detail: ["displayName": "Ada Lovelace"])
        _ = try await store.appendAudit(at: t0 + 1, actor: "token:admin", action: "person.created", target: "bo@example.org", detail: ["displayName": "Bo"])
        _ = try await store.appendAudit(
            at: t0 + 2, actor: "device:d1", action: "device.wipe-receipt", target: "d1", detail: ["account": "work-ada", "note": "for ADA@example.org"])
        let before = try await store.auditEntries(since: nil, target: nil)

        #expect(try await store.eraseAuditValues(matching: ["ada@example.org", "Ada Lovelace"]) == 2)
        let after = try await store.auditEntries(since: nil, target: nil)
        #expect(AuditChain.verify(after).ok)
        #expect(after.map(\.hash) == before.map(\.hash))
        #expect(after[0].target == AuditChain.erased && after[0].detail?["displayName"] == AuditChain.erased)
        #expect(after[1] == before[1])
        #expect(after[2].detail?["note"] == AuditChain.erased && after[2].detail?["account"] == "work-ada")
        #expect(try await store.auditEntries(since: nil, target: "ada@example.org").isEmpty, "the erased email is no longer a target")
        #expect(try await store.eraseAuditValues(matching: ["ada@example.org"]) == 0, "erasing again changes nothing")
        // Appending goes on from the same chain.
        _ = try await store.appendAudit(at: t0 + 3, actor: "system", action: "person.erased", target: nil, detail: nil)
        #expect(AuditChain.verify(try await store.auditEntries(since: nil, target: nil)).ok)
    }
}

@Suite("Store conformance: pseudonymising a person")
struct PseudonymiseConformanceTests {
    static let email = "grace.hopper@example.org"
    static let name = "Grace Brewster Hopper"

    @Test(
        "email, name, phone, hostname, SCIM user name and audit values go in one step; events of the devices go; another person is untouched",
        arguments: Backend.all)
    func pseudonymise(backend: Backend) async throws {
        let store = try await backend.make()
        let grace = Person(id: "p-grace", email: Self.email, displayName: Self.name, groups: ["office"], createdAt: t0, phone: "+49 89 555 0101")
        let bo = Person(id: "p-bo", email: "bo@example.org", displayName: "Bo", groups: [], createdAt: t0)
        try await store.insertPerson(grace)
        try await store.insertPerson(bo)
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(id: secret.id, personId: grace.id, group: nil, maxUses: 1, expiresAt: t0 + 3600, createdAt: t0),
                secretHash: secret.secretHash))
        let facts = DeviceFacts(hostname: "graces-laptop", osRelease: "Debian", kernel: "6.1", machineIdHash: "m-grace", agentVersion: "0.1.0")
        let device = try await store.enroll(
            NewDevice(id: "d-grace", keyId: "k-grace", publicKey: "pk-grace", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id, now: t0)
        _ = try await store.appendEvents(deviceId: device.id, [DeviceEvent(at: t0, kind: "container.created", detail: "work-grace.hopper (UID 70000)")])
        try await store.saveSCIMUser(
            SCIMUserLink(id: "s-grace", personId: grace.id, userName: Self.email, externalId: "entra-123", createdAt: t0, updatedAt: t0), person: nil)
        _ = try await store.appendAudit(at: t0, actor: "token:admin", action: "person.created", target: Self.email, detail: ["displayName": Self.name])
        _ = try await store.appendAudit(at: t0, actor: "device:d-grace", action: "device.enrolled", target: "d-grace", detail: ["hostname": "graces-laptop"])
        _ = try await store.appendAudit(at: t0, actor: "token:admin", action: "person.created", target: "bo@example.org", detail: ["displayName": "Bo"])

        let result = try #require(try await store.pseudonymisePerson(id: grace.id, pseudonym: "erased-0123456789ab"))
        #expect(result == PseudonymisedPerson(personId: grace.id, pseudonym: "erased-0123456789ab", devices: 1, events: 1, auditEntries: 2, scimUser: true))
        #expect(try await store.pseudonymisePerson(id: "nobody", pseudonym: "erased-x") == nil)
        let after = try #require(try await store.person(id: grace.id))
        #expect(after.email == "erased-0123456789ab@erased.invalid" && after.displayName == "erased-0123456789ab" && after.phone == nil)
        #expect(after.groups == ["office"] && after.createdAt == t0, "what is not personal stays")
        #expect(try await store.person(email: Self.email) == nil)
        #expect(try await store.device(id: device.id)?.facts.hostname == "erased-0123456789ab-1")
        #expect(try await store.events(deviceId: device.id, limit: 10).isEmpty)
        #expect(try await store.scimUsers().first { $0.personId == grace.id }?.userName == "erased-0123456789ab@erased.invalid")
        #expect(try await store.person(id: bo.id) == bo)
        let audit = try await store.auditEntries(since: nil, target: nil)
        #expect(AuditChain.verify(audit).ok)
        #expect(audit[2].target == "bo@example.org" && audit[1].target == "d-grace" && audit[1].detail?["hostname"] == AuditChain.erased)

        // Nothing of Grace is left in the PostgreSQL data (a dump of the schema, as a backup would hold it).
        if let postgres = store as? PostgresStore, let url = ProcessInfo.processInfo.environment["KONTOR_TEST_POSTGRES_URL"], let schema = postgres.schema {
            let dump = Process()
            dump.executableURL = URL(fileURLWithPath: "/usr/bin/pg_dump")
            dump.arguments = ["--data-only", "--schema", schema, "--dbname", url]
            let out = Pipe()
            dump.standardOutput = out
            try dump.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            dump.waitForExit()
            #expect(dump.terminationStatus == 0 && data.count > 1000)
            for needle in [Self.email, Self.name, "+49 89 555 0101", "graces-laptop", "entra-123"] {
                #expect(data.range(of: Data(needle.utf8)) == nil, "\(needle) is in the PostgreSQL dump")
            }
        }
    }
}

@Suite("SQLite: the audit log of an earlier version is carried over to format 2")
struct AuditUpgradeTests {
    /// A database as the last version before format 2 left it, with `entries` in its audit log.
    func oldDatabase(_ entries: [AuditEntry]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-audit-\(UUID().uuidString).sqlite").path
        let old = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(old, upTo: "v14-ownership")
        try old.write { db in
            for e in entries {
                try db.execute(
                    sql: "INSERT INTO audit_log (seq, at, actor, action, target, detail, previous_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    arguments: [
                        e.seq, e.at.timeIntervalSince1970, e.actor, e.action, e.target,
                        String(decoding: try KontorJSON.encode(e.detail ?? [:]), as: UTF8.self), e.previousHash, e.hash,
                    ])
            }
        }
        return path
    }

    func legacy(_ people: [String]) -> [AuditEntry] {
        var out: [AuditEntry] = []
        for (i, person) in people.enumerated() {
            var e = AuditEntry(
                seq: i + 1, at: t0 + Double(i), actor: "token:admin", action: "person.created", target: person, detail: ["groups": "office"],
                previousHash: out.last?.hash ?? AuditChain.genesis, hash: "")
            e.hash = AuditChain.legacyHash(of: e)
            out.append(e)
        }
        return out
    }

    @Test("on open: the same values in format 2, the old hashes kept, the old head recorded in a new entry; erasable afterwards")
    func upgraded() async throws {
        let old = legacy(["ada@example.org", "bo@example.org"])
        let path = try oldDatabase(old)
        let store = try SQLiteStore(path: path)
        let entries = try await store.auditEntries(since: nil, target: nil)
        #expect(entries.count == 3)
        #expect(entries.prefix(2).map(\.legacyHash) == old.map(\.hash) && entries.prefix(2).map(\.target) == old.map(\.target))
        #expect(entries[2].action == "audit.format-upgraded" && entries[2].detail?["legacyHead"] == old[1].hash && entries[2].detail?["legacyEntries"] == "2")
        let verified = AuditChain.verify(entries)
        #expect(verified.ok && verified.legacy?.contains(old[1].hash) == true)
        // Opening again changes nothing.
        _ = try SQLiteStore(path: path)
        #expect(try await store.auditEntries(since: nil, target: nil) == entries)
        #expect(try await store.eraseAuditValues(matching: ["ada@example.org"]) == 1)
        #expect(AuditChain.verify(try await store.auditEntries(since: nil, target: nil)).ok)
    }

    @Test("an old chain that does not verify is left as it is: the upgrade never launders an edit")
    func tamperedLeftAlone() async throws {
        var old = legacy(["ada@example.org", "bo@example.org"])
        old[0].target = "eve@example.org"
        let store = try SQLiteStore(path: try oldDatabase(old))
        let entries = try await store.auditEntries(since: nil, target: nil)
        #expect(entries.count == 2 && entries.allSatisfy { $0.commitments == nil })
        #expect(AuditChain.verify(entries).firstBadSeq == 1)
    }
}

import Foundation
import GRDB
import KontorCore
import KontorStore
import Testing

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

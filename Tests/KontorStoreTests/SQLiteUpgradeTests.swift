import Foundation
import GRDB
import KontorCore
import KontorStore
import Testing

@testable import KontorSQLite

@Suite("SQLite: upgrading a database made by an earlier version")
struct SQLiteUpgradeTests {
    @Test("v8 rebuilds api_tokens for the feed role: tokens, their console sessions and persons survive, and a feed token can be stored")
    func onCallMigration() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-upgrade-\(UUID().uuidString).sqlite").path
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let admin = IssuedSecret.generate(.apiToken)
        do {
            let old = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(old, upTo: "v7-event-ids")
            try await old.write { db in
                try db.execute(
                    sql: "INSERT INTO api_tokens (id, name, role, secret_hash, created_at) VALUES (?, 'ops', 'admin', ?, ?)",
                    arguments: [admin.id, admin.secretHash, t0.timeIntervalSince1970])
                try db.execute(
                    sql: "INSERT INTO console_sessions (id, secret_hash, token_id, created_at, last_seen_at, expires_at) VALUES ('s1', 'h', ?, ?, ?, ?)",
                    arguments: [admin.id, t0.timeIntervalSince1970, t0.timeIntervalSince1970, t0.timeIntervalSince1970 + 3600])
                try db.execute(
                    sql: """
                        INSERT INTO persons (id, email, email_key, display_name, group_names, status, created_at)
                        VALUES ('p1', 'Ada@example.org', 'ada@example.org', 'Ada', '[]', 'active', ?)
                        """,
                    arguments: [t0.timeIntervalSince1970])
            }
        }
        let store = try SQLiteStore(path: path)
        #expect(try await store.apiToken(id: admin.id)?.token.role == .admin)
        #expect(try await store.person(email: "ada@example.org")?.phone == nil)
        let feed = IssuedSecret.generate(.apiToken)
        try await store.insertAPIToken(
            StoredAPIToken(token: APIToken(id: feed.id, name: "calendar", role: .feed, createdAt: t0), secretHash: feed.secretHash))
        #expect(try await store.apiTokens().map(\.role).sorted() == [.feed, .admin])
        // The console session still points at its token: ending the token's sessions finds it.
        #expect(try await store.consoleSession(id: "s1")?.tokenId == admin.id)
        try await store.deleteConsoleSessions(tokenId: admin.id)
        #expect(try await store.consoleSession(id: "s1") == nil)
    }

    @Test(
        "v10 rebuilds persons for rehires: persons, their tokens, devices and offboardings survive, foreign keys hold, and an email is unique only among current persons"
    )
    func rehireMigration() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-upgrade-\(UUID().uuidString).sqlite").path
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            let old = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(old, upTo: "v9-terms")
            try await old.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO persons (id, email, email_key, display_name, group_names, status, created_at, phone, participation)
                        VALUES ('p1', 'Ada@example.org', 'ada@example.org', 'Ada', '["techs"]', 'offboarded', ?, '+49 30 1', 'declined')
                        """,
                    arguments: [t0.timeIntervalSince1970])
                try db.execute(
                    sql: """
                        INSERT INTO enrollment_tokens (id, secret_hash, person_id, max_uses, uses, expires_at, created_at)
                        VALUES ('t1', 'h', 'p1', 1, 0, ?, ?)
                        """,
                    arguments: [t0.timeIntervalSince1970 + 3600, t0.timeIntervalSince1970])
            }
        }
        let store = try SQLiteStore(path: path)
        let ada = try #require(try await store.person(id: "p1"))
        #expect(ada.email == "Ada@example.org" && ada.groups == ["techs"] && ada.phone == "+49 30 1" && ada.participation == .declined)
        #expect(try await store.enrollmentToken(id: "t1")?.token.personId == "p1")
        let back = Person(id: "p2", email: "ada@example.org", displayName: "Ada", groups: [], createdAt: t0 + 60, previousId: "p1")
        try await store.rehirePerson(back)
        #expect(try await store.person(email: "ADA@example.org")?.id == "p2")
        let clash = Person(id: "p3", email: "ada@example.org", displayName: "Other", groups: [], createdAt: t0 + 120)
        await #expect(throws: StoreError.self) { try await store.insertPerson(clash) }
        let problems = try await store.writer.read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }
        #expect(problems.isEmpty)
    }

    @Test("v20 derives the fleet columns of the devices already stored: sort keys, search text and compliance; malformed JSON reads as absent")
    func fleetMigration() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-upgrade-\(UUID().uuidString).sqlite").path
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            let old = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(old, upTo: "v19-approvals")
            try await old.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO persons (id, email, email_key, display_name, group_names, status, created_at)
                        VALUES ('p1', 'Ada@Example.org', 'ada@example.org', 'Ada', '[]', 'active', ?)
                        """,
                    arguments: [t0.timeIntervalSince1970])
                let device = """
                    INSERT INTO devices (id, person_id, group_name, status, key_id, public_key, facts, machine_id_hash, enrolled_at, last_seen_at, compliance)
                    VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?)
                    """
                let facts = #"{"hostname":"Ada-PC","posture":{"diskEncryption":{"state":"notEncrypted"},"updates":{"lastUpgradeAt":"2027-01-01T00:00:00Z"}}}"#
                try db.execute(
                    sql: device,
                    arguments: ["d1", "p1", "Ops", "k1", "pk1", facts, "m1", t0.timeIntervalSince1970, t0.timeIntervalSince1970 + 60, #"{"violations":[{}]}"#])
                try db.execute(sql: device, arguments: ["d2", nil, nil, "k2", "pk2", "{not json", "m2", t0.timeIntervalSince1970 + 1, nil, "[oops"])
            }
        }
        let store = try SQLiteStore(path: path)
        let rows = try await store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, hostname_key, person_key, search_text, fleet_compliance, posture_due_at FROM devices ORDER BY id")
        }
        #expect(rows.map { $0["hostname_key"] as String } == ["ada-pc", ""])
        #expect(rows.map { $0["person_key"] as String } == ["ada@example.org", "~"])
        #expect(rows.map { $0["search_text"] as String } == ["ada-pc\nd1\nops", "\nd2\n"])
        #expect(rows.map { $0["fleet_compliance"] as String } == ["violations", "never"])
        // The requirements come with the first expected policy the server stores.
        try await store.setExpectedPolicies([
            ExpectedPolicyUpdate(deviceId: "d1", expected: ExpectedPolicy(hash: "sha256:p", maxUpdateAgeDays: 30), previousHash: nil)
        ])
        let due = try await store.writer.read { db in try Double.fetchOne(db, sql: "SELECT posture_due_at FROM devices WHERE id = 'd1'") }
        #expect(due == Date(timeIntervalSince1970: 1_798_761_600).timeIntervalSince1970 + 30 * 86_400)
        #expect(try await store.fleetPage(FleetQuery(search: "ADA"), now: t0).rows.map(\.summary.id) == ["d1"])
        #expect(try await store.fleetPage(FleetQuery(), now: t0).rows.map(\.summary.hostname) == ["", "Ada-PC"])
    }
}

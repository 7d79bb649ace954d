import Foundation
import GRDB
import KontorCore
import KontorStore

extension SQLiteStore: SettingsStore {
    public func setting(_ key: String) async throws -> String? {
        try await writer.read { db in try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) }
    }

    public func setSetting(_ key: String, value: String) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", arguments: [key, value])
        }
    }
}

extension SQLiteStore: PolicyStore {
    public func addProfileRevision(source: String, profile: Profile, at: Date, by: String?) async throws -> ProfileRevision {
        try await writer.write { db in
            let next = (try Int.fetchOne(db, sql: "SELECT MAX(revision) FROM profile_revisions WHERE name = ?", arguments: [profile.name]) ?? 0) + 1
            try db.execute(
                sql: "INSERT INTO profile_revisions (name, revision, source, document, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [profile.name, next, source, try encodeJSON(profile), seconds(at), by])
            return ProfileRevision(name: profile.name, revision: next, source: source, profile: profile, createdAt: at, createdBy: by)
        }
    }

    public func profileRevisions(name: String) async throws -> [ProfileRevision] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM profile_revisions WHERE name = ? ORDER BY revision", arguments: [name]).map(Self.record)
        }
    }

    public func latestProfiles() async throws -> [ProfileRevision] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.* FROM profile_revisions r
                    JOIN (SELECT name, MAX(revision) AS revision FROM profile_revisions GROUP BY name) latest
                      ON latest.name = r.name AND latest.revision = r.revision
                    ORDER BY r.name
                    """
            ).map(Self.record)
        }
    }

    public func assign(_ a: ProfileAssignment) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO profile_assignments (scope, target, profile_name, assigned_at, assigned_by) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(scope, target) DO UPDATE SET profile_name = excluded.profile_name, assigned_at = excluded.assigned_at,
                        assigned_by = excluded.assigned_by
                    """,
                arguments: [a.scope, a.target, a.profile, seconds(a.assignedAt), a.assignedBy])
        }
    }

    public func unassign(scope: String, target: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM profile_assignments WHERE scope = ? AND target = ?", arguments: [scope, target])
            return db.changesCount > 0
        }
    }

    public func assignments() async throws -> [ProfileAssignment] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM profile_assignments ORDER BY scope, target").map(Self.record)
        }
    }
}

extension SQLiteStore: AuditStore {
    public func appendAudit(at: Date, actor: String, action: String, target: String?, detail: [String: String]?) async throws -> AuditEntry {
        try await writer.write { db in
            let last: AuditEntry? = try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")).map(Self.record)
            let entry = AuditChain.entry(after: last, at: at, actor: actor, action: action, target: target, detail: detail)
            try Self.insertAudit(entry, db)
            return entry
        }
    }

    static func insertAudit(_ entry: AuditEntry, _ db: Database) throws {
        try db.cachedStatement(
            sql: "INSERT INTO audit_log (seq, at, actor, action, target, detail, previous_hash, hash, commitments, salts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        .execute(
            arguments: [
                entry.seq, seconds(entry.at), entry.actor, entry.action, entry.target, try encodeJSON(entry.detail), entry.previousHash, entry.hash,
                try encodeJSON(entry.commitments), try encodeJSON(entry.salts),
            ])
    }

    public func eraseAuditValues(matching needles: [String]) async throws -> Int {
        let found = try await auditCandidates(matching: needles)
        return try await writer.write { db in try Self.eraseAudit(db, matching: needles, in: found) }
    }

    /// The entries that hold a value to erase, found by reading the whole log outside any write transaction
    /// (check-ins and admin writes go on meanwhile), and the last entry read.
    func auditCandidates(matching needles: [String]) async throws -> AuditCandidates {
        try await writer.read { db in
            var found = AuditCandidates()
            while true {
                let entries =
                    try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [found.scannedTo, AuditUpgrade.page])
                    .map(Self.record) as [AuditEntry]
                guard let last = entries.last else { return found }
                found.scannedTo = last.seq
                for var e in entries where AuditChain.erase(&e, matching: needles) { found.seqs.append(e.seq) }
            }
        }
    }

    /// Erases the values containing one of `needles` in the entries `found` names and in those appended since
    /// it was read, within the caller's (short) write transaction. Entries never change but by erasure, so
    /// what was read stays true.
    static func eraseAudit(_ db: Database, matching needles: [String], in found: AuditCandidates) throws -> Int {
        var changed = 0
        let named = try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq IN (SELECT value FROM json_each(?))", arguments: [try encodeJSON(found.seqs)])
        let appended = try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq", arguments: [found.scannedTo])
        let entries: [AuditEntry] = try (named + appended).map(Self.record)
        for var e in entries where AuditChain.erase(&e, matching: needles) {
            try db.execute(
                sql: "UPDATE audit_log SET actor = ?, target = ?, detail = ?, salts = ? WHERE seq = ?",
                arguments: [e.actor, e.target, try encodeJSON(e.detail), try encodeJSON(e.salts), e.seq])
            changed += 1
        }
        return changed
    }

    /// Carries a format-1 chain over to format 2 (``AuditUpgrade``); run on open, before anything is appended.
    static func upgradeAuditChain(_ writer: any DatabaseWriter) throws {
        try writer.write { db in
            let page = { (after: Int) throws -> [AuditEntry] in
                try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [after, AuditUpgrade.page]).map(Self.record)
            }
            var check = AuditUpgrade.LegacyCheck()
            while check.feed(try page(check.after)) {}
            guard let old = check.result else { return }
            var previous = AuditChain.genesis
            var after = 0
            while true {
                let entries = try page(after)
                guard let last = entries.last else { break }
                after = last.seq
                for e in AuditUpgrade.upgrade(entries, after: previous) {
                    try db.execute(
                        sql: "UPDATE audit_log SET previous_hash = ?, hash = ?, commitments = ?, salts = ?, legacy_hash = ? WHERE seq = ?",
                        arguments: [e.previousHash, e.hash, try encodeJSON(e.commitments), try encodeJSON(e.salts), e.legacyHash, e.seq])
                    previous = e.hash
                }
            }
            let last: AuditEntry? = try Row.fetchOne(db, sql: "SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1").map(Self.record)
            let marker = AuditChain.entry(
                after: last, at: Date(), actor: "system", action: "audit.format-upgraded", target: nil,
                detail: ["legacyHead": old.head, "legacyEntries": String(old.entries)])
            try insertAudit(marker, db)
        }
    }

    public func auditEntries(since: Date?, target: String?) async throws -> [AuditEntry] {
        try await writer.read { db in
            var sql = "SELECT * FROM audit_log WHERE 1 = 1"
            var arguments: StatementArguments = []
            if let since {
                sql += " AND at >= ?"
                arguments += [seconds(since)]
            }
            if let target {
                sql += " AND target = ?"
                arguments += [target]
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY seq", arguments: arguments).map(Self.record)
        }
    }

    public func auditEntries(matching filter: AuditFilter, limit: Int, offset: Int) async throws -> (entries: [AuditEntry], total: Int) {
        try await writer.read { db in
            var clause = "WHERE 1 = 1"
            var arguments: StatementArguments = []
            if let actor = filter.actor, !actor.isEmpty {
                clause += " AND instr(lower(actor), lower(?)) > 0"
                arguments += [actor]
            }
            if let prefix = filter.actionPrefix, !prefix.isEmpty {
                clause += " AND substr(action, 1, length(?)) = ?"
                arguments += [prefix, prefix]
            }
            if let target = filter.target {
                clause += " AND target = ?"
                arguments += [target]
            }
            if let since = filter.since {
                clause += " AND at >= ?"
                arguments += [seconds(since)]
            }
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_log \(clause)", arguments: arguments) ?? 0
            let entries: [AuditEntry] = try Row.fetchAll(
                db, sql: "SELECT * FROM audit_log \(clause) ORDER BY seq DESC LIMIT ? OFFSET ?", arguments: arguments + [limit, offset]
            )
            .map(Self.record)
            return (entries, total)
        }
    }

    public func auditEntries(afterSeq seq: Int, limit: Int) async throws -> [AuditEntry] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, max(0, limit)]).map(Self.record)
        }
    }
}

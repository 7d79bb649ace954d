import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: SettingsStore {
    public func setting(_ key: String) async throws -> String? {
        try await row("SELECT value FROM settings WHERE key = \(key)") { try $0.get("value", as: String.self) }
    }

    public func setSetting(_ key: String, value: String) async throws {
        try await run("INSERT INTO settings (key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
    }
}

extension PostgresStore: PolicyStore {
    public func addProfileRevision(source: String, profile: Profile, at: Date, by: String?) async throws -> ProfileRevision {
        let document = try encodeJSON(profile)
        return try await transaction { tx in
            try await tx.lock("kontor_profile:" + profile.name)
            let last = try await tx.row("SELECT MAX(revision) AS r FROM profile_revisions WHERE name = \(profile.name)") { try $0.get("r", as: Int?.self) }
            let next = ((last ?? nil) ?? 0) + 1
            try await tx.run(
                """
                INSERT INTO profile_revisions (name, revision, source, document, created_at, created_by)
                VALUES (\(profile.name), \(next), \(source), \(document), \(seconds(at)), \(by))
                """)
            return ProfileRevision(name: profile.name, revision: next, source: source, profile: profile, createdAt: at, createdBy: by)
        }
    }

    public func profileRevisions(name: String) async throws -> [ProfileRevision] {
        try await rows("SELECT * FROM profile_revisions WHERE name = \(name) ORDER BY revision", Self.record)
    }

    public func latestProfiles() async throws -> [ProfileRevision] {
        try await rows("SELECT DISTINCT ON (name) * FROM profile_revisions ORDER BY name, revision DESC", Self.record)
    }

    public func assign(_ a: ProfileAssignment) async throws {
        try await run(
            """
            INSERT INTO profile_assignments (scope, target, profile_name, assigned_at, assigned_by)
            VALUES (\(a.scope), \(a.target), \(a.profile), \(seconds(a.assignedAt)), \(a.assignedBy))
            ON CONFLICT (scope, target) DO UPDATE SET profile_name = excluded.profile_name, assigned_at = excluded.assigned_at,
                assigned_by = excluded.assigned_by
            """)
    }

    public func unassign(scope: String, target: String) async throws -> Bool {
        try await run("DELETE FROM profile_assignments WHERE scope = \(scope) AND target = \(target) RETURNING 1") > 0
    }

    public func assignments() async throws -> [ProfileAssignment] {
        try await rows("SELECT * FROM profile_assignments ORDER BY scope, target", Self.record)
    }
}

extension PostgresStore: AuditStore {
    public func appendAudit(at: Date, actor: String, action: String, target: String?, detail: [String: String]?) async throws -> AuditEntry {
        try await transaction { tx in
            // One writer at a time across every instance: the chain has no forks.
            try await tx.lock("kontor_audit")
            let last: AuditEntry? = try await tx.row("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1", Self.record)
            let entry = AuditChain.entry(after: last, at: at, actor: actor, action: action, target: target, detail: detail)
            try await Self.insertAudit(entry, tx)
            return entry
        }
    }

    static func insertAudit(_ entry: AuditEntry, _ tx: Transaction) async throws {
        try await tx.run(
            """
            INSERT INTO audit_log (seq, at, actor, action, target, detail, previous_hash, hash, commitments, salts)
            VALUES (\(entry.seq), \(seconds(entry.at)), \(entry.actor), \(entry.action), \(entry.target), \(try encodeJSON(entry.detail)),
                    \(entry.previousHash), \(entry.hash), \(try encodeJSON(entry.commitments)), \(try encodeJSON(entry.salts)))
            """)
    }

    public func eraseAuditValues(matching needles: [String]) async throws -> Int {
        try await transaction { tx in try await Self.eraseAudit(tx, matching: needles) }
    }

    /// Erases the values containing one of `needles` in every entry, page by page, within the caller's
    /// transaction (under the audit lock, so no entry is appended meanwhile).
    static func eraseAudit(_ tx: Transaction, matching needles: [String]) async throws -> Int {
        try await tx.lock("kontor_audit")
        var changed = 0
        var after = 0
        while true {
            let entries: [AuditEntry] = try await tx.rows(
                "SELECT * FROM audit_log WHERE seq > \(after) ORDER BY seq LIMIT \(AuditUpgrade.page)", Self.record)
            guard let last = entries.last else { break }
            after = last.seq
            for var e in entries where AuditChain.erase(&e, matching: needles) {
                try await tx.run(
                    """
                    UPDATE audit_log SET actor = \(e.actor), target = \(e.target), detail = \(try encodeJSON(e.detail)), salts = \(try encodeJSON(e.salts))
                    WHERE seq = \(e.seq)
                    """)
                changed += 1
            }
        }
        return changed
    }

    /// Carries a format-1 chain over to format 2 (``AuditUpgrade``), under the audit lock so that one
    /// instance does it while the others wait; run after the migrations.
    func upgradeAuditChain() async throws {
        try await transaction { tx in
            try await tx.lock("kontor_audit")
            var check = AuditUpgrade.LegacyCheck()
            while check.feed(try await tx.rows("SELECT * FROM audit_log WHERE seq > \(check.after) ORDER BY seq LIMIT \(AuditUpgrade.page)", Self.record)) {}
            guard let old = check.result else { return }
            var previous = AuditChain.genesis
            var after = 0
            while true {
                let entries: [AuditEntry] = try await tx.rows(
                    "SELECT * FROM audit_log WHERE seq > \(after) ORDER BY seq LIMIT \(AuditUpgrade.page)", Self.record)
                guard let last = entries.last else { break }
                after = last.seq
                for e in AuditUpgrade.upgrade(entries, after: previous) {
                    try await tx.run(
                        """
                        UPDATE audit_log SET previous_hash = \(e.previousHash), hash = \(e.hash), commitments = \(try encodeJSON(e.commitments)),
                            salts = \(try encodeJSON(e.salts)), legacy_hash = \(e.legacyHash) WHERE seq = \(e.seq)
                        """)
                    previous = e.hash
                }
            }
            let last: AuditEntry? = try await tx.row("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1", Self.record)
            let marker = AuditChain.entry(
                after: last, at: Date(), actor: "system", action: "audit.format-upgraded", target: nil,
                detail: ["legacyHead": old.head, "legacyEntries": String(old.entries)])
            try await Self.insertAudit(marker, tx)
        }
    }

    public func auditEntries(since: Date?, target: String?) async throws -> [AuditEntry] {
        try await auditQuery(AuditFilter(target: target, since: since), order: "seq", limit: nil, offset: 0)
    }

    public func auditEntries(matching filter: AuditFilter, limit: Int, offset: Int) async throws -> (entries: [AuditEntry], total: Int) {
        var count = PostgresQuery(unsafeSQL: "SELECT COUNT(*) AS n FROM audit_log")
        Self.whereClause(filter, into: &count)
        let total = try await row(count) { try $0.get("n", as: Int.self) } ?? 0
        return (try await auditQuery(filter, order: "seq DESC", limit: limit, offset: offset), total)
    }

    public func auditEntries(afterSeq seq: Int, limit: Int) async throws -> [AuditEntry] {
        try await rows("SELECT * FROM audit_log WHERE seq > \(seq) ORDER BY seq LIMIT \(max(0, limit))", Self.record)
    }

    private func auditQuery(_ filter: AuditFilter, order: String, limit: Int?, offset: Int) async throws -> [AuditEntry] {
        var query = PostgresQuery(unsafeSQL: "SELECT * FROM audit_log")
        Self.whereClause(filter, into: &query)
        query.sql += " ORDER BY \(order)"
        if let limit {
            query.sql += " LIMIT $\(query.binds.count + 1) OFFSET $\(query.binds.count + 2)"
            query.binds.append(limit)
            query.binds.append(offset)
        }
        return try await rows(query, Self.record)
    }

    /// Appends `WHERE ...` for the filter's parts, each value a bound parameter.
    private static func whereClause(_ filter: AuditFilter, into query: inout PostgresQuery) {
        var parts: [String] = []
        func bind(_ value: some PostgresNonThrowingEncodable & Sendable) -> String {
            query.binds.append(value)
            return "$\(query.binds.count)"
        }
        if let actor = filter.actor, !actor.isEmpty { parts.append("strpos(lower(actor), lower(\(bind(actor)))) > 0") }
        if let prefix = filter.actionPrefix, !prefix.isEmpty {
            let p = bind(prefix)
            parts.append("left(action, length(\(p))) = \(p)")
        }
        if let target = filter.target { parts.append("target = \(bind(target))") }
        if let since = filter.since { parts.append("at >= \(bind(since.timeIntervalSince1970))") }
        if !parts.isEmpty { query.sql += " WHERE " + parts.joined(separator: " AND ") }
    }
}

import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: APITokenStore {
    public func insertAPIToken(_ stored: StoredAPIToken) async throws {
        let t = stored.token
        do {
            try await run(
                """
                INSERT INTO api_tokens (id, name, role, secret_hash, created_at, revoked_at, last_used_at)
                VALUES (\(t.id), \(t.name), \(t.role.rawValue), \(stored.secretHash), \(seconds(t.createdAt)), \(seconds(t.revokedAt)), \(seconds(t.lastUsedAt)))
                """)
        } catch where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.conflict("API token \(t.id) exists")
        }
    }

    public func apiToken(id: String) async throws -> StoredAPIToken? {
        try await row("SELECT * FROM api_tokens WHERE id = \(id)") { StoredAPIToken(token: try Self.apiToken(from: $0), secretHash: try $0.get("secret_hash")) }
    }

    public func apiTokens() async throws -> [APIToken] {
        try await rows("SELECT * FROM api_tokens ORDER BY created_at, id", Self.apiToken(from:))
    }

    public func revokeAPIToken(id: String, at: Date) async throws -> Bool {
        try await run("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, \(seconds(at))) WHERE id = \(id) RETURNING 1") > 0
    }

    public func touchAPIToken(id: String, at: Date) async throws {
        try await run("UPDATE api_tokens SET last_used_at = \(seconds(at)) WHERE id = \(id) AND (last_used_at IS NULL OR last_used_at < \(seconds(at)))")
    }

    static func apiToken(from row: PostgresRandomAccessRow) throws -> APIToken {
        let roleName: String = try row.get("role")
        guard let role = Role(rawValue: roleName) else { throw StoreError.notFound("role \(roleName)") }
        return APIToken(
            id: try row.get("id"), name: try row.get("name"), role: role, createdAt: date(try row.get("created_at"))!,
            revokedAt: date(try row.get("revoked_at")), lastUsedAt: date(try row.get("last_used_at")))
    }
}

extension PostgresStore: PersonStore {
    public func insertPerson(_ person: Person) async throws {
        do {
            try await run(
                """
                INSERT INTO persons (id, email, email_key, display_name, group_names, status, created_at)
                VALUES (\(person.id), \(person.email), \(person.email.lowercased()), \(person.displayName), \(try encodeJSON(person.groups)),
                        \(person.status.rawValue), \(seconds(person.createdAt)))
                """)
        } catch where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.conflict("a person with email \(person.email) exists")
        }
    }

    public func person(id: String) async throws -> Person? { try await row("SELECT * FROM persons WHERE id = \(id)", Self.person(from:)) }

    public func person(email: String) async throws -> Person? {
        try await row("SELECT * FROM persons WHERE email_key = \(email.lowercased())", Self.person(from:))
    }

    public func persons() async throws -> [Person] { try await rows("SELECT * FROM persons ORDER BY email_key", Self.person(from:)) }

    static func person(from row: PostgresRandomAccessRow) throws -> Person {
        Person(
            id: try row.get("id"), email: try row.get("email"), displayName: try row.get("display_name"),
            groups: try decodeJSON([String].self, try row.get("group_names")) ?? [], status: PersonStatus(rawValue: try row.get("status")) ?? .active,
            createdAt: date(try row.get("created_at"))!)
    }
}

extension PostgresStore: EnrollmentStore {
    public func insertEnrollmentToken(_ stored: StoredEnrollmentToken) async throws {
        let t = stored.token
        do {
            try await run(
                """
                INSERT INTO enrollment_tokens (id, secret_hash, person_id, group_name, max_uses, uses, expires_at, created_at, revoked_at, created_by)
                VALUES (\(t.id), \(stored.secretHash), \(t.personId), \(t.group), \(t.maxUses), \(t.uses), \(seconds(t.expiresAt)), \(seconds(t.createdAt)),
                        \(seconds(t.revokedAt)), \(t.createdBy))
                """)
        } catch where PostgresErrors.isForeignKeyViolation(error) {
            throw StoreError.notFound("person \(t.personId ?? "")")
        }
    }

    public func enrollmentToken(id: String) async throws -> StoredEnrollmentToken? {
        try await row("SELECT * FROM enrollment_tokens WHERE id = \(id)") {
            StoredEnrollmentToken(token: try Self.enrollmentToken(from: $0), secretHash: try $0.get("secret_hash"))
        }
    }

    public func enrollmentTokens() async throws -> [EnrollmentToken] {
        try await rows("SELECT * FROM enrollment_tokens ORDER BY created_at DESC, id DESC", Self.enrollmentToken(from:))
    }

    public func revokeEnrollmentToken(id: String, at: Date) async throws -> Bool {
        try await run("UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, \(seconds(at))) WHERE id = \(id) RETURNING 1") > 0
    }

    public func enroll(_ device: NewDevice, tokenId: String, now: Date) async throws -> Device {
        let id = try await transaction { tx -> String in
            // The token row is locked: two enrollments with a one-use token cannot both pass.
            let found = try await tx.row("SELECT * FROM enrollment_tokens WHERE id = \(tokenId) FOR UPDATE", Self.enrollmentToken(from:))
            let token = try EnrollmentRules.usable(found, now: now)
            try await tx.run("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = \(tokenId)")
            var personGroups: String?
            if let personId = token.personId {
                personGroups = try await tx.row("SELECT group_names FROM persons WHERE id = \(personId)") { try $0.get("group_names", as: String.self) }
            }
            let group = try EnrollmentRules.group(of: token, personGroups: personGroups)
            // One active device per machine: the same machine enrolling again replaces its predecessor.
            try await tx.lock("kontor_machine:" + device.facts.machineIdHash)
            let active = try await tx.row(
                """
                SELECT d.id, d.person_id, d.group_name, p.status AS person_status,
                    EXISTS (SELECT 1 FROM commands c WHERE c.device_id = d.id AND c.type = 'wipe' AND c.state IN ('queued', 'delivered', 'acknowledged')) AS open_wipe
                FROM devices d LEFT JOIN persons p ON p.id = d.person_id
                WHERE d.machine_id_hash = \(device.facts.machineIdHash) AND d.status = 'active' ORDER BY d.enrolled_at DESC LIMIT 1
                """
            ) { row in
                MachineOccupant(
                    deviceId: try row.get("id"), personId: try row.get("person_id"), group: try row.get("group_name"), personStatus: try row.get("person_status"),
                    hasOpenWipe: try row.get("open_wipe"))
            }
            let predecessor = active?.deviceId
            if let active {
                try EnrollmentRules.checkReplaceable(active, token: token, group: group)
                try await tx.run("UPDATE devices SET status = 'replaced', revoked_at = COALESCE(revoked_at, \(seconds(now))) WHERE id = \(active.deviceId)")
            }
            let facts = try encodeJSON(device.facts)
            let inserted = try await tx.run(
                """
                INSERT INTO devices (id, person_id, group_name, status, key_id, public_key, facts, machine_id_hash, enrolled_at,
                                     enrollment_token_id, predecessor_id, accepted_terms_version)
                VALUES (\(device.id), \(token.personId), \(group), 'active', \(device.keyId), \(device.publicKey), \(facts), \(device.facts.machineIdHash),
                        \(seconds(now)), \(tokenId), \(predecessor), \(device.acceptedTermsVersion))
                ON CONFLICT DO NOTHING RETURNING 1
                """)
            guard inserted == 1 else { throw StoreError.conflict("device id or key already enrolled") }
            if let terms = device.acceptedTermsVersion {
                try await tx.run(
                    "INSERT INTO consent_records (device_id, person_id, terms_version, accepted_at) VALUES (\(device.id), \(token.personId), \(terms), \(seconds(now)))"
                )
            }
            return device.id
        }
        guard let enrolled = try await self.device(id: id) else { throw StoreError.notFound("device \(id)") }
        return enrolled
    }

    static func enrollmentToken(from row: PostgresRandomAccessRow) throws -> EnrollmentToken {
        EnrollmentToken(
            id: try row.get("id"), personId: try row.get("person_id"), group: try row.get("group_name"), maxUses: try row.get("max_uses"),
            uses: try row.get("uses"), expiresAt: date(try row.get("expires_at"))!, createdAt: date(try row.get("created_at"))!,
            revokedAt: date(try row.get("revoked_at")), createdBy: try row.get("created_by"))
    }
}

extension PostgresStore: DeviceStore {
    static let deviceSelect = "SELECT d.*, (SELECT s.id FROM devices s WHERE s.predecessor_id = d.id) AS successor_id FROM devices d"

    public func device(id: String) async throws -> Device? {
        try await row("\(unescaped: Self.deviceSelect) WHERE d.id = \(id)", Self.device(from:))
    }

    public func device(keyId: String) async throws -> Device? {
        try await row("\(unescaped: Self.deviceSelect) WHERE d.key_id = \(keyId)", Self.device(from:))
    }

    public func devices(personId: String?) async throws -> [Device] {
        if let personId {
            return try await rows("\(unescaped: Self.deviceSelect) WHERE d.person_id = \(personId) ORDER BY d.enrolled_at, d.id", Self.device(from:))
        }
        return try await rows("\(unescaped: Self.deviceSelect) ORDER BY d.enrolled_at, d.id", Self.device(from:))
    }

    public func deviceSummaries() async throws -> [DeviceSummary] {
        do {
            var out: [DeviceSummary] = []
            let sequence = try await client.query(
                """
                SELECT id, key_id, person_id, group_name, status, facts::jsonb ->> 'hostname', facts::jsonb ->> 'agentVersion', enrolled_at, last_seen_at,
                    applied_policy_hash, wipe_confirmed_at, COALESCE(jsonb_array_length(compliance::jsonb -> 'violations'), 0)
                FROM devices ORDER BY enrolled_at, id
                """, logger: logger)
            for try await (id, keyId, personId, group, status, hostname, agentVersion, enrolledAt, lastSeen, applied, wiped, violations) in sequence.decode(
                (String, String, String?, String?, String, String?, String?, Double, Double?, String?, Double?, Int).self)
            {
                out.append(
                    DeviceSummary(
                        id: id, keyId: keyId, personId: personId, group: group, status: DeviceStatus(rawValue: status) ?? .revoked, hostname: hostname ?? "",
                        agentVersion: agentVersion ?? "", enrolledAt: Date(timeIntervalSince1970: enrolledAt), lastSeen: date(lastSeen), appliedPolicyHash: applied,
                        wipeConfirmedAt: date(wiped), violations: violations))
            }
            return out
        } catch {
            throw PostgresErrors.map(error)
        }
    }

    public func activeDevices(after: String?, limit: Int) async throws -> [Device] {
        try await rows(
            "\(unescaped: Self.deviceSelect) WHERE d.status = 'active' AND d.id > \(after ?? "") ORDER BY d.id LIMIT \(max(0, limit))", Self.device(from:))
    }

    public func deviceCount() async throws -> Int {
        try await row("SELECT COUNT(*) AS n FROM devices") { try $0.get("n", as: Int.self) } ?? 0
    }

    public func revokeDevice(id: String, at: Date) async throws -> Bool {
        try await run(
            """
            UPDATE devices SET status = CASE WHEN status = 'active' THEN 'revoked' ELSE status END, revoked_at = COALESCE(revoked_at, \(seconds(at)))
            WHERE id = \(id) RETURNING 1
            """) > 0
    }

    static func device(from row: PostgresRandomAccessRow) throws -> Device {
        Device(
            id: try row.get("id"), personId: try row.get("person_id"), group: try row.get("group_name"),
            status: DeviceStatus(rawValue: try row.get("status")) ?? .revoked, keyId: try row.get("key_id"), publicKey: try row.get("public_key"),
            facts: try decodeJSON(DeviceFacts.self, try row.get("facts", as: String.self))!, enrolledAt: date(try row.get("enrolled_at"))!,
            lastSeen: date(try row.get("last_seen_at")), appliedPolicyHash: try row.get("applied_policy_hash"),
            agentStatus: try decodeJSON(AgentReport.self, try row.get("agent_status")), predecessorId: try row.get("predecessor_id"),
            successorId: try row.get("successor_id"), acceptedTermsVersion: try row.get("accepted_terms_version"), revokedAt: date(try row.get("revoked_at")),
            compliance: try decodeJSON(ComplianceReport.self, try row.get("compliance")), wipeConfirmedAt: date(try row.get("wipe_confirmed_at")),
            wipeReceiptId: try row.get("wipe_receipt_id"))
    }
}

extension PostgresStore: CheckinStore {
    public func recordCheckins(_ records: [CheckinRecord]) async throws {
        guard !records.isEmpty else { return }
        try await transaction { tx in
            for record in records {
                // Several instances write the same device: the time only moves forward, and a report
                // replaces the stored one only if it is not older than the last check-in written.
                try await tx.run(
                    """
                    UPDATE devices SET
                        applied_policy_hash = CASE WHEN COALESCE(last_seen_at, 0) <= \(seconds(record.at)) THEN COALESCE(\(record.appliedPolicyHash), applied_policy_hash) ELSE applied_policy_hash END,
                        agent_status = CASE WHEN COALESCE(last_seen_at, 0) <= \(seconds(record.at)) THEN COALESCE(\(try encodeJSON(record.status)), agent_status) ELSE agent_status END,
                        facts = CASE WHEN COALESCE(last_seen_at, 0) <= \(seconds(record.at)) THEN COALESCE(\(try encodeJSON(record.facts)), facts) ELSE facts END,
                        compliance = CASE WHEN COALESCE(last_seen_at, 0) <= \(seconds(record.at)) THEN COALESCE(\(try encodeJSON(record.compliance)), compliance) ELSE compliance END,
                        last_seen_at = GREATEST(COALESCE(last_seen_at, 0), \(seconds(record.at)))
                    WHERE id = \(record.deviceId)
                    """)
            }
        }
    }

    public func appendEvents(deviceId: String, _ events: [DeviceEvent]) async throws {
        guard !events.isEmpty else { return }
        try await transaction { tx in
            for e in events {
                try await tx.run("INSERT INTO device_events (device_id, at, kind, detail) VALUES (\(deviceId), \(seconds(e.at)), \(e.kind), \(e.detail))")
            }
        }
    }

    public func events(deviceId: String, limit: Int) async throws -> [DeviceEvent] {
        try await rows("SELECT * FROM device_events WHERE device_id = \(deviceId) ORDER BY id DESC LIMIT \(limit)") {
            DeviceEvent(at: date(try $0.get("at"))!, kind: try $0.get("kind"), detail: try $0.get("detail"))
        }
    }
}

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
        try await rows("SELECT * FROM profile_revisions WHERE name = \(name) ORDER BY revision", Self.revision(from:))
    }

    public func latestProfiles() async throws -> [ProfileRevision] {
        try await rows("SELECT DISTINCT ON (name) * FROM profile_revisions ORDER BY name, revision DESC", Self.revision(from:))
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
        try await rows("SELECT * FROM profile_assignments ORDER BY scope, target") {
            ProfileAssignment(
                scope: try $0.get("scope"), target: try $0.get("target"), profile: try $0.get("profile_name"), assignedAt: date(try $0.get("assigned_at"))!,
                assignedBy: try $0.get("assigned_by"))
        }
    }

    static func revision(from row: PostgresRandomAccessRow) throws -> ProfileRevision {
        ProfileRevision(
            name: try row.get("name"), revision: try row.get("revision"), source: try row.get("source"),
            profile: try decodeJSON(Profile.self, try row.get("document", as: String.self))!, createdAt: date(try row.get("created_at"))!,
            createdBy: try row.get("created_by"))
    }
}

extension PostgresStore: AuditStore {
    public func appendAudit(at: Date, actor: String, action: String, target: String?, detail: [String: String]?) async throws -> AuditEntry {
        try await transaction { tx in
            // One writer at a time across every instance: the chain has no forks.
            try await tx.lock("kontor_audit")
            let last = try await tx.row("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1", Self.audit(from:))
            let entry = AuditChain.entry(after: last, at: at, actor: actor, action: action, target: target, detail: detail)
            try await tx.run(
                """
                INSERT INTO audit_log (seq, at, actor, action, target, detail, previous_hash, hash)
                VALUES (\(entry.seq), \(seconds(entry.at)), \(entry.actor), \(entry.action), \(entry.target), \(try encodeJSON(entry.detail)),
                        \(entry.previousHash), \(entry.hash))
                """)
            return entry
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
        try await rows("SELECT * FROM audit_log WHERE seq > \(seq) ORDER BY seq LIMIT \(max(0, limit))", Self.audit(from:))
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
        return try await rows(query, Self.audit(from:))
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

    static func audit(from row: PostgresRandomAccessRow) throws -> AuditEntry {
        AuditEntry(
            seq: try row.get("seq"), at: date(try row.get("at"))!, actor: try row.get("actor"), action: try row.get("action"), target: try row.get("target"),
            detail: try decodeJSON([String: String].self, try row.get("detail")), previousHash: try row.get("previous_hash"), hash: try row.get("hash"))
    }
}

extension PostgresStore: StoreHealth {
    public func ping() async throws { try await run("SELECT 1") }
}

extension PostgresStore: ConsoleSessionStore {
    public func insertConsoleSession(_ session: StoredConsoleSession) async throws {
        do {
            try await run(
                """
                INSERT INTO console_sessions (id, secret_hash, token_id, created_at, last_seen_at, expires_at)
                VALUES (\(session.id), \(session.secretHash), \(session.tokenId), \(seconds(session.createdAt)), \(seconds(session.lastSeenAt)),
                        \(seconds(session.expiresAt)))
                """)
        } catch where PostgresErrors.isForeignKeyViolation(error) {
            throw StoreError.notFound("API token \(session.tokenId)")
        } catch where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.conflict("console session \(session.id) exists")
        }
    }

    public func consoleSession(id: String) async throws -> StoredConsoleSession? {
        try await row("SELECT * FROM console_sessions WHERE id = \(id)") {
            StoredConsoleSession(
                id: try $0.get("id"), secretHash: try $0.get("secret_hash"), tokenId: try $0.get("token_id"), createdAt: date(try $0.get("created_at"))!,
                lastSeenAt: date(try $0.get("last_seen_at"))!, expiresAt: date(try $0.get("expires_at"))!)
        }
    }

    public func touchConsoleSession(id: String, at: Date) async throws {
        try await run("UPDATE console_sessions SET last_seen_at = GREATEST(last_seen_at, \(seconds(at))) WHERE id = \(id)")
    }

    public func deleteConsoleSession(id: String) async throws -> Bool {
        try await run("DELETE FROM console_sessions WHERE id = \(id) RETURNING 1") > 0
    }

    public func deleteConsoleSessions(tokenId: String) async throws {
        try await run("DELETE FROM console_sessions WHERE token_id = \(tokenId)")
    }

    public func deleteExpiredConsoleSessions(now: Date, idleBefore: Date) async throws -> Int {
        try await run("DELETE FROM console_sessions WHERE expires_at <= \(seconds(now)) OR last_seen_at < \(seconds(idleBefore)) RETURNING 1")
    }
}

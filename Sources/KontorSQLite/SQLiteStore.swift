import Foundation
import GRDB
import KontorCore
import KontorStore

/// The embedded store: one SQLite file in WAL mode behind a GRDB `DatabasePool`, migrated on open.
public final class SQLiteStore: Sendable {
    let writer: any DatabaseWriter

    /// Opens (creating if needed) the database file at `path` and migrates it.
    public convenience init(path: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try self.init(writer: pool)
    }

    /// An in-memory database, for tests.
    public static func inMemory() throws -> SQLiteStore {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        return try SQLiteStore(writer: DatabaseQueue(configuration: configuration))
    }

    init(writer: any DatabaseWriter) throws {
        self.writer = writer
        try Self.migrator.migrate(writer)
    }

    /// Append-only: never edit a migration that has shipped; add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-foundation") { db in
            try db.execute(
                sql: """
                    CREATE TABLE api_tokens (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        role TEXT NOT NULL CHECK (role IN ('auditor', 'operator', 'admin')),
                        secret_hash TEXT NOT NULL,
                        created_at DOUBLE NOT NULL,
                        revoked_at DOUBLE,
                        last_used_at DOUBLE
                    );
                    CREATE TABLE persons (
                        id TEXT PRIMARY KEY NOT NULL,
                        email TEXT NOT NULL,
                        email_key TEXT NOT NULL UNIQUE,
                        display_name TEXT NOT NULL,
                        group_names TEXT NOT NULL,
                        status TEXT NOT NULL CHECK (status IN ('active', 'offboarding', 'offboarded')),
                        created_at DOUBLE NOT NULL
                    );
                    CREATE TABLE enrollment_tokens (
                        id TEXT PRIMARY KEY NOT NULL,
                        secret_hash TEXT NOT NULL,
                        person_id TEXT REFERENCES persons(id),
                        group_name TEXT,
                        max_uses INTEGER NOT NULL CHECK (max_uses > 0),
                        uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
                        expires_at DOUBLE NOT NULL,
                        created_at DOUBLE NOT NULL,
                        revoked_at DOUBLE,
                        created_by TEXT
                    );
                    CREATE TABLE devices (
                        id TEXT PRIMARY KEY NOT NULL,
                        person_id TEXT REFERENCES persons(id),
                        group_name TEXT,
                        status TEXT NOT NULL CHECK (status IN ('active', 'replaced', 'revoked')),
                        key_id TEXT NOT NULL UNIQUE,
                        public_key TEXT NOT NULL UNIQUE,
                        facts TEXT NOT NULL,
                        machine_id_hash TEXT NOT NULL,
                        enrolled_at DOUBLE NOT NULL,
                        enrollment_token_id TEXT REFERENCES enrollment_tokens(id),
                        last_seen_at DOUBLE,
                        applied_policy_hash TEXT,
                        agent_status TEXT,
                        predecessor_id TEXT UNIQUE REFERENCES devices(id),
                        accepted_terms_version TEXT,
                        revoked_at DOUBLE
                    );
                    CREATE INDEX devices_person ON devices(person_id);
                    CREATE INDEX devices_active_machine ON devices(machine_id_hash) WHERE status = 'active';
                    CREATE TABLE consent_records (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        device_id TEXT NOT NULL REFERENCES devices(id),
                        person_id TEXT REFERENCES persons(id),
                        terms_version TEXT NOT NULL,
                        accepted_at DOUBLE NOT NULL
                    );
                    CREATE TABLE settings (
                        key TEXT PRIMARY KEY NOT NULL,
                        value TEXT NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v2-policies") { db in
            try db.execute(
                sql: """
                    CREATE TABLE profile_revisions (
                        name TEXT NOT NULL,
                        revision INTEGER NOT NULL CHECK (revision > 0),
                        source TEXT NOT NULL,
                        document TEXT NOT NULL,
                        created_at DOUBLE NOT NULL,
                        created_by TEXT,
                        PRIMARY KEY (name, revision)
                    );
                    CREATE TABLE profile_assignments (
                        scope TEXT NOT NULL CHECK (scope IN ('default', 'group', 'device')),
                        target TEXT NOT NULL,
                        profile_name TEXT NOT NULL,
                        assigned_at DOUBLE NOT NULL,
                        assigned_by TEXT,
                        PRIMARY KEY (scope, target)
                    );
                    ALTER TABLE devices ADD COLUMN compliance TEXT;
                    CREATE TABLE device_events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        device_id TEXT NOT NULL REFERENCES devices(id),
                        at DOUBLE NOT NULL,
                        kind TEXT NOT NULL,
                        detail TEXT
                    );
                    CREATE INDEX device_events_device ON device_events(device_id, id);
                    """)
        }
        migrator.registerMigration("v3-audit") { db in
            try db.execute(
                sql: """
                    CREATE TABLE audit_log (
                        seq INTEGER PRIMARY KEY,
                        at DOUBLE NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        target TEXT,
                        detail TEXT,
                        previous_hash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE INDEX audit_log_target ON audit_log(target);
                    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    """)
        }
        migrator.registerMigration("v4-commands") { db in
            try db.execute(
                sql: """
                    CREATE TABLE commands (
                        id TEXT PRIMARY KEY NOT NULL,
                        device_id TEXT NOT NULL REFERENCES devices(id),
                        type TEXT NOT NULL CHECK (type IN ('wipe', 'lock', 'unlock', 'sync')),
                        state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'acknowledged', 'succeeded', 'failed', 'cancelled', 'expired')),
                        reason TEXT,
                        issued_at DOUBLE NOT NULL,
                        issued_by TEXT,
                        expires_at DOUBLE,
                        delivered_at DOUBLE,
                        acknowledged_at DOUBLE,
                        completed_at DOUBLE,
                        error TEXT,
                        receipt_id TEXT
                    );
                    CREATE INDEX commands_device ON commands(device_id, issued_at);
                    CREATE INDEX commands_open ON commands(device_id) WHERE state IN ('queued', 'delivered');
                    CREATE TABLE wipe_receipts (
                        id TEXT PRIMARY KEY NOT NULL,
                        device_id TEXT NOT NULL REFERENCES devices(id),
                        command_id TEXT REFERENCES commands(id),
                        trigger TEXT NOT NULL,
                        payload TEXT NOT NULL,
                        signature TEXT NOT NULL,
                        received_at DOUBLE NOT NULL
                    );
                    CREATE INDEX wipe_receipts_device ON wipe_receipts(device_id);
                    CREATE TRIGGER wipe_receipts_no_update BEFORE UPDATE ON wipe_receipts BEGIN SELECT RAISE(ABORT, 'receipts are kept as received'); END;
                    CREATE TRIGGER wipe_receipts_no_delete BEFORE DELETE ON wipe_receipts BEGIN SELECT RAISE(ABORT, 'receipts are kept as received'); END;
                    ALTER TABLE devices ADD COLUMN wipe_confirmed_at DOUBLE;
                    ALTER TABLE devices ADD COLUMN wipe_receipt_id TEXT;
                    CREATE TABLE offboardings (
                        person_id TEXT PRIMARY KEY NOT NULL REFERENCES persons(id),
                        requested_at DOUBLE NOT NULL,
                        requested_by TEXT,
                        wipe_at DOUBLE NOT NULL,
                        restricted_profile TEXT,
                        reason TEXT,
                        wipes_issued_at DOUBLE,
                        completed_at DOUBLE
                    );
                    """)
        }
        migrator.registerMigration("v5-console-sessions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE console_sessions (
                        id TEXT PRIMARY KEY NOT NULL,
                        secret_hash TEXT NOT NULL,
                        token_id TEXT NOT NULL REFERENCES api_tokens(id),
                        created_at DOUBLE NOT NULL,
                        last_seen_at DOUBLE NOT NULL,
                        expires_at DOUBLE NOT NULL
                    );
                    CREATE INDEX console_sessions_token ON console_sessions(token_id);
                    """)
        }
        migrator.registerMigration("v6-replay-nonces") { db in
            // Nonces of accepted device signatures that a restart could not otherwise refuse (SQLiteStore+Nonces).
            try db.execute(
                sql: """
                    CREATE TABLE replay_nonces (hash TEXT PRIMARY KEY NOT NULL, expires_at DOUBLE NOT NULL);
                    CREATE INDEX replay_nonces_expiry ON replay_nonces(expires_at);
                    """)
        }
        return migrator
    }
}


extension SQLiteStore: APITokenStore {
    public func insertAPIToken(_ stored: StoredAPIToken) async throws {
        let t = stored.token
        try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO api_tokens (id, name, role, secret_hash, created_at, revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [t.id, t.name, t.role.rawValue, stored.secretHash, seconds(t.createdAt), seconds(t.revokedAt), seconds(t.lastUsedAt)])
        }
    }

    public func apiToken(id: String) async throws -> StoredAPIToken? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_tokens WHERE id = ?", arguments: [id]).map {
                StoredAPIToken(token: try Self.apiToken(from: $0), secretHash: $0["secret_hash"])
            }
        }
    }

    public func apiTokens() async throws -> [APIToken] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_tokens ORDER BY created_at, id").map(Self.apiToken(from:))
        }
    }

    public func revokeAPIToken(id: String, at: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [seconds(at), id])
            return db.changesCount > 0
        }
    }

    public func touchAPIToken(id: String, at: Date) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)", arguments: [seconds(at), id, seconds(at)])
        }
    }

    private static func apiToken(from row: Row) throws -> APIToken {
        guard let role = Role(rawValue: row["role"]) else { throw StoreError.notFound("role \(row["role"] as String)") }
        return APIToken(
            id: row["id"], name: row["name"], role: role, createdAt: date(row["created_at"])!, revokedAt: date(row["revoked_at"]),
            lastUsedAt: date(row["last_used_at"]))
    }
}

extension SQLiteStore: PersonStore {
    public func insertPerson(_ person: Person) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: "INSERT INTO persons (id, email, email_key, display_name, group_names, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [
                        person.id, person.email, person.email.lowercased(), person.displayName, try encodeJSON(person.groups),
                        person.status.rawValue, seconds(person.createdAt),
                    ])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw StoreError.conflict("a person with email \(person.email) exists")
        }
    }

    public func person(id: String) async throws -> Person? {
        try await writer.read { db in try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM persons WHERE id = ?"), arguments: [id]).map(Self.person(from:)) }
    }

    public func person(email: String) async throws -> Person? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM persons WHERE email_key = ?", arguments: [email.lowercased()]).map(Self.person(from:))
        }
    }

    public func persons() async throws -> [Person] {
        try await writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM persons ORDER BY email_key").map(Self.person(from:)) }
    }

    private static func person(from row: Row) throws -> Person {
        Person(
            id: row["id"], email: row["email"], displayName: row["display_name"],
            groups: try decodeJSON([String].self, row["group_names"]) ?? [], status: PersonStatus(rawValue: row["status"]) ?? .active,
            createdAt: date(row["created_at"])!)
    }
}

extension SQLiteStore: EnrollmentStore {
    public func insertEnrollmentToken(_ stored: StoredEnrollmentToken) async throws {
        let t = stored.token
        do {
            try await writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO enrollment_tokens (id, secret_hash, person_id, group_name, max_uses, uses, expires_at, created_at, revoked_at, created_by)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        t.id, stored.secretHash, t.personId, t.group, t.maxUses, t.uses, seconds(t.expiresAt), seconds(t.createdAt),
                        seconds(t.revokedAt), t.createdBy,
                    ])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
            throw StoreError.notFound("person \(t.personId ?? "")")
        }
    }

    public func enrollmentToken(id: String) async throws -> StoredEnrollmentToken? {
        try await writer.read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM enrollment_tokens WHERE id = ?"), arguments: [id]).map {
                StoredEnrollmentToken(token: Self.enrollmentToken(from: $0), secretHash: $0["secret_hash"])
            }
        }
    }

    public func enrollmentTokens() async throws -> [EnrollmentToken] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM enrollment_tokens ORDER BY created_at DESC, id DESC").map(Self.enrollmentToken(from:))
        }
    }

    public func revokeEnrollmentToken(id: String, at: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [seconds(at), id])
            return db.changesCount > 0
        }
    }

    public func enroll(_ device: NewDevice, tokenId: String, now: Date) async throws -> Device {
        let id = try await writer.write { db -> String in
            let found = try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM enrollment_tokens WHERE id = ?"), arguments: [tokenId])
            let token = try EnrollmentRules.usable(found.map(Self.enrollmentToken(from:)), now: now)
            try db.cachedStatement(sql: "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?").execute(arguments: [tokenId])
            var personGroups: String?
            if let personId = token.personId {
                personGroups = try String.fetchOne(try db.cachedStatement(sql: "SELECT group_names FROM persons WHERE id = ?"), arguments: [personId])
            }
            let group = try EnrollmentRules.group(of: token, personGroups: personGroups)
            let active = try Row.fetchOne(
                try db.cachedStatement(
                    sql: """
                        SELECT d.id, d.person_id, d.group_name, p.status AS person_status,
                            EXISTS (SELECT 1 FROM commands c WHERE c.device_id = d.id AND c.type = 'wipe' AND c.state IN ('queued', 'delivered', 'acknowledged')) AS open_wipe
                        FROM devices d LEFT JOIN persons p ON p.id = d.person_id
                        WHERE d.machine_id_hash = ? AND d.status = 'active' ORDER BY d.enrolled_at DESC LIMIT 1
                        """),
                arguments: [device.facts.machineIdHash]
            ).map {
                MachineOccupant(
                    deviceId: $0["id"], personId: $0["person_id"], group: $0["group_name"], personStatus: $0["person_status"], hasOpenWipe: $0["open_wipe"])
            }
            // One active device per machine: the same machine enrolling again replaces its predecessor.
            let predecessor = active?.deviceId
            if let active {
                try EnrollmentRules.checkReplaceable(active, token: token, group: group)
                try db.execute(
                    sql: "UPDATE devices SET status = 'replaced', revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                    arguments: [seconds(now), active.deviceId])
            }
            do {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO devices (id, person_id, group_name, status, key_id, public_key, facts, machine_id_hash, enrolled_at,
                                             enrollment_token_id, predecessor_id, accepted_terms_version)
                        VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(
                    arguments: [
                        device.id, token.personId, group, device.keyId, device.publicKey, try encodeJSON(device.facts),
                        device.facts.machineIdHash, seconds(now), tokenId, predecessor, device.acceptedTermsVersion,
                    ])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw StoreError.conflict("device id or key already enrolled")
            }
            if let terms = device.acceptedTermsVersion {
                try db.execute(
                    sql: "INSERT INTO consent_records (device_id, person_id, terms_version, accepted_at) VALUES (?, ?, ?, ?)",
                    arguments: [device.id, token.personId, terms, seconds(now)])
            }
            return device.id
        }
        guard let enrolled = try await self.device(id: id) else { throw StoreError.notFound("device \(id)") }
        return enrolled
    }

    private static func enrollmentToken(from row: Row) -> EnrollmentToken {
        EnrollmentToken(
            id: row["id"], personId: row["person_id"], group: row["group_name"], maxUses: row["max_uses"], uses: row["uses"],
            expiresAt: date(row["expires_at"])!, createdAt: date(row["created_at"])!, revokedAt: date(row["revoked_at"]),
            createdBy: row["created_by"])
    }
}

extension SQLiteStore: DeviceStore {
    private static let deviceSelect = """
        SELECT d.*, (SELECT s.id FROM devices s WHERE s.predecessor_id = d.id) AS successor_id FROM devices d
        """

    public func device(id: String) async throws -> Device? {
        try await writer.read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "\(Self.deviceSelect) WHERE d.id = ?"), arguments: [id]).map(Self.device(from:))
        }
    }

    public func device(keyId: String) async throws -> Device? {
        // Every check-in: the prepared statement is kept per connection.
        try await writer.read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "\(Self.deviceSelect) WHERE d.key_id = ?"), arguments: [keyId]).map(Self.device(from:))
        }
    }

    public func devices(personId: String?) async throws -> [Device] {
        try await writer.read { db in
            if let personId {
                return try Row.fetchAll(db, sql: "\(Self.deviceSelect) WHERE d.person_id = ? ORDER BY d.enrolled_at, d.id", arguments: [personId])
                    .map(Self.device(from:))
            }
            return try Row.fetchAll(db, sql: "\(Self.deviceSelect) ORDER BY d.enrolled_at, d.id").map(Self.device(from:))
        }
    }

    public func deviceSummaries() async throws -> [DeviceSummary] {
        try await writer.read { db in
            // Columns by position and a cursor: a listing of 100,000 devices reads in a fraction of a second.
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, key_id, person_id, group_name, status, json_extract(facts, '$.hostname'), json_extract(facts, '$.agentVersion'),
                        enrolled_at, last_seen_at, applied_policy_hash, wipe_confirmed_at, COALESCE(json_array_length(compliance, '$.violations'), 0)
                    FROM devices ORDER BY enrolled_at, id
                    """)
            var out: [DeviceSummary] = []
            while let row = try rows.next() {
                out.append(
                    DeviceSummary(
                        id: row[0], keyId: row[1], personId: row[2], group: row[3], status: DeviceStatus(rawValue: row[4]) ?? .revoked,
                        hostname: row[5] ?? "", agentVersion: row[6] ?? "", enrolledAt: Date(timeIntervalSince1970: row[7]),
                        lastSeen: date(row[8]), appliedPolicyHash: row[9], wipeConfirmedAt: date(row[10]), violations: row[11]))
            }
            return out
        }
    }

    public func activeDevices(after: String?, limit: Int) async throws -> [Device] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "\(Self.deviceSelect) WHERE d.status = 'active' AND d.id > ? ORDER BY d.id LIMIT ?", arguments: [after ?? "", max(0, limit)]
            ).map(Self.device(from:))
        }
    }

    public func deviceCount() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices") ?? 0 }
    }

    public func revokeDevice(id: String, at: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE devices SET status = CASE WHEN status = 'active' THEN 'revoked' ELSE status END, revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                arguments: [seconds(at), id])
            return db.changesCount > 0
        }
    }

    private static func device(from row: Row) throws -> Device {
        Device(
            id: row["id"], personId: row["person_id"], group: row["group_name"],
            status: DeviceStatus(rawValue: row["status"]) ?? .revoked, keyId: row["key_id"], publicKey: row["public_key"],
            facts: try decodeJSON(DeviceFacts.self, row["facts"])!, enrolledAt: date(row["enrolled_at"])!,
            lastSeen: date(row["last_seen_at"]), appliedPolicyHash: row["applied_policy_hash"],
            agentStatus: try decodeJSON(AgentReport.self, row["agent_status"]), predecessorId: row["predecessor_id"],
            successorId: row["successor_id"], acceptedTermsVersion: row["accepted_terms_version"], revokedAt: date(row["revoked_at"]),
            compliance: try decodeJSON(ComplianceReport.self, row["compliance"]), wipeConfirmedAt: date(row["wipe_confirmed_at"]),
            wipeReceiptId: row["wipe_receipt_id"])
    }
}

extension SQLiteStore: CheckinStore {
    public func recordCheckins(_ records: [CheckinRecord]) async throws {
        guard !records.isEmpty else { return }
        try await writer.write { db in
            let statement = try db.cachedStatement(
                sql: """
                    UPDATE devices SET
                        applied_policy_hash = CASE WHEN COALESCE(last_seen_at, 0) <= :at THEN COALESCE(:applied, applied_policy_hash) ELSE applied_policy_hash END,
                        agent_status = CASE WHEN COALESCE(last_seen_at, 0) <= :at THEN COALESCE(:status, agent_status) ELSE agent_status END,
                        facts = CASE WHEN COALESCE(last_seen_at, 0) <= :at THEN COALESCE(:facts, facts) ELSE facts END,
                        compliance = CASE WHEN COALESCE(last_seen_at, 0) <= :at THEN COALESCE(:compliance, compliance) ELSE compliance END,
                        last_seen_at = MAX(COALESCE(last_seen_at, 0), :at)
                    WHERE id = :id
                    """)
            // A report older than the last check-in written (a slow flush) never replaces a newer one.
            for record in records {
                try statement.execute(arguments: [
                    "at": seconds(record.at), "applied": record.appliedPolicyHash, "status": try encodeJSON(record.status), "facts": try encodeJSON(record.facts),
                    "compliance": try encodeJSON(record.compliance), "id": record.deviceId,
                ])
            }
        }
    }

    public func appendEvents(deviceId: String, _ events: [DeviceEvent]) async throws {
        guard !events.isEmpty else { return }
        try await writer.write { db in
            for e in events {
                try db.execute(
                    sql: "INSERT INTO device_events (device_id, at, kind, detail) VALUES (?, ?, ?, ?)", arguments: [deviceId, seconds(e.at), e.kind, e.detail])
            }
        }
    }

    public func events(deviceId: String, limit: Int) async throws -> [DeviceEvent] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM device_events WHERE device_id = ? ORDER BY id DESC LIMIT ?", arguments: [deviceId, limit]).map {
                DeviceEvent(at: date($0["at"])!, kind: $0["kind"], detail: $0["detail"])
            }
        }
    }
}

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
            try Row.fetchAll(db, sql: "SELECT * FROM profile_revisions WHERE name = ? ORDER BY revision", arguments: [name]).map(Self.revision(from:))
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
            ).map(Self.revision(from:))
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
            try Row.fetchAll(db, sql: "SELECT * FROM profile_assignments ORDER BY scope, target").map {
                ProfileAssignment(scope: $0["scope"], target: $0["target"], profile: $0["profile_name"], assignedAt: date($0["assigned_at"])!, assignedBy: $0["assigned_by"])
            }
        }
    }

    private static func revision(from row: Row) throws -> ProfileRevision {
        ProfileRevision(
            name: row["name"], revision: row["revision"], source: row["source"], profile: try decodeJSON(Profile.self, row["document"])!,
            createdAt: date(row["created_at"])!, createdBy: row["created_by"])
    }
}

extension SQLiteStore: AuditStore {
    public func appendAudit(at: Date, actor: String, action: String, target: String?, detail: [String: String]?) async throws -> AuditEntry {
        try await writer.write { db in
            let last = try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")).map(Self.audit(from:))
            let entry = AuditChain.entry(after: last, at: at, actor: actor, action: action, target: target, detail: detail)
            try db.cachedStatement(sql: "INSERT INTO audit_log (seq, at, actor, action, target, detail, previous_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").execute(
                arguments: [entry.seq, seconds(entry.at), entry.actor, entry.action, entry.target, try encodeJSON(entry.detail), entry.previousHash, entry.hash])
            return entry
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
            return try Row.fetchAll(db, sql: sql + " ORDER BY seq", arguments: arguments).map(Self.audit(from:))
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
            let entries = try Row.fetchAll(db, sql: "SELECT * FROM audit_log \(clause) ORDER BY seq DESC LIMIT ? OFFSET ?", arguments: arguments + [limit, offset])
                .map(Self.audit(from:))
            return (entries, total)
        }
    }

    public func auditEntries(afterSeq seq: Int, limit: Int) async throws -> [AuditEntry] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, max(0, limit)]).map(Self.audit(from:))
        }
    }

    private static func audit(from row: Row) throws -> AuditEntry {
        AuditEntry(
            seq: row["seq"], at: date(row["at"])!, actor: row["actor"], action: row["action"], target: row["target"],
            detail: try decodeJSON([String: String].self, row["detail"]), previousHash: row["previous_hash"], hash: row["hash"])
    }
}

extension SQLiteStore: StoreHealth {
    public func ping() async throws {
        _ = try await writer.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }
}

import Foundation
import GRDB
import KontorCore
import KontorStore

extension SQLiteStore: DeviceStore {
    static let deviceSelect = """
        SELECT d.*, (SELECT s.id FROM devices s WHERE s.predecessor_id = d.id) AS successor_id FROM devices d
        """

    public func device(id: String) async throws -> Device? {
        try await writer.read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "\(Self.deviceSelect) WHERE d.id = ?"), arguments: [id]).map(Self.record)
        }
    }

    public func device(keyId: String) async throws -> Device? {
        // Every check-in: the prepared statement is kept per connection.
        try await writer.read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "\(Self.deviceSelect) WHERE d.key_id = ?"), arguments: [keyId]).map(Self.record)
        }
    }

    public func devices(personId: String?) async throws -> [Device] {
        try await writer.read { db in
            if let personId {
                return try Row.fetchAll(db, sql: "\(Self.deviceSelect) WHERE d.person_id = ? ORDER BY d.enrolled_at, d.id", arguments: [personId])
                    .map(Self.record)
            }
            return try Row.fetchAll(db, sql: "\(Self.deviceSelect) ORDER BY d.enrolled_at, d.id").map(Self.record)
        }
    }

    public func deviceSummaries() async throws -> [DeviceSummary] {
        try await writer.read { db in
            // Columns by position and a cursor: a listing of 100,000 devices reads in a fraction of a second.
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, key_id, person_id, group_name, status, json_extract(facts, '$.hostname'), json_extract(facts, '$.agentVersion'),
                        enrolled_at, last_seen_at, applied_policy_hash, wipe_confirmed_at, COALESCE(json_array_length(compliance, '$.violations'), 0),
                        json_extract(facts, '$.posture.diskEncryption.state'), json_extract(facts, '$.posture.updates.listsUpdatedAt'),
                        json_extract(facts, '$.posture.updates.lastUpgradeAt'), ownership
                    FROM devices ORDER BY enrolled_at, id
                    """)
            var out: [DeviceSummary] = []
            while let row = try rows.next() {
                out.append(
                    DeviceSummary(
                        id: row[0], keyId: row[1], personId: row[2], group: row[3], status: DeviceStatus(rawValue: row[4]) ?? .revoked,
                        hostname: row[5] ?? "", agentVersion: row[6] ?? "", enrolledAt: Date(timeIntervalSince1970: row[7]),
                        lastSeen: date(row[8]), appliedPolicyHash: row[9], wipeConfirmedAt: date(row[10]), violations: row[11],
                        posture: PostureSummary(storedState: row[12], listsUpdatedAt: row[13], lastUpgradeAt: row[14]),
                        ownership: Ownership(rawValue: row[15]) ?? .personal))
            }
            return out
        }
    }

    public func activeDevices(after: String?, limit: Int) async throws -> [Device] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "\(Self.deviceSelect) WHERE d.status = 'active' AND d.id > ? ORDER BY d.id LIMIT ?", arguments: [after ?? "", max(0, limit)]
            ).map(Self.record)
        }
    }

    public func deviceCount() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices") ?? 0 }
    }

    public func revokeDevice(id: String, at: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql:
                    "UPDATE devices SET status = CASE WHEN status = 'active' THEN 'revoked' ELSE status END, revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                arguments: [seconds(at), id])
            return db.changesCount > 0
        }
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
                    "at": seconds(record.at), "applied": record.appliedPolicyHash, "status": try encodeJSON(record.status),
                    "facts": try encodeJSON(record.facts),
                    "compliance": try encodeJSON(record.compliance), "id": record.deviceId,
                ])
            }
        }
    }

    @discardableResult
    public func appendEvents(deviceId: String, _ events: [DeviceEvent]) async throws -> [DeviceEvent] {
        guard !events.isEmpty else { return [] }
        return try await writer.write { db in
            var stored: [DeviceEvent] = []
            for e in events {
                try db.execute(
                    sql: """
                        INSERT INTO device_events (device_id, at, kind, detail, event_id) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (device_id, event_id) WHERE event_id IS NOT NULL DO NOTHING
                        """,
                    arguments: [deviceId, seconds(e.at), e.kind, e.detail, e.id])
                if db.changesCount > 0 { stored.append(e) }
            }
            return stored
        }
    }

    public func events(deviceId: String, limit: Int) async throws -> [DeviceEvent] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM device_events WHERE device_id = ? ORDER BY id DESC LIMIT ?", arguments: [deviceId, limit]).map(Self.record)
        }
    }
}

import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: DeviceStore {
    static let deviceSelect = "SELECT d.*, (SELECT s.id FROM devices s WHERE s.predecessor_id = d.id) AS successor_id FROM devices d"

    public func device(id: String) async throws -> Device? {
        try await row("\(unescaped: Self.deviceSelect) WHERE d.id = \(id)", Self.record)
    }

    public func device(keyId: String) async throws -> Device? {
        try await row("\(unescaped: Self.deviceSelect) WHERE d.key_id = \(keyId)", Self.record)
    }

    public func devices(personId: String?) async throws -> [Device] {
        if let personId {
            return try await rows("\(unescaped: Self.deviceSelect) WHERE d.person_id = \(personId) ORDER BY d.enrolled_at, d.id", Self.record)
        }
        return try await rows("\(unescaped: Self.deviceSelect) ORDER BY d.enrolled_at, d.id", Self.record)
    }

    public func deviceSummaries() async throws -> [DeviceSummary] {
        do {
            var out: [DeviceSummary] = []
            let sequence = try await client.query(
                """
                SELECT id, key_id, person_id, group_name, status, facts::jsonb ->> 'hostname', facts::jsonb ->> 'agentVersion', enrolled_at, last_seen_at,
                    applied_policy_hash, wipe_confirmed_at, COALESCE(jsonb_array_length(compliance::jsonb -> 'violations'), 0),
                    facts::jsonb #>> '{posture,diskEncryption,state}', facts::jsonb #>> '{posture,updates,listsUpdatedAt}',
                    facts::jsonb #>> '{posture,updates,lastUpgradeAt}', ownership
                FROM devices ORDER BY enrolled_at, id
                """, logger: logger)
            for try await (
                id, keyId, personId, group, status, hostname, agentVersion, enrolledAt, lastSeen, applied, wiped, violations, disk, lists, upgrade, owner
            )
                in sequence.decode(
                    (String, String, String?, String?, String, String?, String?, Double, Double?, String?, Double?, Int, String?, String?, String?, String)
                        .self)
            {
                out.append(
                    DeviceSummary(
                        id: id, keyId: keyId, personId: personId, group: group, status: DeviceStatus(rawValue: status) ?? .revoked, hostname: hostname ?? "",
                        agentVersion: agentVersion ?? "", enrolledAt: Date(timeIntervalSince1970: enrolledAt), lastSeen: date(lastSeen),
                        appliedPolicyHash: applied,
                        wipeConfirmedAt: date(wiped), violations: violations,
                        posture: PostureSummary(storedState: disk, listsUpdatedAt: lists, lastUpgradeAt: upgrade),
                        ownership: Ownership(rawValue: owner) ?? .personal))
            }
            return out
        } catch {
            throw PostgresErrors.map(error)
        }
    }

    public func activeDevices(after: String?, limit: Int) async throws -> [Device] {
        try await rows(
            "\(unescaped: Self.deviceSelect) WHERE d.status = 'active' AND d.id > \(after ?? "") ORDER BY d.id LIMIT \(max(0, limit))", Self.record)
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

    @discardableResult
    public func appendEvents(deviceId: String, _ events: [DeviceEvent]) async throws -> [DeviceEvent] {
        guard !events.isEmpty else { return [] }
        return try await transaction { tx in
            var stored: [DeviceEvent] = []
            for e in events {
                let inserted = try await tx.run(
                    """
                    INSERT INTO device_events (device_id, at, kind, detail, event_id) VALUES (\(deviceId), \(seconds(e.at)), \(e.kind), \(e.detail), \(e.id))
                    ON CONFLICT (device_id, event_id) WHERE event_id IS NOT NULL DO NOTHING RETURNING 1
                    """)
                if inserted > 0 { stored.append(e) }
            }
            return stored
        }
    }

    public func events(deviceId: String, limit: Int) async throws -> [DeviceEvent] {
        try await rows("SELECT * FROM device_events WHERE device_id = \(deviceId) ORDER BY id DESC LIMIT \(limit)", Self.record)
    }
}

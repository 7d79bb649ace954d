import Foundation
import KontorCore
import KontorStore
import PostgresNIO

/// The console's fleet queries (migration v16). Sort keys compare byte by byte (`COLLATE "C"`), as on SQLite.
extension PostgresStore: FleetStore {
    public func expectedPolicyInputs(all: Bool) async throws -> [ExpectedPolicyInputs] {
        let filter = all ? "status = 'active'" : "status = 'active' AND expected_policy_hash IS NULL"
        return try await rows(
            """
            SELECT id, key_id, person_id, group_name, ownership, expected_policy_hash, requires_disk_encryption, max_update_age_days
            FROM devices WHERE \(unescaped: filter) ORDER BY id
            """
        ) { row in
            let hash = try row.get("expected_policy_hash", as: String?.self)
            let disk = try row.get("requires_disk_encryption", as: Int.self) == 1
            let days = try row.get("max_update_age_days", as: Int?.self)
            return ExpectedPolicyInputs(
                deviceId: try row.get("id"), keyId: try row.get("key_id"), personId: try row.get("person_id"), group: try row.get("group_name"),
                ownership: Ownership(rawValue: try row.get("ownership", as: String.self)) ?? .company,
                expected: hash.map { ExpectedPolicy(hash: $0, requiresDiskEncryption: disk, maxUpdateAgeDays: days) })
        }
    }

    public func setExpectedPolicies(_ updates: [ExpectedPolicyUpdate]) async throws {
        guard !updates.isEmpty else { return }
        // One statement for the batch: the new values side by side with the hash each row must still hold
        // (arrays cannot hold NULL here: no update age is -1, no previous hash is empty).
        try await run(
            """
            UPDATE devices d SET expected_policy_hash = u.hash, requires_disk_encryption = u.disk, max_update_age_days = NULLIF(u.days, -1)
            FROM unnest(\(updates.map(\.deviceId))::text[], \(updates.map(\.expected.hash))::text[],
                        \(updates.map { $0.expected.requiresDiskEncryption ? 1 : 0 })::int[], \(updates.map { $0.expected.maxUpdateAgeDays ?? -1 })::int[],
                        \(updates.map { $0.previousHash ?? "" })::text[]) AS u(id, hash, disk, days, previous)
            WHERE d.id = u.id AND d.expected_policy_hash IS NOT DISTINCT FROM NULLIF(u.previous, '')
            """)
    }

    public func fleetCounts(now: Date) async throws -> FleetCounts {
        let groups = try await rows(
            """
            SELECT status, fleet_compliance, ownership, COUNT(*)::bigint AS n, COUNT(*) FILTER (WHERE posture_due_at < \(seconds(now)))::bigint AS due
            FROM devices GROUP BY status, fleet_compliance, ownership
            """
        ) {
            FleetCounts.Group(
                status: try $0.get("status"), compliance: try $0.get("fleet_compliance"), ownership: try $0.get("ownership"),
                count: try $0.get("n", as: Int.self), postureDue: try $0.get("due", as: Int.self))
        }
        let wiped = try await rows("SELECT status, COUNT(*)::bigint AS n FROM devices WHERE wipe_confirmed_at IS NOT NULL GROUP BY status") {
            (status: try $0.get("status", as: String.self), count: try $0.get("n", as: Int.self))
        }
        return FleetCounts(groups: groups, wiped: wiped)
    }

    public func offlineDevices(seenBefore: Date, limit: Int) async throws -> (rows: [FleetRow], total: Int) {
        let before = seconds(seenBefore)
        let total =
            try await row(
                "SELECT COUNT(*)::bigint AS n FROM devices WHERE status = 'active' AND COALESCE(last_seen_at, enrolled_at) < \(before)"
            ) { try $0.get("n", as: Int.self) } ?? 0
        let rows = try await rows(
            """
            SELECT \(unescaped: Self.fleetColumns) FROM devices d LEFT JOIN persons p ON p.id = d.person_id
            WHERE d.status = 'active' AND COALESCE(d.last_seen_at, d.enrolled_at) < \(before)
            ORDER BY COALESCE(d.last_seen_at, d.enrolled_at), d.enrolled_at, d.id LIMIT \(max(0, limit))
            """, Self.fleetRow)
        return (rows, total)
    }

    public func fleetPage(_ query: FleetQuery, now: Date) async throws -> (rows: [FleetRow], total: Int) {
        var filter = Self.fleetFilter(query, now: now)
        let clause = filter.sql.isEmpty ? "" : " WHERE " + filter.sql
        var count = PostgresQuery(unsafeSQL: "SELECT COUNT(*)::bigint AS n FROM devices d" + clause)
        count.binds = filter.binds
        let total = try await row(count) { try $0.get("n", as: Int.self) } ?? 0
        filter.binds.append(max(0, query.limit))
        filter.binds.append(max(0, query.offset))
        var page = PostgresQuery(
            unsafeSQL: "SELECT d.id FROM devices d\(clause) ORDER BY \(Self.fleetOrder(query)) LIMIT $\(filter.binds.count - 1) OFFSET $\(filter.binds.count)")
        page.binds = filter.binds
        let ids = try await rows(page) { try $0.get("id", as: String.self) }
        guard !ids.isEmpty else { return ([], total) }
        let found = try await rows(
            "SELECT \(unescaped: Self.fleetColumns) FROM devices d LEFT JOIN persons p ON p.id = d.person_id WHERE d.id = ANY(\(ids)::text[])", Self.fleetRow)
        let byId = Dictionary(uniqueKeysWithValues: found.map { ($0.summary.id, $0) })
        return (ids.compactMap { byId[$0] }, total)
    }

    /// The conditions of `query` joined with AND, and their binds.
    static func fleetFilter(_ query: FleetQuery, now: Date) -> (sql: String, binds: PostgresBindings) {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if !query.search.isEmpty {
            let needle = bind(query.search)
            // The search text joins its fields with line feeds: a search that holds one finds only persons.
            let text = query.search.contains("\n") ? "false" : "strpos(d.search_text, lower(\(needle))) > 0"
            conditions.append(
                "(\(text) OR d.person_id IN (SELECT id FROM persons WHERE strpos(lower(email), lower(\(needle))) > 0 OR strpos(lower(display_name), lower(\(needle))) > 0))"
            )
        }
        if let state = query.state {
            conditions.append(state == "wiped" ? "d.wipe_confirmed_at IS NOT NULL" : "d.status = \(bind(state)) AND d.wipe_confirmed_at IS NULL")
        }
        if let compliance = query.compliance {
            conditions.append("d.status = 'active'")
            switch compliance {
            case .never: conditions.append("d.fleet_compliance = 'never'")
            case .posture:
                conditions.append(
                    "(d.fleet_compliance = 'posture' OR (d.fleet_compliance <> 'never' AND d.posture_due_at < \(bind(now.timeIntervalSince1970))))")
            case .violations, .outdated, .compliant:
                conditions.append(
                    "d.fleet_compliance = \(bind(compliance.rawValue)) AND (d.posture_due_at IS NULL OR d.posture_due_at >= \(bind(now.timeIntervalSince1970)))"
                )
            }
        }
        if let ownership = query.ownership { conditions.append("d.ownership = \(bind(ownership.rawValue))") }
        return (conditions.joined(separator: " AND "), binds)
    }

    /// The order of `query`, as on SQLite: ties by enrollment ascending; never seen sorts as seen at 0.
    static func fleetOrder(_ query: FleetQuery) -> String {
        let direction = query.descending ? "DESC" : "ASC"
        switch query.sort {
        case .hostname: return "d.hostname_key COLLATE \"C\" \(direction), d.enrolled_at, d.id"
        case .person: return "d.person_key COLLATE \"C\" \(direction), d.enrolled_at, d.id"
        case .lastSeen: return "d.last_seen_at \(direction) NULLS \(query.descending ? "LAST" : "FIRST"), d.enrolled_at, d.id"
        case .enrolled: return "d.enrolled_at \(direction), d.id"
        }
    }

    static let fleetColumns = """
        d.id, d.key_id, d.person_id, d.group_name, d.status, d.facts::jsonb ->> 'hostname' AS hostname, d.facts::jsonb ->> 'agentVersion' AS agent_version,
            d.enrolled_at, d.last_seen_at, d.applied_policy_hash, d.wipe_confirmed_at,
            COALESCE(jsonb_array_length(d.compliance::jsonb -> 'violations'), 0) AS violations,
            d.facts::jsonb #>> '{posture,diskEncryption,state}' AS disk, d.facts::jsonb #>> '{posture,updates,listsUpdatedAt}' AS lists,
            d.facts::jsonb #>> '{posture,updates,lastUpgradeAt}' AS upgrade, d.ownership, d.expected_policy_hash, d.requires_disk_encryption,
            d.max_update_age_days, p.email, p.display_name
        """

    static func fleetRow(_ row: PostgresRandomAccessRow) throws -> FleetRow {
        let status = DeviceStatus(rawValue: try row.get("status", as: String.self)) ?? .revoked
        let hash = try row.get("expected_policy_hash", as: String?.self)
        let disk = try row.get("requires_disk_encryption", as: Int.self) == 1
        let days = try row.get("max_update_age_days", as: Int?.self)
        return FleetRow(
            summary: DeviceSummary(
                id: try row.get("id"), keyId: try row.get("key_id"), personId: try row.get("person_id"), group: try row.get("group_name"), status: status,
                hostname: try row.get("hostname", as: String?.self) ?? "", agentVersion: try row.get("agent_version", as: String?.self) ?? "",
                enrolledAt: Date(timeIntervalSince1970: try row.get("enrolled_at")), lastSeen: date(try row.get("last_seen_at")),
                appliedPolicyHash: try row.get("applied_policy_hash"), wipeConfirmedAt: date(try row.get("wipe_confirmed_at")),
                violations: try row.get("violations", as: Int.self),
                posture: PostureSummary(storedState: try row.get("disk"), listsUpdatedAt: try row.get("lists"), lastUpgradeAt: try row.get("upgrade")),
                ownership: Ownership(rawValue: try row.get("ownership", as: String.self)) ?? .company),
            expected: status == .active ? hash.map { ExpectedPolicy(hash: $0, requiresDiskEncryption: disk, maxUpdateAgeDays: days) } : nil,
            personEmail: try row.get("email"), personName: try row.get("display_name"))
    }
}

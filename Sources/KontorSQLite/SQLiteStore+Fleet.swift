import Foundation
import GRDB
import KontorCore
import KontorStore

/// The console's fleet queries (migration v20): each reads one index of its own, never the whole table.
extension SQLiteStore: FleetStore {
    public func expectedPolicyInputs(all: Bool) async throws -> [ExpectedPolicyInputs] {
        let filter =
            all
            ? "WHERE status = 'active'"
            : "INDEXED BY devices_fleet_unknown_policy WHERE status = 'active' AND expected_policy_hash IS NULL"
        return try await writer.read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, key_id, person_id, group_name, ownership, expected_policy_hash, requires_disk_encryption, max_update_age_days
                    FROM devices \(filter) ORDER BY id
                    """)
            var out: [ExpectedPolicyInputs] = []
            while let row = try rows.next() {
                let hash: String? = row[5]
                out.append(
                    ExpectedPolicyInputs(
                        deviceId: row[0], keyId: row[1], personId: row[2], group: row[3], ownership: Ownership(rawValue: row[4]) ?? .company,
                        expected: hash.map { ExpectedPolicy(hash: $0, requiresDiskEncryption: (row[6] as Int) == 1, maxUpdateAgeDays: row[7]) }))
            }
            return out
        }
    }

    public func setExpectedPolicies(_ updates: [ExpectedPolicyUpdate]) async throws {
        guard !updates.isEmpty else { return }
        try await writer.write { db in
            let statement = try db.cachedStatement(
                sql: """
                    UPDATE devices SET expected_policy_hash = ?, requires_disk_encryption = ?, max_update_age_days = ?
                    WHERE id = ? AND expected_policy_hash IS ?
                    """)
            for u in updates {
                try statement.execute(arguments: [
                    u.expected.hash, u.expected.requiresDiskEncryption ? 1 : 0, u.expected.maxUpdateAgeDays, u.deviceId, u.previousHash,
                ])
            }
        }
    }

    public func fleetCounts(now: Date) async throws -> FleetCounts {
        try await writer.read { db in
            // Grouped in the index's order, so the groups stream out of one pass over it.
            let groups = try Row.fetchAll(
                db,
                sql: """
                    SELECT status, fleet_compliance, ownership, COUNT(*), COALESCE(SUM(posture_due_at < ?), 0)
                    FROM devices INDEXED BY devices_fleet_counts GROUP BY status, fleet_compliance, ownership
                    """, arguments: [seconds(now)]
            ).map { FleetCounts.Group(status: $0[0], compliance: $0[1], ownership: $0[2], count: $0[3], postureDue: $0[4]) }
            let wiped = try Row.fetchAll(
                db, sql: "SELECT status, COUNT(*) FROM devices INDEXED BY devices_fleet_wiped WHERE wipe_confirmed_at IS NOT NULL GROUP BY status"
            ).map { (status: $0[0] as String, count: $0[1] as Int) }
            return FleetCounts(groups: groups, wiped: wiped)
        }
    }

    public func offlineDevices(seenBefore: Date, limit: Int) async throws -> (rows: [FleetRow], total: Int) {
        // Seen before the time, and never seen but enrolled before it: each part in the order of the index of
        // the last check-in, the first `limit` of each merged.
        let seen = "FROM devices INDEXED BY devices_fleet_last_seen WHERE last_seen_at < ? AND status = 'active'"
        let never = "FROM devices INDEXED BY devices_fleet_last_seen WHERE last_seen_at IS NULL AND status = 'active' AND enrolled_at < ?"
        let before = seconds(seenBefore)
        return try await writer.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) \(seen)) + (SELECT COUNT(*) \(never))", arguments: [before, before]) ?? 0
            let ids = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM (
                        SELECT * FROM (SELECT id, last_seen_at AS seen, enrolled_at \(seen) ORDER BY last_seen_at, enrolled_at, id LIMIT ?)
                        UNION ALL
                        SELECT * FROM (SELECT id, enrolled_at AS seen, enrolled_at \(never) ORDER BY enrolled_at, id LIMIT ?)
                    ) ORDER BY seen, enrolled_at, id LIMIT ?
                    """, arguments: [before, max(0, limit), before, max(0, limit), max(0, limit)])
            return (try Self.fleetRows(db, ids: ids), total)
        }
    }

    public func fleetPage(_ query: FleetQuery, now: Date) async throws -> (rows: [FleetRow], total: Int) {
        let (filter, arguments) = Self.fleetFilter(query, now: now)
        let clause = filter.isEmpty ? "" : "WHERE " + filter.joined(separator: " AND ")
        let order = Self.fleetOrder(query)
        let (limit, offset) = (max(0, query.limit), max(0, query.offset))
        return try await writer.read { db in
            func count() throws -> Int {
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM devices d \(filter.isEmpty ? "" : "INDEXED BY devices_fleet_filter") \(clause)", arguments: arguments) ?? 0
            }
            if !filter.isEmpty && query.sort != .lastSeen {
                // Most searches and filters match a few devices: the first `cap` of them in order, in the pass that
                // counts them too; only when there are more is the index read again to count.
                let cap = max(Self.fleetCap, offset + limit)
                let ids = try String.fetchAll(
                    db, sql: "SELECT d.id FROM devices d INDEXED BY devices_fleet_filter \(clause) ORDER BY \(order) LIMIT ?", arguments: arguments + [cap + 1])
                let page = Array(ids.dropFirst(offset).prefix(limit))
                return (try Self.fleetRows(db, ids: page), ids.count <= cap ? ids.count : try count())
            }
            let total = try count()
            let index = try Self.fleetIndex(db, query, filtered: !filter.isEmpty, total: total)
            let ids = try String.fetchAll(
                db, sql: "SELECT d.id FROM devices d INDEXED BY \(index) \(clause) ORDER BY \(order) LIMIT ? OFFSET ?", arguments: arguments + [limit, offset])
            return (try Self.fleetRows(db, ids: ids), total)
        }
    }

    /// How many matches of a filtered list are read in order before it is counted on its own.
    static let fleetCap = 1_000

    /// The one index a page's IDs are read from: the whole fleet in the order of its sort's index; a filtered
    /// list from the index that holds every filtered column, sorted there. Sorted by the last check-in, a
    /// filtered list walks that order (reading each row it passes to filter it) when the matches are many,
    /// and sorts them when they are few: whichever reads fewer rows.
    static func fleetIndex(_ db: Database, _ query: FleetQuery, filtered: Bool, total: Int) throws -> String {
        switch (filtered, query.sort) {
        case (true, .lastSeen):
            let fleet = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices") ?? 0
            return total * total < (query.offset + query.limit) * fleet ? "devices_fleet_filter" : "devices_fleet_last_seen"
        case (true, _): return "devices_fleet_filter"
        case (false, .hostname): return "devices_fleet_hostname"
        case (false, .person): return "devices_fleet_person"
        case (false, .lastSeen): return "devices_fleet_last_seen"
        case (false, .enrolled): return "devices_fleet_enrolled"
        }
    }

    /// The listing rows of `ids`, in that order.
    static func fleetRows(_ db: Database, ids: [String]) throws -> [FleetRow] {
        guard !ids.isEmpty else { return [] }
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT \(fleetColumns) FROM devices d LEFT JOIN persons p ON p.id = d.person_id
                WHERE d.id IN (\(Array(repeating: "?", count: ids.count).joined(separator: ", ")))
                """, arguments: StatementArguments(ids)
        ).map(fleetRow)
        let byId = Dictionary(uniqueKeysWithValues: rows.map { ($0.summary.id, $0) })
        return ids.compactMap { byId[$0] }
    }

    /// The conditions of `query` and their arguments, in the columns of `devices_fleet_filter`.
    static func fleetFilter(_ query: FleetQuery, now: Date) -> (conditions: [String], arguments: StatementArguments) {
        var conditions: [String] = []
        var arguments = StatementArguments()
        if !query.search.isEmpty {
            // The search text joins its fields with line feeds: a search that holds one finds only persons.
            let text = query.search.contains("\n") ? "0" : "instr(d.search_text, lower(?)) > 0"
            conditions.append(
                "(\(text) OR d.person_id IN (SELECT id FROM persons WHERE instr(lower(email), lower(?)) > 0 OR instr(lower(display_name), lower(?)) > 0))")
            arguments += StatementArguments(query.search.contains("\n") ? [query.search, query.search] : [query.search, query.search, query.search])
        }
        if let state = query.state {
            if state == "wiped" {
                conditions.append("d.wipe_confirmed_at IS NOT NULL")
            } else {
                conditions.append("d.status = ? AND d.wipe_confirmed_at IS NULL")
                arguments += [state]
            }
        }
        if let compliance = query.compliance {
            conditions.append("d.status = 'active'")
            switch compliance {
            case .never:
                conditions.append("d.fleet_compliance = 'never'")
            case .posture:
                conditions.append("(d.fleet_compliance = 'posture' OR (d.fleet_compliance <> 'never' AND d.posture_due_at < ?))")
                arguments += [seconds(now)]
            case .violations, .outdated, .compliant:
                conditions.append("d.fleet_compliance = ? AND (d.posture_due_at IS NULL OR d.posture_due_at >= ?)")
                arguments += [compliance.rawValue, seconds(now)]
            }
        }
        if let ownership = query.ownership {
            conditions.append("d.ownership = ?")
            arguments += [ownership.rawValue]
        }
        return (conditions, arguments)
    }

    /// The order of `query`: ties by enrollment, ascending either way (as the console always listed them).
    /// A device never seen sorts as seen at 0, and one without a person as `~` (after every email).
    static func fleetOrder(_ query: FleetQuery) -> String {
        let direction = query.descending ? "DESC" : "ASC"
        switch query.sort {
        case .hostname: return "d.hostname_key \(direction), d.enrolled_at, d.id"
        case .person: return "d.person_key \(direction), d.enrolled_at, d.id"
        case .lastSeen: return "d.last_seen_at \(direction), d.enrolled_at, d.id"
        case .enrolled: return "d.enrolled_at \(direction), d.id"
        }
    }

    /// What a listing shows of each device (`d`) and its person (`p`); malformed JSON reads as absent.
    static let fleetColumns = """
        d.id, d.key_id, d.person_id, d.group_name, d.status, \(facts("$.hostname")), \(facts("$.agentVersion")),
            d.enrolled_at, d.last_seen_at, d.applied_policy_hash, d.wipe_confirmed_at,
            CASE WHEN json_valid(d.compliance) THEN COALESCE(json_array_length(d.compliance, '$.violations'), 0) ELSE 0 END,
            \(facts("$.posture.diskEncryption.state")), \(facts("$.posture.updates.listsUpdatedAt")), \(facts("$.posture.updates.lastUpgradeAt")),
            d.ownership, d.expected_policy_hash, d.requires_disk_encryption, d.max_update_age_days, p.email, p.display_name
        """

    private static func facts(_ path: String) -> String { "CASE WHEN json_valid(d.facts) THEN json_extract(d.facts, '\(path)') END" }

    static func fleetRow(_ row: Row) -> FleetRow {
        let status = DeviceStatus(rawValue: row[4]) ?? .revoked
        let hash: String? = row[16]
        return FleetRow(
            summary: DeviceSummary(
                id: row[0], keyId: row[1], personId: row[2], group: row[3], status: status, hostname: row[5] ?? "", agentVersion: row[6] ?? "",
                enrolledAt: Date(timeIntervalSince1970: row[7]), lastSeen: date(row[8]), appliedPolicyHash: row[9], wipeConfirmedAt: date(row[10]),
                violations: row[11], posture: PostureSummary(storedState: row[12], listsUpdatedAt: row[13], lastUpgradeAt: row[14]),
                ownership: Ownership(rawValue: row[15]) ?? .company),
            expected: status == .active
                ? hash.map { ExpectedPolicy(hash: $0, requiresDiskEncryption: (row[17] as Int) == 1, maxUpdateAgeDays: row[18]) } : nil,
            personEmail: row[19], personName: row[20])
    }
}

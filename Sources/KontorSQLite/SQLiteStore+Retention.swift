import Foundation
import GRDB
import KontorStore

/// Retention deletes on SQLite: each call is one short write transaction of at most `limit` rows, chosen
/// by a sub-select with LIMIT (SQLite is not built with DELETE … LIMIT), over the indexes of `v17-retention`.
extension SQLiteStore: RetentionStore {
    public func deleteEvents(before: Date, limit: Int) async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM device_events WHERE id IN (SELECT id FROM device_events WHERE at < ? ORDER BY at LIMIT ?)",
                arguments: [seconds(before), limit])
            return db.changesCount
        }
    }

    public func deleteSpentEnrollmentTokens(before: Date, limit: Int) async throws -> Int {
        try await writer.write { db in
            let ids = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM enrollment_tokens t
                    WHERE t.expires_at < :before OR t.revoked_at < :before
                       OR (t.uses >= t.max_uses AND t.created_at < :before
                           AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.enrollment_token_id = t.id AND d.enrolled_at >= :before))
                    LIMIT :limit
                    """,
                arguments: ["before": seconds(before), "limit": limit])
            guard !ids.isEmpty else { return 0 }
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
            try db.execute(sql: "UPDATE devices SET enrollment_token_id = NULL WHERE enrollment_token_id IN (\(marks))", arguments: StatementArguments(ids))
            try db.execute(sql: "DELETE FROM enrollment_tokens WHERE id IN (\(marks))", arguments: StatementArguments(ids))
            return db.changesCount
        }
    }

    public func personsOffboarded(before: Date) async throws -> [String] {
        try await writer.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT p.id FROM persons p JOIN offboardings o ON o.person_id = p.id
                    WHERE p.status = 'offboarded' AND o.completed_at < ? ORDER BY o.completed_at, p.id
                    """,
                arguments: [seconds(before)])
        }
    }

    public func eventCount() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM device_events") ?? 0 }
    }
}

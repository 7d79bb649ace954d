import Foundation
import KontorStore
import PostgresNIO

/// Retention deletes on PostgreSQL: each call is one short transaction of at most `limit` rows, chosen by
/// their ID in a sub-select with LIMIT (PostgreSQL has no DELETE … LIMIT), over the indexes of `v13-retention`.
extension PostgresStore: RetentionStore {
    public func deleteEvents(before: Date, limit: Int) async throws -> Int {
        try await run(
            """
            DELETE FROM device_events WHERE id IN (SELECT id FROM device_events WHERE at < \(seconds(before)) ORDER BY at LIMIT \(limit))
            RETURNING 1
            """)
    }

    public func deleteSpentEnrollmentTokens(before: Date, limit: Int) async throws -> Int {
        let cutoff = seconds(before)
        return try await transaction { tx in
            let ids = try await tx.rows(
                """
                SELECT id FROM enrollment_tokens t
                WHERE t.expires_at < \(cutoff) OR t.revoked_at < \(cutoff)
                   OR (t.uses >= t.max_uses AND t.created_at < \(cutoff)
                       AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.enrollment_token_id = t.id AND d.enrolled_at >= \(cutoff)))
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
                """, { try $0.get("id", as: String.self) })
            guard !ids.isEmpty else { return 0 }
            try await tx.run("UPDATE devices SET enrollment_token_id = NULL WHERE enrollment_token_id = ANY(\(ids)::text[])")
            return try await tx.run("DELETE FROM enrollment_tokens WHERE id = ANY(\(ids)::text[]) RETURNING 1")
        }
    }

    public func personsOffboarded(before: Date) async throws -> [String] {
        try await rows(
            """
            SELECT p.id FROM persons p JOIN offboardings o ON o.person_id = p.id
            WHERE p.status = 'offboarded' AND o.completed_at < \(seconds(before)) ORDER BY o.completed_at, p.id
            """, { try $0.get("id", as: String.self) })
    }

    public func eventCount() async throws -> Int {
        try await row("SELECT COUNT(*) AS n FROM device_events", { try $0.get("n", as: Int.self) }) ?? 0
    }
}

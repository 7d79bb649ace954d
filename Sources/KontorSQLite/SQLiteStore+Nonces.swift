import Foundation
import GRDB
import KontorStore

/// The part of the replay window that must outlive the process: the nonces (by hash) of accepted device
/// signatures created ahead of the server's clock, and of those created in the last second before a
/// clean stop. Everything created earlier is refused by the restarted server anyway (KontorServer
/// `SQLiteReplayWindow`).
extension SQLiteStore: ReplayNonceStore {
    public func recordNonce(_ hash: String, expiresAt: Double, now: Double) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO replay_nonces (hash, expires_at) VALUES (?, ?)
                    ON CONFLICT(hash) DO UPDATE SET expires_at = excluded.expires_at WHERE replay_nonces.expires_at < ?
                    """,
                arguments: [hash, expiresAt, now])
            return db.changesCount > 0
        }
    }

    public func recordNonces(_ hashes: [String], expiresAt: Double) async throws {
        guard !hashes.isEmpty else { return }
        try await writer.write { db in
            let statement = try db.makeStatement(sql: "INSERT OR REPLACE INTO replay_nonces (hash, expires_at) VALUES (?, ?)")
            for hash in hashes { try statement.execute(arguments: [hash, expiresAt]) }
        }
    }

    public func liveNonces(at now: Double) async throws -> [String: Double] {
        try await writer.read { db in
            var out: [String: Double] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT hash, expires_at FROM replay_nonces WHERE expires_at >= ?", arguments: [now]) {
                out[row["hash"]] = row["expires_at"]
            }
            return out
        }
    }

    @discardableResult
    public func purgeNonces(before: Double) async throws -> Int {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM replay_nonces WHERE expires_at < ?", arguments: [before])
            return db.changesCount
        }
    }
}

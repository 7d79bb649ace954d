import Foundation
import GRDB
import KontorStore

extension SQLiteStore: ConsoleSessionStore {
    public func insertConsoleSession(_ session: StoredConsoleSession) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: "INSERT INTO console_sessions (id, secret_hash, token_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [
                        session.id, session.secretHash, session.tokenId, seconds(session.createdAt), seconds(session.lastSeenAt), seconds(session.expiresAt),
                    ])
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY
                ? StoreError.notFound("API token \(session.tokenId)") : StoreError.conflict("console session \(session.id) exists")
        }
    }

    public func consoleSession(id: String) async throws -> StoredConsoleSession? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM console_sessions WHERE id = ?", arguments: [id]).map {
                StoredConsoleSession(
                    id: $0["id"], secretHash: $0["secret_hash"], tokenId: $0["token_id"], createdAt: date($0["created_at"])!,
                    lastSeenAt: date($0["last_seen_at"])!, expiresAt: date($0["expires_at"])!)
            }
        }
    }

    public func touchConsoleSession(id: String, at: Date) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE console_sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?", arguments: [seconds(at), id])
        }
    }

    public func deleteConsoleSession(id: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM console_sessions WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func deleteConsoleSessions(tokenId: String) async throws {
        try await writer.write { db in try db.execute(sql: "DELETE FROM console_sessions WHERE token_id = ?", arguments: [tokenId]) }
    }

    public func deleteExpiredConsoleSessions(now: Date, idleBefore: Date) async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM console_sessions WHERE expires_at <= ? OR last_seen_at < ?", arguments: [seconds(now), seconds(idleBefore)])
            return db.changesCount
        }
    }
}

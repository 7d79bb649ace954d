import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: ConsoleSessionStore {
    public func insertConsoleSession(_ session: StoredConsoleSession) async throws {
        do {
            try await run(
                """
                INSERT INTO console_sessions (id, secret_hash, token_id, created_at, last_seen_at, expires_at)
                VALUES (\(session.id), \(session.secretHash), \(session.tokenId), \(seconds(session.createdAt)), \(seconds(session.lastSeenAt)),
                        \(seconds(session.expiresAt)))
                """)
        } catch let error where PostgresErrors.isForeignKeyViolation(error) {
            throw StoreError.unknownAPIToken(session.tokenId)
        } catch let error where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.consoleSessionExists(session.id)
        }
    }

    public func consoleSession(id: String) async throws -> StoredConsoleSession? {
        try await row("SELECT * FROM console_sessions WHERE id = \(id)", Self.record)
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

import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: PersonSessionStore {
    public func insertPersonSession(_ s: StoredPersonSession) async throws {
        do {
            try await run(
                """
                INSERT INTO person_sessions (id, secret_hash, channel, subject, display_name, role, group_names, created_at, last_seen_at, expires_at)
                VALUES (\(s.id), \(s.secretHash), \(s.channel.rawValue), \(s.subject), \(s.displayName), \(s.role.rawValue), \(try encodeJSON(s.groups)),
                        \(seconds(s.createdAt)), \(seconds(s.lastSeenAt)), \(seconds(s.expiresAt)))
                """)
        } catch let error where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.personSessionExists(s.id)
        }
    }

    public func personSession(id: String) async throws -> StoredPersonSession? {
        try await row("SELECT * FROM person_sessions WHERE id = \(id)", Self.record)
    }

    public func touchPersonSession(id: String, at: Date) async throws {
        try await run("UPDATE person_sessions SET last_seen_at = GREATEST(last_seen_at, \(seconds(at))) WHERE id = \(id)")
    }

    public func deletePersonSession(id: String) async throws -> Bool {
        try await run("DELETE FROM person_sessions WHERE id = \(id) RETURNING 1") > 0
    }

    public func deleteExpiredPersonSessions(now: Date, idleBefore: Date) async throws -> Int {
        let sessions = try await run(
            """
            DELETE FROM person_sessions WHERE expires_at <= \(seconds(now)) OR (channel = 'console' AND last_seen_at < \(seconds(idleBefore))) RETURNING 1
            """)
        try await run("DELETE FROM oidc_sign_ins WHERE expires_at <= \(seconds(now))")
        return sessions
    }

    public func insertPendingSignIn(_ p: PendingSignIn) async throws {
        do {
            try await run(
                """
                INSERT INTO oidc_sign_ins (id, nonce, code_verifier, next, created_at, expires_at)
                VALUES (\(p.id), \(p.nonce), \(p.codeVerifier), \(p.next), \(seconds(p.createdAt)), \(seconds(p.expiresAt)))
                """)
        } catch let error where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.pendingSignInExists(p.id)
        }
    }

    public func takePendingSignIn(id: String, now: Date) async throws -> PendingSignIn? {
        let taken: PendingSignIn? = try await row("DELETE FROM oidc_sign_ins WHERE id = \(id) RETURNING *", Self.record)
        guard let pending = taken else { return nil }
        return pending.expiresAt > now ? pending : nil
    }
}

import Foundation
import GRDB
import KontorCore
import KontorStore

extension SQLiteStore: PersonSessionStore {
    public func insertPersonSession(_ s: StoredPersonSession) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO person_sessions (id, secret_hash, channel, subject, display_name, role, group_names, created_at, last_seen_at, expires_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        s.id, s.secretHash, s.channel.rawValue, s.subject, s.displayName, s.role.rawValue, try encodeJSON(s.groups), seconds(s.createdAt),
                        seconds(s.lastSeenAt), seconds(s.expiresAt),
                    ])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw StoreError.personSessionExists(s.id)
        }
    }

    public func personSession(id: String) async throws -> StoredPersonSession? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM person_sessions WHERE id = ?", arguments: [id]).map(Self.record)
        }
    }

    public func touchPersonSession(id: String, at: Date) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE person_sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?", arguments: [seconds(at), id])
        }
    }

    public func deletePersonSession(id: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM person_sessions WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func deleteExpiredPersonSessions(now: Date, idleBefore: Date) async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM person_sessions WHERE expires_at <= ? OR (channel = 'console' AND last_seen_at < ?)",
                arguments: [seconds(now), seconds(idleBefore)])
            let sessions = db.changesCount
            try db.execute(sql: "DELETE FROM oidc_sign_ins WHERE expires_at <= ?", arguments: [seconds(now)])
            return sessions
        }
    }

    public func insertPendingSignIn(_ p: PendingSignIn) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: "INSERT INTO oidc_sign_ins (id, nonce, code_verifier, next, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [p.id, p.nonce, p.codeVerifier, p.next, seconds(p.createdAt), seconds(p.expiresAt)])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw StoreError.pendingSignInExists(p.id)
        }
    }

    public func takePendingSignIn(id: String, now: Date) async throws -> PendingSignIn? {
        try await writer.write { db in
            let row = try Row.fetchOne(db, sql: "SELECT * FROM oidc_sign_ins WHERE id = ?", arguments: [id])
            guard let row else { return nil }
            let pending: PendingSignIn = try Self.record(row)
            try db.execute(sql: "DELETE FROM oidc_sign_ins WHERE id = ?", arguments: [id])
            return pending.expiresAt > now ? pending : nil
        }
    }
}

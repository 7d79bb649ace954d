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
                ? StoreError.unknownAPIToken(session.tokenId) : StoreError.consoleSessionExists(session.id)
        }
    }

    public func consoleSession(id: String) async throws -> StoredConsoleSession? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM console_sessions WHERE id = ?", arguments: [id]).map(Self.record)
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

extension SQLiteStore {
    /// Every row of `table` (one of ``StoreTables/moved``), in a stable order, read in one snapshot.
    public func export(_ tables: [String]) async throws -> [TableRows] {
        try await writer.read { db in
            try tables.map { table in
                guard StoreTables.moved.contains(table) else { throw StoreError.unknownTable(table) }
                let columns = try db.columns(in: table).map(\.name)
                let rows = try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY \(StoreTables.order(table))").map { row in
                    columns.map { column -> SQLValue in
                        switch row[column] as DatabaseValue? {
                        case .none: return .null
                        case .some(let value):
                            switch value.storage {
                            case .null: return .null
                            case .int64(let n): return .integer(n)
                            case .double(let d): return .real(d)
                            case .string(let s): return .text(s)
                            case .blob(let b): return .text(String(decoding: b, as: UTF8.self))
                            }
                        }
                    }
                }
                return TableRows(table: table, columns: columns, rows: rows)
            }
        }
    }
}

import Foundation
import GRDB
import KontorCore
import KontorStore

extension SQLiteStore: ApprovalStore {
    public func insertApproval(_ a: Approval) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO approvals (id, kind, target, payload, requested_by, requester, requester_name, created_at, expires_at, state,
                                               decided_by, decider, decided_at, reason, result)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        a.id, a.kind.rawValue, a.target, a.payload, a.requestedBy, a.requester, a.requesterName, seconds(a.createdAt), seconds(a.expiresAt),
                        a.state.rawValue, a.decidedBy, a.decider, seconds(a.decidedAt), a.reason, a.result,
                    ])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw StoreError.conflict("approval \(a.id) exists")
        }
    }

    public func approval(id: String) async throws -> Approval? {
        try await writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM approvals WHERE id = ?", arguments: [id]).map(Self.record) }
    }

    public func approvals(state: ApprovalState?) async throws -> [Approval] {
        try await writer.read { db in
            let rows =
                if let state {
                    try Row.fetchAll(db, sql: "SELECT * FROM approvals WHERE state = ? ORDER BY created_at DESC, id DESC", arguments: [state.rawValue])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM approvals ORDER BY created_at DESC, id DESC")
                }
            return try rows.map(Self.record)
        }
    }

    public func decideApproval(id: String, _ d: ApprovalDecision) async throws -> Approval? {
        do {
            return try await writer.write { db in
                try db.execute(
                    sql: """
                        UPDATE approvals SET state = ?, decided_by = ?, decider = ?, decided_at = ?, reason = ?
                        WHERE id = ? AND state = 'pending' AND expires_at > ?
                        """,
                    arguments: [d.state.rawValue, d.decidedBy, d.decider, seconds(d.at), d.reason, id, seconds(d.at)])
                guard db.changesCount > 0 else { return nil }
                return try Row.fetchOne(db, sql: "SELECT * FROM approvals WHERE id = ?", arguments: [id]).map(Self.record)
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_CHECK {
            throw StoreError.conflict("approval \(id): the requester cannot decide it")
        }
    }

    public func expireApprovals(now: Date) async throws -> [Approval] {
        try await writer.write { db in
            let due = try Row.fetchAll(
                db, sql: "SELECT * FROM approvals WHERE state = 'pending' AND expires_at <= ? ORDER BY created_at", arguments: [seconds(now)]
            ).map { (row: Row) -> Approval in try Self.record(row) }
            try db.execute(sql: "UPDATE approvals SET state = 'expired' WHERE state = 'pending' AND expires_at <= ?", arguments: [seconds(now)])
            return due.map {
                var expired = $0
                expired.state = .expired
                return expired
            }
        }
    }

    public func setApprovalResult(id: String, result: String) async throws {
        try await writer.write { db in try db.execute(sql: "UPDATE approvals SET result = ? WHERE id = ?", arguments: [result, id]) }
    }
}

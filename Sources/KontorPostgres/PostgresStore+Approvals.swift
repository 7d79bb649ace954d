import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: ApprovalStore {
    public func insertApproval(_ a: Approval) async throws {
        do {
            try await run(
                """
                INSERT INTO approvals (id, kind, target, payload, requested_by, requester, requester_name, created_at, expires_at, state,
                                       decided_by, decider, decided_at, reason, result)
                VALUES (\(a.id), \(a.kind.rawValue), \(a.target), \(a.payload), \(a.requestedBy), \(a.requester), \(a.requesterName),
                        \(seconds(a.createdAt)), \(seconds(a.expiresAt)), \(a.state.rawValue), \(a.decidedBy), \(a.decider), \(seconds(a.decidedAt)),
                        \(a.reason), \(a.result))
                """)
        } catch let error where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.conflict("approval \(a.id) exists")
        }
    }

    public func approval(id: String) async throws -> Approval? {
        try await row("SELECT * FROM approvals WHERE id = \(id)", Self.record)
    }

    public func approvals(state: ApprovalState?) async throws -> [Approval] {
        if let state {
            return try await rows("SELECT * FROM approvals WHERE state = \(state.rawValue) ORDER BY created_at DESC, id DESC", Self.record)
        }
        return try await rows("SELECT * FROM approvals ORDER BY created_at DESC, id DESC", Self.record)
    }

    public func decideApproval(id: String, _ d: ApprovalDecision) async throws -> Approval? {
        do {
            return try await row(
                """
                UPDATE approvals SET state = \(d.state.rawValue), decided_by = \(d.decidedBy), decider = \(d.decider), decided_at = \(seconds(d.at)),
                                     reason = \(d.reason)
                WHERE id = \(id) AND state = 'pending' AND expires_at > \(seconds(d.at))
                RETURNING *
                """, Self.record)
        } catch let error where PostgresErrors.sqlState(PostgresErrors.map(error))?.code == "23514" {
            throw StoreError.conflict("approval \(id): the requester cannot decide it")
        }
    }

    public func expireApprovals(now: Date) async throws -> [Approval] {
        try await rows(
            "UPDATE approvals SET state = 'expired' WHERE state = 'pending' AND expires_at <= \(seconds(now)) RETURNING *", Self.record)
    }

    public func setApprovalResult(id: String, result: String) async throws {
        try await run("UPDATE approvals SET result = \(result) WHERE id = \(id)")
    }
}

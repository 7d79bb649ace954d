import Foundation
import KontorCore

/// Four-eyes approvals: requests that wait for a second person, decided once.
public protocol ApprovalStore: Sendable {
    /// Stores a new pending approval; `StoreError.conflict` when its ID is taken.
    func insertApproval(_ approval: Approval) async throws
    func approval(id: String) async throws -> Approval?
    /// The approvals, newest first; only those in `state` when given.
    func approvals(state: ApprovalState?) async throws -> [Approval]
    /// Atomically: records `decision` on an approval that is pending and not expired at `decision.at`, and
    /// returns it afterwards; nil, changing nothing, when there is no such approval or it is decided or expired
    /// (of two deciders racing, one wins). `StoreError.conflict` when the decider is the requester.
    func decideApproval(id: String, _ decision: ApprovalDecision) async throws -> Approval?
    /// Marks every pending approval whose time ran out (`expiresAt <= now`) expired and returns those it
    /// marked: each approval is returned once, however many sweeps run at once.
    func expireApprovals(now: Date) async throws -> [Approval]
    /// Records what an approved action made, or why it failed.
    func setApprovalResult(id: String, result: String) async throws
}

extension Approval: RowDecodable {
    package init(row: some StoreRow) throws {
        let kindName = try row.string("kind")
        let stateName = try row.string("state")
        guard let kind = ApprovalKind(rawValue: kindName) else { throw StoreError.notFound("approval kind \(kindName)") }
        guard let state = ApprovalState(rawValue: stateName) else { throw StoreError.notFound("approval state \(stateName)") }
        self.init(
            id: try row.string("id"), kind: kind, target: try row.string("target"), payload: try row.string("payload"),
            requestedBy: try row.string("requested_by"), requester: try row.optionalString("requester"),
            requesterName: try row.optionalString("requester_name"), createdAt: try row.date("created_at"), expiresAt: try row.date("expires_at"),
            state: state, decidedBy: try row.optionalString("decided_by"), decider: try row.optionalString("decider"),
            decidedAt: try row.optionalDate("decided_at"), reason: try row.optionalString("reason"), result: try row.optionalString("result"))
    }
}

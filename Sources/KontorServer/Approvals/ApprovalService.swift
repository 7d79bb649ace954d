import Foundation
import KontorCore
import KontorStore

/// Four-eyes approvals: an action the settings hold back becomes a request; a second person (another
/// accountable person, with the action's role) approves or rejects it once, before it expires. What an approval
/// runs is ``Services``' business (``Services/approve(_:by:)``); this keeps the requests and their rules.
struct ApprovalService: Sendable {
    let store: any ApprovalStore & SettingsStore
    let clock: WallClock
    let audit: AuditService

    func settings() async throws -> ApprovalSettings { try await ApprovalSettings.load(from: store) }

    /// Whether `kind` waits for a second person now.
    func required(_ kind: ApprovalKind) async throws -> Bool { try await settings().required(kind) }

    /// Records a pending request for `kind` on `target` with `payload` (the request, replayed on approval), audited
    /// as `approval.requested` by the requester. A second request for the same action while one waits is refused.
    func request(_ kind: ApprovalKind, target: String, payload: some Encodable, by principal: Principal) async throws -> Approval {
        if let waiting = try await pending().first(where: { $0.kind == kind && $0.target == target }) {
            throw KontorError.conflict("a \(kind.label) of \(target) already waits for approval (\(waiting.id)); approve or reject that one")
        }
        let now = clock.now()
        let hours = try await settings().expiryHours ?? ApprovalSettings.defaultExpiryHours
        let approval = Approval(
            id: IdentifierGenerator.uuidV7(now: now), kind: kind, target: target, payload: String(decoding: try KontorJSON.encode(payload), as: UTF8.self),
            requestedBy: principal.auditActor, requester: principal.accountable, requesterName: principal.accountableName, createdAt: now,
            expiresAt: now + TimeInterval(hours) * 3600)
        try await store.insertApproval(approval)
        try await audit.record(
            approval.requestedBy, "approval.requested", target: target,
            detail: ["approval": approval.id, "kind": kind.rawValue, "expiresAt": ISO8601.string(from: approval.expiresAt)])
        return approval
    }

    /// Every approval (newest first), or only those in `state`; requests whose time ran out are expired first.
    func list(state: ApprovalState?) async throws -> [Approval] {
        try await sweep()
        return try await store.approvals(state: state)
    }

    /// The requests that wait now.
    func pending() async throws -> [Approval] { try await list(state: .pending) }

    func approval(_ id: String) async throws -> Approval {
        try await sweep()
        guard let approval = try await store.approval(id: id) else { throw KontorError.notFound("no approval \(id)") }
        return approval
    }

    /// Marks the requests whose time ran out expired, each audited once as `approval.expired`; returns how many.
    @discardableResult
    func sweep() async throws -> Int {
        let expired = try await store.expireApprovals(now: clock.now())
        for approval in expired {
            try await audit.record(
                "system:approvals", "approval.expired", target: approval.target,
                detail: ["approval": approval.id, "kind": approval.kind.rawValue, "requestedBy": approval.requestedBy])
        }
        return expired.count
    }

    /// Decides a request once: `approved` or `rejected` (with a reason), by a person other than the requester who
    /// has the action's role. Audited as `approval.approved` / `approval.rejected` naming both.
    func decide(_ id: String, _ state: ApprovalState, reason: String?, by principal: Principal) async throws -> Approval {
        let approval = try await self.approval(id)
        let reason = reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        if state == .rejected, !(3...500).contains(reason?.count ?? 0) { throw KontorError.invalid("reason: say in 3 to 500 characters why it is rejected") }
        try check(approval, principal: principal, verb: state == .approved ? "approve" : "reject")
        let decision = ApprovalDecision(
            state: state, decidedBy: principal.auditActor, decider: principal.accountable ?? "", at: clock.now(), reason: state == .rejected ? reason : nil)
        guard let decided = try await store.decideApproval(id: id, decision) else {
            let now = try await store.approval(id: id)
            throw KontorError.conflict("approval \(id) is \(now?.state.rawValue ?? "gone"): someone decided it meanwhile, or its time ran out")
        }
        var detail = ["approval": id, "kind": decided.kind.rawValue, "requestedBy": decided.requestedBy]
        if let reason = decided.reason { detail["reason"] = reason }
        try await audit.record(decided.decidedBy ?? principal.auditActor, "approval.\(state.rawValue)", target: decided.target, detail: detail)
        return decided
    }

    /// Throws unless `principal` may decide `approval` now.
    func check(_ approval: Approval, principal: Principal, verb: String) throws {
        let role = approval.kind.requiredRole
        guard principal.role.allows(role) else {
            throw KontorError.forbidden(
                "to \(verb) a \(approval.kind.label) needs the \(role.rawValue) role; \(principal.described) has \(principal.role.rawValue)")
        }
        switch approval.refusal(decider: principal.accountable, at: clock.now()) {
        case nil: return
        case .closed(let state)?:
            let by = approval.decidedBy.map { " by \($0)" } ?? ""
            throw KontorError.conflict("approval \(approval.id) is \(state.rawValue)\(state == .expired ? "" : by); it cannot be decided again")
        case .expired?:
            throw KontorError.conflict("approval \(approval.id) expired at \(ISO8601.string(from: approval.expiresAt)); ask again")
        case .noAccountablePerson?:
            throw KontorError.forbidden(
                "\(principal.described) has no owner, so no person answers for it; only a person, or a token a person owns, may \(verb) requests")
        case .samePerson?:
            throw KontorError.forbidden("you asked for this yourself; a second person must \(verb) it")
        }
    }

    /// Whether `principal` could decide `approval` (for the console's buttons).
    func mayDecide(_ approval: Approval, principal: Principal) -> Bool {
        (try? check(approval, principal: principal, verb: "approve")) != nil
    }

    func setResult(_ id: String, _ result: String) async throws { try await store.setApprovalResult(id: id, result: result) }
}

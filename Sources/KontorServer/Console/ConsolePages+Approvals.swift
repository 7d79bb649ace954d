import Foundation
import Hummingbird
import KontorCore

extension ConsolePages {
    // MARK: Approvals

    /// The requests waiting for a second person, with Approve and Reject for those who may decide them, and the
    /// last decided ones. The rules are the service's: a forced post by the requester is refused there too.
    func registerApprovals(on group: RouterGroup<KontorRequestContext>) {
        let prefix = ConsoleController.prefix
        console.page(group, "approvals") { request, _, session in try await approvals(request, session) }
        console.form(group, "approvals/{id}/approve", role: .operator, back: { _, _ in "\(prefix)/approvals" }) { _, context, session in
            let approval = try await services.approve(try context.parameters.require("id"), by: session.principal)
            return console.redirect(
                "\(prefix)/approvals",
                flash: Flash(kind: .ok, text: "You approved the \(approval.kind.label) of \(approval.target) asked for by \(approval.requestedBy); it is done.")
            )
        }
        console.form(group, "approvals/{id}/reject", role: .operator, back: { _, _ in "\(prefix)/approvals" }) { form, context, session in
            let approval = try await services.reject(try context.parameters.require("id"), reason: form.text("reason"), by: session.principal)
            return console.redirect(
                "\(prefix)/approvals", flash: Flash(kind: .ok, text: "You rejected the \(approval.kind.label) of \(approval.target); nothing was done."))
        }
    }

    func approvals(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let format = self.format
        let all = try await services.approvals.list(state: nil)
        func row(_ a: Approval) -> [String: Any] {
            let own = a.requester != nil && a.requester == session.principal.accountable
            return [
                "id": a.id, "kind": a.kind.label, "target": a.target, "summary": Self.approvalSummary(a), "requestedBy": a.requestedBy,
                "created": format.time(a.createdAt), "expires": format.time(a.expiresAt), "state": a.state.rawValue, "own": own,
                "mayDecide": services.approvals.mayDecide(a, principal: session.principal), "decidedBy": a.decidedBy ?? "",
                "decidedAt": a.decidedAt.map { format.time($0) } ?? "", "reason": a.reason ?? "", "result": a.result ?? "",
            ]
        }
        let pending = all.filter { $0.state == .pending }.map(row)
        let decided = all.filter { $0.state != .pending }.prefix(20).map(row)
        return console.render(
            "approvals", title: "Approvals", nav: "approvals", session: session, request: request,
            ["pending": pending, "decided": Array(decided), "settings": try await approvalSettingsRows()])
    }

    /// What the request would do, in a line.
    static func approvalSummary(_ a: Approval) -> String {
        guard let request = JSONValue(parsing: a.payload) else { return "" }
        switch a.kind {
        case .wipe: return "Wipe device \(a.target): \(request["reason"]?.string ?? "")"
        case .offboard:
            let at = request["request"]?["at"]?.string.map { "wipes at \($0)" } ?? "wipes at once"
            return "Offboard \(a.target) (\(at))"
        case .tokenCreate:
            return "API token \(a.target), role \(request["apiToken"]?["role"]?.string ?? "?"), owner \(request["apiToken"]?["owner"]?.string ?? "nobody")"
        }
    }

    /// Which actions wait for a second person, for the approvals and settings pages.
    func approvalSettingsRows() async throws -> [[String: Any]] {
        let current = try await services.approvals.settings()
        return ApprovalKind.allCases.map { kind in
            ["key": kind.rawValue, "label": kind.label, "required": current.required(kind)]
        }
    }

    /// The dashboard's notice: "N requests wait for approval", or false (no notice) when none does.
    func approvalsWaiting() async throws -> Any {
        let count = try await services.approvals.pending().count
        return count == 0 ? false : count == 1 ? "1 request waits for approval" : "\(count) requests wait for approval"
    }
}

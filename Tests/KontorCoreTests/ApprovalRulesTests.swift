import Foundation
import KontorCore
import Testing

@Suite("Four-eyes rules")
struct ApprovalRulesTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func request(requester: String? = "person:ada", state: ApprovalState = .pending) -> Approval {
        Approval(
            id: "a1", kind: .wipe, target: "d1", payload: "{}", requestedBy: "token:ada", requester: requester, requesterName: "Ada", createdAt: t0,
            expiresAt: t0 + 3600, state: state)
    }

    @Test("only another accountable person may decide a pending request before it expires")
    func whoMayDecide() {
        #expect(request().refusal(decider: "person:bob", at: t0 + 60) == nil)
        #expect(request().refusal(decider: "person:ada", at: t0 + 60) == .samePerson)
        #expect(request().refusal(decider: nil, at: t0 + 60) == .noAccountablePerson)
        #expect(request().refusal(decider: "person:bob", at: t0 + 3600) == .expired)
        // A token nobody owns may ask; anyone accountable may then approve.
        #expect(request(requester: nil).refusal(decider: "person:ada", at: t0 + 60) == nil)
    }

    @Test("a decided or expired request is closed to everyone", arguments: [ApprovalState.approved, .rejected, .expired])
    func closed(state: ApprovalState) {
        #expect(request(state: state).refusal(decider: "person:bob", at: t0 + 60) == .closed(state))
    }

    @Test("a token needs an admin to approve it, a wipe or an offboarding an operator")
    func roles() {
        #expect(ApprovalKind.wipe.requiredRole == .operator)
        #expect(ApprovalKind.offboard.requiredRole == .operator)
        #expect(ApprovalKind.tokenCreate.requiredRole == .admin)
    }
}

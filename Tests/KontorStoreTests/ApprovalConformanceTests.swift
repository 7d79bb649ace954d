import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

private func approval(_ id: String, kind: ApprovalKind = .wipe, requester: String? = "person:ada", created: Date = t0, expires: Date = t0 + 3600)
    -> Approval
{
    Approval(
        id: id, kind: kind, target: "device-\(id)", payload: #"{"deviceId": "device-\#(id)"}"#, requestedBy: "token:ada (automation, owner ada)",
        requester: requester, requesterName: "Ada", createdAt: created, expiresAt: expires)
}

private func decision(_ state: ApprovalState = .approved, by decider: String = "person:bob", at: Date = t0 + 60) -> ApprovalDecision {
    ApprovalDecision(state: state, decidedBy: "token:bob (automation, owner bob)", decider: decider, at: at, reason: state == .rejected ? "no" : nil)
}

@Suite("Store conformance: approvals")
struct ApprovalConformanceTests {
    @Test("an approval is stored as given, listed newest first and by state, and its ID is taken once", arguments: Backend.all)
    func storeAndList(backend: Backend) async throws {
        let store = try await backend.make()
        let first = approval("a1", kind: .offboard, requester: nil)
        try await store.insertApproval(first)
        try await store.insertApproval(approval("a2", created: t0 + 10))
        #expect(try await store.approval(id: "a1") == first)
        #expect(try await store.approval(id: "none") == nil)
        #expect(try await store.approvals(state: nil).map(\.id) == ["a2", "a1"])
        #expect(try await store.approvals(state: .pending).count == 2)
        #expect(try await store.approvals(state: .approved).isEmpty)
        await #expect(throws: StoreError.conflict("approval a1 exists")) { try await store.insertApproval(approval("a1")) }
        try await store.setApprovalResult(id: "a2", result: "command c1")
        #expect(try await store.approval(id: "a2")?.result == "command c1")
    }

    @Test("a pending approval is decided once: of two deciders racing one wins, and the other changes nothing", arguments: Backend.all)
    func decideOnce(backend: Backend) async throws {
        let store = try await backend.make()
        try await store.insertApproval(approval("a1"))
        async let bob = store.decideApproval(id: "a1", decision(by: "person:bob"))
        async let cy = store.decideApproval(id: "a1", decision(.rejected, by: "person:cy"))
        let results = [try await bob, try await cy].compactMap { $0 }
        #expect(results.count == 1)
        let stored = try #require(try await store.approval(id: "a1"))
        #expect(stored == results.first)
        #expect(stored.decidedAt == t0 + 60)
        #expect(try await store.decideApproval(id: "a1", decision(by: "person:dan")) == nil)
        #expect(try await store.decideApproval(id: "unknown", decision()) == nil)
    }

    @Test("the requester can never be the decider, whatever the caller checked", arguments: Backend.all)
    func requesterNeverDecides(backend: Backend) async throws {
        let store = try await backend.make()
        try await store.insertApproval(approval("a1"))
        await #expect(throws: StoreError.self) { _ = try await store.decideApproval(id: "a1", decision(by: "person:ada")) }
        #expect(try await store.approval(id: "a1")?.state == .pending)
    }

    @Test("an expired approval cannot be decided, and each is expired by one sweep only", arguments: Backend.all)
    func expiry(backend: Backend) async throws {
        let store = try await backend.make()
        try await store.insertApproval(approval("old", expires: t0 + 60))
        try await store.insertApproval(approval("new", expires: t0 + 7200))
        try await store.insertApproval(approval("done", expires: t0 + 60))
        _ = try await store.decideApproval(id: "done", decision(at: t0 + 30))
        #expect(try await store.decideApproval(id: "old", decision(at: t0 + 60)) == nil)
        async let one = store.expireApprovals(now: t0 + 120)
        async let two = store.expireApprovals(now: t0 + 120)
        let swept = try await one + two
        #expect(swept.map(\.id) == ["old"])
        #expect(swept.first?.state == .expired)
        #expect(try await store.approval(id: "old")?.state == .expired)
        #expect(try await store.approval(id: "done")?.state == .approved)
        #expect(try await store.approval(id: "new")?.state == .pending)
        #expect(try await store.expireApprovals(now: t0 + 120).isEmpty)
    }

    @Test("pseudonymising a person renames the offboarding requests that name them by email", arguments: Backend.all)
    func erasure(backend: Backend) async throws {
        let store = try await backend.make()
        try await store.insertPerson(Person(id: "p1", email: "lee@example.org", displayName: "Lee", groups: [], createdAt: t0))
        var offboard = approval("a1", kind: .offboard)
        offboard.target = "lee@example.org"
        try await store.insertApproval(offboard)
        try await store.insertApproval(approval("a2"))
        _ = try #require(try await store.pseudonymisePerson(id: "p1", pseudonym: "erased-0123456789ab"))
        #expect(try await store.approval(id: "a1")?.target == "erased-0123456789ab@erased.invalid")
        #expect(try await store.approval(id: "a2")?.target == "device-a2")
    }
}

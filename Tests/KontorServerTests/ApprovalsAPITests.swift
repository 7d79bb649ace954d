import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import KontorStore
import Testing

@testable import KontorServer

/// People for the four-eyes tests: tokens owned by Ada and Bob (each a person), a second token of Ada's, and a
/// token nobody owns.
struct ApprovalPeople {
    var admin: String
    var ada: String
    var adaAgain: String
    var bob: String
    var ownerless: String

    static func make(_ harness: Harness, role: Role = .operator) async throws -> ApprovalPeople {
        func token(_ name: String, _ owner: String?) async throws -> String {
            try await harness.services.tokens.create(name: name, role: role, owner: owner, ownerName: owner.map { $0.capitalized }).1
        }
        return ApprovalPeople(
            admin: try await harness.token(.admin), ada: try await token("ada-laptop", "ada"), adaAgain: try await token("ada-ci", "ada"),
            bob: try await token("bob-laptop", "bob"), ownerless: try await token("shared", nil))
    }
}

extension TestClientProtocol {
    /// Sets `approvals.*` settings as admin.
    func setApprovals(_ json: String, admin: String) async throws {
        let response = try await api(.patch, "/api/v1/settings", token: admin, json: #"{"approvals": \#(json)}"#)
        #expect(response.status == .ok, "PATCH approvals \(json): \(response.status) \(response.errorMessage ?? "")")
    }
}

@Suite("Four-eyes approvals")
struct ApprovalsAPITests {
    /// Ada, with one enrolled device, and approval of wipes on; `body` gets the harness, client, people, device ID and key.
    func withWipeApprovals(
        _ body: @Sendable (Harness, any TestClientProtocol, ApprovalPeople, String, Curve25519.Signing.PrivateKey) async throws -> Void
    ) async throws {
        let harness = try await Harness()
        let people = try await ApprovalPeople.make(harness)
        try await harness.test { client async throws in
            _ = try await client.api(.post, "/api/v1/persons", token: people.admin, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#)
            let (key, response) = try await client.enroll(
                token: try await client.enrollToken(people.admin, json: #"{"person": "ada@example.org"}"#), at: harness.clock.now)
            try await client.setApprovals(#"{"wipe": 2}"#, admin: people.admin)
            try await body(harness, client, people, try response.decode(EnrollResponse.self).deviceId, key)
        }
        await harness.close()
    }

    func requestWipe(_ client: any TestClientProtocol, _ device: String, token: String) async throws -> ApprovalView {
        let response = try await client.api(
            .post, "/api/v1/devices/\(device)/commands", token: token, json: #"{"type": "wipe", "reason": "lost on the train"}"#)
        #expect(response.status == .accepted)
        return try response.decode(ApprovalView.self)
    }

    @Test("a wipe waits for a second person: neither the requester, nor a token of theirs, nor a token nobody owns may approve; another person does")
    func secondPersonApproves() async throws {
        try await withWipeApprovals { harness, client, people, device, key async throws in
            let approval = try await requestWipe(client, device, token: people.ada)
            #expect(approval.status == "pending-approval")
            #expect(approval.requester == "person:ada")
            #expect(try await harness.store.commands(deviceId: device).isEmpty)
            let (before, _) = try await checkin(client, key: key, at: harness.clock.now)
            #expect(before?.commands.isEmpty == true)

            for (token, words) in [
                (people.ada, "you asked for this yourself"), (people.adaAgain, "you asked for this yourself"), (people.ownerless, "has no owner"),
            ] {
                let refused = try await client.api(.post, "/api/v1/approvals/\(approval.id)/approve", token: token)
                #expect(refused.status == .forbidden)
                #expect(refused.errorMessage?.contains(words) == true, "\(refused.errorMessage ?? "")")
            }
            #expect(try await harness.store.approval(id: approval.id)?.state == .pending)

            let approved = try await client.api(.post, "/api/v1/approvals/\(approval.id)/approve", token: people.bob)
            #expect(approved.status == .ok)
            let view = try approved.decode(ApprovalView.self)
            #expect(view.state == .approved)
            #expect(view.decider == "person:bob")
            let command = try #require(try await harness.store.commands(deviceId: device).first)
            #expect(view.result == command.id)
            let (after, _) = try await checkin(client, key: key, at: harness.clock.now)
            #expect(after?.commands.map(\.id) == [command.id])
            #expect(after?.commands.first?.type == "wipe")

            let log = try await harness.store.auditEntries(since: nil, target: nil)
            let requested = try #require(log.first { $0.action == "approval.requested" })
            #expect(requested.actor == "token:ada-laptop (automation, owner ada)")
            let decided = try #require(log.first { $0.action == "approval.approved" })
            #expect(decided.actor == "token:bob-laptop (automation, owner bob)")
            #expect(decided.detail?["requestedBy"] == requested.actor)
            let wipe = try #require(log.first { $0.action == "command.wipe" })
            #expect(wipe.actor == requested.actor)
            #expect(wipe.detail?["approvedBy"] == decided.actor)

            let again = try await client.api(.post, "/api/v1/approvals/\(approval.id)/approve", token: people.bob)
            #expect(again.status == .conflict)
        }
    }

    @Test("a rejection needs a reason; a rejected wipe never happens and cannot be approved afterwards")
    func reject() async throws {
        try await withWipeApprovals { harness, client, people, device, key async throws in
            let approval = try await requestWipe(client, device, token: people.ada)
            let noReason = try await client.api(.post, "/api/v1/approvals/\(approval.id)/reject", token: people.bob, json: #"{"reason": ""}"#)
            #expect(noReason.status == .badRequest)
            let rejected = try await client.api(.post, "/api/v1/approvals/\(approval.id)/reject", token: people.bob, json: #"{"reason": "it was found"}"#)
            #expect(rejected.status == .ok)
            #expect(try rejected.decode(ApprovalView.self).reason == "it was found")
            #expect(try await client.api(.post, "/api/v1/approvals/\(approval.id)/approve", token: people.bob).status == .conflict)
            #expect(try await harness.store.commands(deviceId: device).isEmpty)
            let (reply, _) = try await checkin(client, key: key, at: harness.clock.now)
            #expect(reply?.commands.isEmpty == true)
            let entry = try #require(try await harness.store.auditEntries(since: nil, target: nil).first { $0.action == "approval.rejected" })
            #expect(entry.detail?["reason"] == "it was found")
        }
    }

    @Test("a request left past its expiry is never delivered, cannot be approved, and is audited as expired once")
    func expiry() async throws {
        try await withWipeApprovals { harness, client, people, device, key async throws in
            try await client.setApprovals(#"{"expiryHours": 1}"#, admin: people.admin)
            let approval = try await requestWipe(client, device, token: people.ada)
            harness.clock.advance(3600)
            let (reply, _) = try await checkin(client, key: key, at: harness.clock.now)
            #expect(reply?.commands.isEmpty == true)
            let late = try await client.api(.post, "/api/v1/approvals/\(approval.id)/approve", token: people.bob)
            #expect(late.status == .conflict)
            #expect(try await harness.services.approvals.sweep() == 0)
            let listed = try await client.api(.get, "/api/v1/approvals?state=expired", token: people.bob)
            #expect(try listed.decode([ApprovalView].self).map(\.id) == [approval.id])
            #expect(try await client.api(.get, "/api/v1/approvals?state=pending", token: people.bob).decode([ApprovalView].self).isEmpty)
            let expired = try await harness.store.auditEntries(since: nil, target: nil).filter { $0.action == "approval.expired" }
            #expect(expired.count == 1)
            #expect(expired.first?.actor == "system:approvals")
            #expect(try await harness.store.commands(deviceId: device).isEmpty)
        }
    }

    @Test("the approval settings take 0 or 2, and an expiry of 1 to 168 hours; anything else is refused naming the setting")
    func settingsValidation() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            for (json, words) in [
                (#"{"wipe": 1}"#, "approvals.wipe"), (#"{"tokenCreate": 3}"#, "approvals.tokenCreate"), (#"{"expiryHours": 0}"#, "approvals.expiryHours"),
            ] {
                let response = try await client.api(.patch, "/api/v1/settings", token: admin, json: #"{"approvals": \#(json)}"#)
                #expect(response.status == .badRequest)
                #expect(response.errorMessage?.contains(words) == true)
            }
            let shown = try await client.api(.get, "/api/v1/settings", token: admin).decode(Settings.self)
            #expect(shown.approvals == ApprovalSettings(wipe: 0, offboard: 0, tokenCreate: 0, expiryHours: 24))
        }
        await harness.close()
    }

    @Test("an offboarding at a date waits for approval and keeps its date once approved")
    func offboardingKeepsDate() async throws {
        let harness = try await Harness()
        let people = try await ApprovalPeople.make(harness)
        try await harness.test { client async throws in
            _ = try await client.api(.post, "/api/v1/persons", token: people.admin, json: #"{"email": "lee@example.org", "displayName": "Lee"}"#)
            try await client.setApprovals(#"{"offboard": 2}"#, admin: people.admin)
            let at = harness.clock.now.addingTimeInterval(10 * 86_400)
            let asked = try await client.api(
                .post, "/api/v1/persons/lee@example.org/offboard", token: people.ada,
                json: #"{"at": "\#(ISO8601.string(from: at))", "reason": "contract ends"}"#)
            #expect(asked.status == .accepted)
            let approval = try asked.decode(ApprovalView.self)
            #expect(approval.kind == .offboard)
            #expect(try await harness.store.person(email: "lee@example.org")?.status == .active)
            harness.clock.advance(3600)
            let approved = try await client.api(.post, "/api/v1/approvals/\(approval.id)/approve", token: people.bob)
            #expect(approved.status == .ok)
            let person = try #require(try await harness.store.person(email: "lee@example.org"))
            #expect(person.status == .offboarding)
            #expect(try await harness.store.offboarding(personId: person.id)?.wipeAt == at)
            let entry = try #require(try await harness.store.auditEntries(since: nil, target: nil).first { $0.action == "person.offboarding" })
            #expect(entry.actor.contains("owner ada"))
            #expect(entry.detail?["approvedBy"]?.contains("owner bob") == true)
        }
        await harness.close()
    }

    @Test("a token that waits for approval shows its secret to the requester only; the secret works only once another admin approves")
    func tokenCreate() async throws {
        let harness = try await Harness()
        let people = try await ApprovalPeople.make(harness, role: .admin)
        try await harness.test { client async throws in
            try await client.setApprovals(#"{"tokenCreate": 2}"#, admin: people.admin)
            let asked = try await client.api(.post, "/api/v1/api-tokens", token: people.ada, json: #"{"name": "backup", "role": "auditor"}"#)
            #expect(asked.status == .accepted)
            let approval = try asked.decode(ApprovalView.self)
            let secret = try #require(approval.token)
            #expect(try await client.api(.get, "/api/v1/me", token: secret).status == .unauthorized)
            let shown = try await client.api(.get, "/api/v1/approvals/\(approval.id)", token: people.bob)
            #expect(!String(buffer: shown.body).contains("secretHash"))
            #expect(try shown.decode(ApprovalView.self).token == nil)

            let approved = try await client.api(.post, "/api/v1/approvals/\(approval.id)/approve", token: people.bob)
            #expect(approved.status == .ok)
            #expect(!String(buffer: approved.body).contains(secret))
            let me = try await client.api(.get, "/api/v1/me", token: secret)
            #expect(me.status == .ok)
            let stored = try #require(try await harness.store.apiToken(id: try approved.decode(ApprovalView.self).result ?? ""))
            #expect(stored.token.owner == "ada")
            #expect(stored.token.role == .auditor)
            let entry = try #require(
                try await harness.store.auditEntries(since: nil, target: nil).first { $0.action == "api-token.created" && $0.target == stored.token.id })
            #expect(entry.actor == "token:ada-laptop (automation, owner ada)")
            #expect(entry.detail?["approvedBy"] == "token:bob-laptop (automation, owner bob)")
        }
        await harness.close()
    }

    @Test("approving a token needs the admin role: an operator may not")
    func tokenNeedsAdmin() async throws {
        let harness = try await Harness()
        let admins = try await ApprovalPeople.make(harness, role: .admin)
        let carol = try await harness.services.tokens.create(name: "carol", role: .operator, owner: "carol").1
        try await harness.test { client async throws in
            try await client.setApprovals(#"{"tokenCreate": 2}"#, admin: admins.admin)
            let approval = try await client.api(.post, "/api/v1/api-tokens", token: admins.ada, json: #"{"name": "x", "role": "auditor"}"#).decode(
                ApprovalView.self)
            let refused = try await client.api(.post, "/api/v1/approvals/\(approval.id)/approve", token: carol)
            #expect(refused.status == .forbidden)
            #expect(refused.errorMessage?.contains("admin") == true)
        }
        await harness.close()
    }
}

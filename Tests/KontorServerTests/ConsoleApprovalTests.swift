import Foundation
import HummingbirdTesting
import KontorCore
import KontorStore
import Testing

@testable import KontorServer

@Suite("Admin console: four-eyes approvals")
struct ConsoleApprovalTests {
    @Test("a wipe asked for in the console waits; its requester sees no buttons and a forced approval is refused; another person approves it")
    func wipeApproval() async throws {
        let harness = try await Harness()
        let people = try await ApprovalPeople.make(harness)
        try await harness.test { client in
            _ = try await client.api(.post, "/api/v1/persons", token: people.admin, json: #"{"email":"ada@example.org","displayName":"Ada"}"#)
            let (_, enrolled) = try await client.enroll(
                token: try await client.enrollToken(people.admin, json: #"{"person":"ada@example.org"}"#), at: harness.clock.now)
            let deviceId = try enrolled.decode(EnrollResponse.self).deviceId
            try await client.setApprovals(#"{"wipe": 2}"#, admin: people.admin)

            let ada = ConsoleBrowser(client)
            try await ada.signIn(people.ada)
            try await ada.get("/console/devices/\(deviceId)")
            let asked = try await ada.post("/console/devices/\(deviceId)/wipe", [("confirm", "laptop-7"), ("reason", "stolen from the van")])
            #expect(asked.location == "/console/approvals")
            #expect(try await harness.store.commands(deviceId: deviceId).isEmpty)
            let approval = try #require(try await harness.store.approvals(state: .pending).first)

            let own = try await ada.get("/console/approvals")
            #expect(own.text.contains("waits for a second person to approve it"))
            #expect(own.text.contains("Waiting for a second person"))
            #expect(!own.text.contains("/console/approvals/\(approval.id)/approve"))
            let forced = try await ada.post("/console/approvals/\(approval.id)/approve", [])
            #expect(forced.location == "/console/approvals")
            #expect(try await ada.get("/console/approvals").text.contains("you asked for this yourself"))
            #expect(try await harness.store.approval(id: approval.id)?.state == .pending)

            let bob = ConsoleBrowser(client)
            try await bob.signIn(people.bob)
            #expect(try await bob.get("/console").text.contains("1 request waits for approval"))
            let page = try await bob.get("/console/approvals")
            #expect(page.text.contains("/console/approvals/\(approval.id)/approve"))
            let approved = try await bob.post("/console/approvals/\(approval.id)/approve", [])
            #expect(approved.location == "/console/approvals")
            #expect(try await bob.get("/console/approvals").text.contains("You approved the wipe"))
            let commands = try await harness.store.commands(deviceId: deviceId)
            #expect(commands.map(\.type) == [.wipe])
            #expect(commands.first?.issuedBy == "ada-laptop")
            #expect(try await harness.store.approval(id: approval.id)?.decider == "person:bob")
            #expect(!(try await bob.get("/console").text.contains("wait for approval")))
        }
        await harness.close()
    }

    @Test("an admin turns approval on in the settings page; a value other than 0 or 2 cannot be sent")
    func settingsForm() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            #expect(try await browser.get("/console/settings").text.contains(#"id="approvals-form""#))
            try await browser.post("/console/settings/approvals", [("wipe", "2"), ("offboard", "2"), ("expiryHours", "48")])
            #expect(
                try await harness.services.approvals.settings() == ApprovalSettings(wipe: 2, offboard: 2, tokenCreate: 0, expiryHours: 48))
            try await browser.get("/console/settings")
            try await browser.post("/console/settings/approvals", [("wipe", "2"), ("expiryHours", "999")])
            #expect(try await browser.get("/console/settings").text.contains("approvals.expiryHours: expected 1 to 168 hours"))
            #expect(try await harness.services.approvals.settings().expiryHours == 48)
        }
        await harness.close()
    }
}

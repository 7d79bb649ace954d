import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import Testing

@testable import KontorServer

@Suite("Console: editing a person")
struct ConsolePersonEditTests {
    @Test("an operator changes name, groups, phone and participation from the person's page; a bad group changes nothing and says why")
    func edit() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            #expect(
                try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada", "groups": ["techs"]}"#)
                    .status == .created)
            let ada = try #require(try await harness.store.person(email: "ada@example.org"))
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            let page = try await browser.get("/console/persons/\(ada.id)")
            #expect(page.text.contains("id=\"edit-person\""))
            let bad = try await browser.post(
                "/console/persons/\(ada.id)/edit", [("displayName", "Ada"), ("groups", "techs; a b"), ("phone", ""), ("takingPart", "on")])
            #expect(bad.location == "/console/persons/\(ada.id)")
            #expect(try await browser.get("/console/persons/\(ada.id)").text.contains("Nothing was changed: groups[1]"))
            #expect(try await harness.store.person(id: ada.id)?.groups == ["techs"])

            let saved = try await browser.post(
                "/console/persons/\(ada.id)/edit", [("displayName", "Ada King"), ("groups", "office; lab"), ("phone", "+49 30 1")])
            #expect(saved.location == "/console/persons/\(ada.id)")
            let stored = try #require(try await harness.store.person(id: ada.id))
            #expect(stored.displayName == "Ada King" && stored.groups == ["office", "lab"] && stored.phone == "+49 30 1")
            #expect(stored.participation == .declined, "an unchecked box is a decline")
            let after = try await browser.get("/console/persons/\(ada.id)")
            #expect(after.text.contains("Ada King was saved."))
            #expect(after.text.contains("not taking part"))
        }
    }
}

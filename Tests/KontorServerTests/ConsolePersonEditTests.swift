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

@Suite("Console: importing a staff list")
struct ConsolePersonImportTests {
    @Test("a pasted list is previewed change by change, nothing written; confirmed, it is imported; a bad row is named and nothing written")
    func previewThenImport() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            #expect(try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "cy@example.org", "displayName": "Cy"}"#).status == .created)
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            try await browser.get("/console/persons")
            let csv = "email,name,groups\nada@example.org,\"Lovelace, Ada\",techs;office\n"
            let preview = try await browser.post("/console/persons/import", [("csv", csv)])
            #expect(preview.status == .ok)
            #expect(preview.text.contains("1 to add, 0 to change, 0 unchanged, 1 not in the list"))
            #expect(preview.text.contains("Lovelace, Ada — ada@example.org (techs, office)"))
            #expect(preview.text.contains("<li>cy@example.org</li>"))
            #expect(try await harness.store.person(email: "ada@example.org") == nil)
            let done = try await browser.post("/console/persons/import", [("csv", csv), ("confirm", "1")])
            #expect(done.location == "/console/persons")
            #expect(try await harness.store.person(email: "ada@example.org")?.groups == ["techs", "office"])
            #expect(try await browser.get("/console/persons").text.contains("Imported: 1 added, 0 changed, 0 unchanged."))
            let bad = try await browser.post("/console/persons/import", [("csv", "email,name\nnot-an-email,X\n")])
            #expect(bad.location == "/console/persons")
            #expect(try await browser.get("/console/persons").text.contains("Nothing was imported: csv: line 2, column email:"))
        }
    }
}

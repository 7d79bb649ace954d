import Foundation
import HummingbirdTesting
import KontorCore
import Testing

@testable import KontorServer

@Suite("Console: the person export (GDPR Art. 15)")
struct ConsolePersonExportTests {
    @Test("an admin downloads a person's export from their page with the form's CSRF token; it is audited; others get no button and a refusal")
    func exportButton() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let op = try await harness.token(.operator)
        try await harness.test { client in
            _ = try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#)
            let ada = try #require(try await harness.store.person(email: "ada@example.org"))
            let operatorBrowser = ConsoleBrowser(client)
            try await operatorBrowser.signIn(op)
            let operatorPage = try await operatorBrowser.get("/console/persons/\(ada.id)")
            #expect(!operatorPage.text.contains("export-person-form"))
            #expect(try await operatorBrowser.post("/console/persons/\(ada.id)/export", []).status == .forbidden)

            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            let page = try await browser.get("/console/persons/\(ada.id)")
            #expect(page.text.contains("Export personal data (Art. 15)"))
            #expect(page.text.contains(#"action="/console/persons/\#(ada.id)/export""#))
            #expect(try await browser.post("/console/persons/\(ada.id)/export", [], csrf: "").status == .forbidden)
            #expect(try await harness.store.auditEntries(since: nil, target: nil).filter { $0.action == "person.exported" }.isEmpty)

            try await browser.get("/console/persons/\(ada.id)")
            let download = try await browser.post("/console/persons/\(ada.id)/export", [])
            #expect(download.status == .ok)
            #expect(download.headers[.contentType] == "application/json")
            #expect(download.headers[.contentDisposition] == "attachment; filename=\"kontor-person-\(ada.id).json\"")
            let export = try download.decode(PersonExport.self)
            #expect(export.person.id == ada.id)
            let audited = try await harness.store.auditEntries(since: nil, target: "ada@example.org").filter { $0.action == "person.exported" }
            #expect(audited.map(\.actor) == ["token:test-admin (automation)"])
        }
    }
}

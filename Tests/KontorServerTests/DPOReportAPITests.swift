import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorClient
import KontorCore
import KontorStore
import Testing

@testable import KontorServer

@Suite("The data-protection officer's pack")
struct DPOReportAPITests {
    /// Two persons, three laptops (one wiped with a receipt), usage terms, two quiet-hours overrides and an erasure.
    func fleet(_ harness: Harness, _ client: any TestClientProtocol, _ admin: String) async throws {
        for (email, name) in [("ada@example.org", "Ada"), ("bo@example.org", "Bo"), ("cy@example.org", "Cy")] {
            _ = try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "\#(email)", "displayName": "\#(name)"}"#)
        }
        var keys: [(String, Curve25519.Signing.PrivateKey)] = []
        for (n, email) in ["ada@example.org", "ada@example.org", "bo@example.org"].enumerated() {
            var facts = sampleFacts
            facts.machineIdHash = "m-\(n)"
            let (key, response) = try await client.enroll(
                token: try await client.enrollToken(admin, json: #"{"person": "\#(email)"}"#), facts: facts, at: harness.clock.now)
            keys.append((try response.decode(EnrollResponse.self).deviceId, key))
        }
        let wipe = try await client.api(.post, "/api/v1/devices/\(keys[0].0)/commands", token: admin, json: #"{"type": "wipe", "reason": "left"}"#)
        let signed = try receipt(deviceId: keys[0].0, commandId: try wipe.decode(CommandRecord.self).id, key: keys[0].1, at: harness.clock.now)
        #expect(try await client.sendReceipt(signed, key: keys[0].1, at: harness.clock.now).status == .ok)
        for key in [keys[1], keys[2]] {
            let events = [DeviceEvent(at: harness.clock.now, kind: "quiet.override", detail: "until 23:00: month-end closing")]
            let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: events))
            #expect(try await client.signed(DeviceAPI.checkinPath, body: body, key: key.1, at: harness.clock.now).status == .ok)
        }
        _ = try await client.api(.post, "/api/v1/terms", token: admin, json: #"{"version": "2026-11", "text": "Work stays at work.", "graceSeconds": 0}"#)
        #expect(try await client.api(.post, "/api/v1/persons/cy@example.org/erase", token: admin, json: #"{"reason": "request 7"}"#).status == .ok)
    }

    @Test("every figure matches the API; the head is signed by the server and verifies; persons by pseudonym on request; roles and bad input")
    func figures() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let auditor = try await harness.token(.auditor)
        let feed = try await harness.token(.feed)
        try await harness.test { client async throws in
            try await fleet(harness, client, admin)
            let response = try await client.api(.get, "/api/v1/reports/dpo", token: auditor)
            #expect(response.status == .ok, "\(response.errorMessage ?? "")")
            let report = try response.decode(DPOReport.self)

            let devices = try await client.api(.get, "/api/v1/devices", token: auditor).decode([Device].self)
            #expect(report.devices.total == devices.count && report.devices.total == 3)
            #expect(report.devices.byStatus == Dictionary(grouping: devices, by: \.status.rawValue).mapValues(\.count))
            #expect(report.devices.byOwnership == ["company": 3])
            #expect(report.devices.byCompliance.values.reduce(0, +) == devices.filter { $0.status == .active }.count)
            let wiped = try #require(devices.first { $0.wipeReceiptId != nil })
            let receipts = try await client.api(.get, "/api/v1/devices/\(wiped.id)/receipts", token: auditor).decode([StoredReceipt].self)
            #expect(report.wipes.first?.deviceId == wiped.id)
            #expect(report.wipes.map(\.receiptId) == receipts.map(\.id) && report.wipes.first?.payloadDigest == receipts.first?.signed.digest)
            let terms = try await client.api(.get, "/api/v1/terms/report?version=2026-11", token: auditor).decode(TermsReport.self)
            #expect(report.terms.map(\.version) == ["2026-11"] && report.terms.first?.pending == terms.pending.count)
            #expect(report.quietOverrides.count == 1 && report.quietOverrides.first?.count == 2 && report.quietOverrides.first?.devices == 2)
            #expect(report.quietOverrides.first?.byPerson == ["ada@example.org": 1, "bo@example.org": 1])
            #expect(report.erasures == 1 && report.retention.map(\.action) == ["person.erased"])
            #expect(report.processing.count >= 8 && report.processing.contains { $0.data.hasPrefix("Staff directory") })
            #expect(report.auditVerified)
            let head = try #require(report.auditHead)
            #expect(head.check(key: harness.services.serverKey.publicKey, entries: try await harness.store.auditEntries(since: nil, target: nil)).ok)
            #expect(try await harness.store.auditEntries(since: nil, target: nil).contains { $0.action == "report.dpo" })

            let works = try await client.api(.get, "/api/v1/reports/dpo?pseudonymise=true", token: auditor).decode(DPOReport.self)
            #expect(works.pseudonymised && works.quietOverrides.first?.byPerson.keys.allSatisfy { $0.hasPrefix("erased-") } == true)
            let html = try await client.api(.get, "/api/v1/reports/dpo.html", token: auditor)
            let page = String(buffer: html.body)
            for heading in [
                "Record of processing", "Devices", "Wipes", "Usage terms and consent", "Quiet-hours overrides", "Retention and erasure", "Audit log",
            ] {
                #expect(page.contains("<h2>\(heading)</h2>"), "\(heading)")
            }
            #expect(page.contains("3 devices in all") && page.contains("1 wipe receipts received"))

            #expect(try await client.api(.get, "/api/v1/reports/dpo", token: feed).status == .forbidden)
            #expect(try await client.api(.get, "/api/v1/reports/dpo?from=2026-13-01", token: auditor).status == .badRequest)
            #expect(try await client.api(.get, "/api/v1/reports/dpo?from=2027-01-02&to=2027-01-01", token: auditor).status == .badRequest)
            #expect(try await client.api(.get, "/api/v1/reports/dpo?pseudonymise=maybe", token: auditor).status == .badRequest)
        }
    }

    @Test("the console's report: from the audit page's form (empty dates are the last 12 months), for a signed-in auditor, not for a visitor")
    func console() async throws {
        let harness = try await Harness()
        let auditor = try await harness.token(.auditor)
        try await harness.test { client async throws in
            let anonymous = ConsoleBrowser(client)
            #expect(try await anonymous.get("/console/reports/dpo").status == .seeOther)
            let browser = ConsoleBrowser(client)
            try await browser.signIn(auditor)
            let audit = try await browser.get("/console/audit")
            #expect(String(buffer: audit.body).contains(#"action="/console/reports/dpo""#))
            let page = try await browser.get("/console/reports/dpo?from=&to=&pseudonymise=true")
            #expect(page.status == .ok)
            let text = String(buffer: page.body)
            #expect(text.contains("<h1>Data-protection report</h1>") && text.contains("Persons are named by pseudonym"))
            #expect(try await browser.get("/console/reports/dpo?from=yesterday").status == .badRequest)
        }
    }
}

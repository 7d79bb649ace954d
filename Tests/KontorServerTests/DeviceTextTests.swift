import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorClient
import KontorCore
import KontorStore
import NIOCore
import Testing

@testable import KontorServer

/// Strings a device sends end up on admins' terminals and pages: none may carry a control or invisible character there.
@Suite("Text from devices")
struct DeviceTextTests {
    static let escape = "\u{1B}[2J\u{1B}]0;owned\u{07}\u{9B}31m"

    static func hasHidden(_ text: String) -> Bool {
        text.unicodeScalars.contains { VisibleText.isHidden($0) && !["\n", "\r", "\t"].contains($0) }
    }

    @Test("free text with terminal escapes is kept with them made visible: status message, event details, violations, quiet-hours reason")
    func freeTextEscaped() async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let (key, enrolled) = try await client.enroll(token: try await client.enrollToken(op), at: harness.clock.now)
            let id = try enrolled.decode(EnrollResponse.self).deviceId
            let now = harness.clock.now
            let request = CheckinRequest(
                appliedPolicyHash: nil, status: AgentReport(state: "degraded", message: "cannot hash /home/work-ada/\(Self.escape)"), facts: nil,
                compliance: ComplianceReport(
                    quiet: true, quietReason: "holiday \u{202E}",
                    violations: [AppViolation(executable: "/home/work-ada/bin/\(Self.escape)miner", pid: 42, action: "reported", at: now)]),
                events: [DeviceEvent(at: now, kind: "quiet.override", detail: "by \(Self.escape)")])
            let response = try await client.signed(DeviceAPI.checkinPath, body: try KontorJSON.encode(request), key: key, at: now)
            #expect(response.status == .ok)
            let device = try await client.api(.get, "/api/v1/devices/\(id)", token: op).decode(Device.self)
            #expect(device.agentStatus?.message == "cannot hash /home/work-ada/\\x1B[2J\\x1B]0;owned\\x07\\x9B31m")
            #expect(device.compliance?.violations.first?.executable.contains("\\x1B[2J") == true)
            #expect(device.compliance?.quietReason == "holiday \\u{202E}")
            let events = try await client.api(.get, "/api/v1/devices/\(id)/events", token: op).decode([DeviceEvent].self)
            #expect(events.first?.detail == "by \\x1B[2J\\x1B]0;owned\\x07\\x9B31m")
            let audit = try await harness.store.auditEntries(since: nil, target: id)
            #expect(audit.contains { $0.action == "device.quiet-override" })
            #expect(!audit.contains { Self.hasHidden("\($0.detail ?? [:])") })
            // Written to the store as well, not only shown.
            _ = try await harness.services.recorder.flush(now: harness.clock.now, all: true)
            let stored = try #require(try await harness.store.device(id: id))
            #expect(!Self.hasHidden(stored.agentStatus?.message ?? ""))
        }
    }

    @Test(
        "identifiers and vocabulary words with control characters are refused with 400 naming the field",
        arguments: [
            ("events[0].kind", #"{"events": [{"at": "2027-01-01T00:00:00Z", "kind": "quiet.begin\u001b[2J"}]}"#),
            ("appliedPolicyHash", #"{"appliedPolicyHash": "sha256:\u009b2J"}"#),
            ("compliance.containerAccount", #"{"compliance": {"containerAccount": "work\u200bada", "violations": []}}"#),
            ("facts.kernel", #"{"facts": {"hostname": "h", "osRelease": "o", "kernel": "6.1\u001b[31m", "machineIdHash": "m", "agentVersion": "v"}}"#),
            ("facts.hostname", #"{"facts": {"hostname": "laptop\u202e7", "osRelease": "o", "kernel": "k", "machineIdHash": "m", "agentVersion": "v"}}"#),
        ])
    func identifiersRefused(field: String, body: String) async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let (key, _) = try await client.enroll(token: try await client.enrollToken(op), at: harness.clock.now)
            let response = try await client.signed(DeviceAPI.checkinPath, body: Data(body.utf8), key: key, at: harness.clock.now)
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "invalid_request")
            #expect(response.errorMessage?.hasPrefix(field + ":") == true, "\(response.errorMessage ?? "")")
        }
    }

    @Test(
        "a hostname with an invisible or direction-changing character cannot enroll",
        arguments: ["laptop\u{200B}-7", "\u{202E}7-potpal", "laptop\u{2066}-7", "pc\u{3164}"])
    func hostnameRefusedAtEnrollment(hostname: String) async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            var facts = sampleFacts
            facts.hostname = hostname
            let (_, response) = try await client.enroll(token: try await client.enrollToken(op), facts: facts, at: harness.clock.now)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage?.hasPrefix("facts.hostname: contains the invisible or direction-changing character") == true)
            #expect(try await harness.store.deviceCount() == 0)
        }
    }

    @Test("what the audit log copies from a wipe receipt (paths the device names) is made visible; the receipt is kept as signed")
    func receiptPaths() async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let (key, enrolled) = try await client.enroll(token: try await client.enrollToken(op), at: harness.clock.now)
            let id = try enrolled.decode(EnrollResponse.self).deviceId
            let now = harness.clock.now
            let r = WipeReceipt(
                id: IdentifierGenerator.uuidV7(now: now), deviceId: id, trigger: "offline", commandId: nil, account: "work-ada", accountRemoved: true,
                processesKilled: 0, removed: [RemovedPath(path: "/srv/work/\(Self.escape)", files: 1, bytes: 1, existed: true)],
                refused: ["/home/ada/\u{202E}txt.exe"], startedAt: now, finishedAt: now, agentVersion: "0.1.0")
            let signed = try SignedReceipt.sign(r, key: key)
            #expect(try await client.sendReceipt(signed, key: key, at: now).status == .ok)
            let entry = try #require(try await harness.store.auditEntries(since: nil, target: id).first { $0.action == "device.wipe-receipt" })
            #expect(entry.detail?["paths"] == "/srv/work/\\x1B[2J\\x1B]0;owned\\x07\\x9B31m")
            #expect(entry.detail?["refused"] == "/home/ada/\\u{202E}txt.exe")
            #expect(try await harness.store.receipts(deviceId: id).first?.signed == signed)
        }
    }

    @Test("the console wipe form works for a device whose name was stored with a zero-width space before such names were refused")
    func consoleWipeOfInvisibleName() async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let (_, enrolled) = try await client.enroll(token: try await client.enrollToken(op), at: harness.clock.now)
            let id = try enrolled.decode(EnrollResponse.self).deviceId
            var facts = sampleFacts
            facts.hostname = "laptop\u{200B}-7"
            let json = String(decoding: try KontorJSON.encode(facts), as: UTF8.self)
            try await harness.tamper("UPDATE devices SET facts = '\(json)' WHERE id = '\(id)'")

            let browser = ConsoleBrowser(client)
            try await browser.signIn(op)
            let page = try await browser.get("/console/devices/\(id)")
            #expect(page.status == .ok)
            #expect(!Self.hasHidden(page.text), "the page shows an invisible character")
            let shown = try #require(Self.attribute("data-must-equal", in: page.text))
            #expect(shown == "laptop\\u{200B}-7")
            // What a person can type: the name as the page shows it.
            let wipe = try await browser.post("/console/devices/\(id)/wipe", [("confirm", shown), ("reason", "returned, wipe before reuse")])
            #expect(wipe.status == .seeOther)
            #expect(try await harness.store.commands(deviceId: id).map(\.type) == [.wipe])
        }
    }

    @Test("console pages show direction overrides and escapes that devices stored before the fix as visible text")
    func consolePages() async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let (_, enrolled) = try await client.enroll(token: try await client.enrollToken(op), at: harness.clock.now)
            let id = try enrolled.decode(EnrollResponse.self).deviceId
            var facts = sampleFacts
            facts.hostname = "\u{202E}7-potpal"
            facts.kernel = "6.1\u{1B}[31m"
            try await harness.tamper("UPDATE devices SET facts = '\(String(decoding: try KontorJSON.encode(facts), as: UTF8.self))' WHERE id = '\(id)'")
            try await harness.store.appendEvents(deviceId: id, [DeviceEvent(at: harness.clock.now, kind: "app.violation", detail: "ran \u{1B}]0;x\u{07}")])
            let browser = ConsoleBrowser(client)
            try await browser.signIn(op)
            for path in ["/console/devices/\(id)", "/console/devices", "/console", "/console/audit"] {
                let page = try await browser.get(path)
                #expect(page.status == .ok, "\(path)")
                #expect(!Self.hasHidden(page.text), "\(path) shows a control or invisible character")
            }
            #expect(try await browser.get("/console/devices/\(id)").text.contains("\\u{202E}7-potpal"))
        }
    }

    static func attribute(_ name: String, in page: String) -> String? {
        guard let range = page.range(of: "\(name)=\"([^\"]*)\"", options: .regularExpression) else { return nil }
        return String(page[range].dropFirst(name.count + 2).dropLast())
    }
}

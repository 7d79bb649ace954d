import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorClient
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

@Suite("Posture compliance through the API and the console")
struct PostureAPITests {
    func posture(_ disk: DiskEncryptionState, updated: Date) -> DevicePosture {
        DevicePosture(
            diskEncryption: DiskEncryption(disk, disk == .encrypted ? "LUKS2 on dm-0" : "sda2 is not dm-crypt"), secureBoot: SecureBoot(.enabled),
            updates: UpdatePosture(listsUpdatedAt: updated, securityUpdates: 1, securityPackages: ["openssl"], rebootRequired: true, rebootPackages: ["libc6"]),
            unitHardening: UnitHardening(exposure: 2.1, rating: "OK"))
    }

    @Test("a device that fails a required posture says which requirement, in the API, the listing, the console's list and its page")
    func failingRequirement() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let source = "name: secure\nposture:\n  requireDiskEncryption: true\n  maxUpdateAgeDays: 7\n"
            #expect(
                try await client.api(.post, "/api/v1/profiles", token: admin, json: try String(decoding: KontorJSON.encode(["source": source]), as: UTF8.self))
                    .status == .created)
            #expect(try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile":"secure","scope":"default"}"#).status == .ok)
            let now = harness.clock.now
            var facts = sampleFacts
            facts.posture = posture(.notEncrypted, updated: now - 2 * 86_400)
            let token = try await client.enrollToken(admin)
            let (key, enrolled) = try await client.enroll(token: token, facts: facts, at: now)
            #expect(enrolled.status == .created)
            let id = try enrolled.decode(EnrollResponse.self).deviceId
            let checkin = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: AgentReport(state: "ok"), facts: nil))
            #expect(try await client.signed(DeviceAPI.checkinPath, body: checkin, key: key, at: now).status == .ok)

            let device = try await client.api(.get, "/api/v1/devices/\(id)", token: admin).decode(Device.self)
            #expect(device.postureFailures == ["disk not encrypted"])
            #expect(device.facts.posture?.updates.rebootPackages == ["libc6"])

            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            let list = try await browser.get("/console/devices?compliance=posture")
            #expect(list.text.contains("noncompliant: disk not encrypted"))
            let page = try await browser.get("/console/devices/\(id)")
            #expect(page.text.contains("sda2 is not dm-crypt"))
            #expect(page.text.contains("exposure 2.1 of 10 OK"))

            // Nine days later the update age fails too, and an encrypted disk clears the first requirement.
            harness.clock.advance(9 * 86_400)
            facts.posture = posture(.encrypted, updated: now - 2 * 86_400)
            let again = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: AgentReport(state: "ok"), facts: facts))
            #expect(try await client.signed(DeviceAPI.checkinPath, body: again, key: key, at: harness.clock.now).status == .ok)
            let later = try await client.api(.get, "/api/v1/devices/\(id)", token: admin).decode(Device.self)
            #expect(later.postureFailures == ["updates 11 days old (at most 7)"])
            try await browser.signIn(admin)
            let listed = try await browser.get("/console/devices")
            #expect(listed.text.contains("noncompliant: updates 11 days old (at most 7)"))
        }
    }

    @Test("without posture requirements nothing fails, and an old agent's device shows no posture")
    func noRequirement() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let token = try await client.enrollToken(admin)
            let (_, enrolled) = try await client.enroll(token: token, at: harness.clock.now)
            let id = try enrolled.decode(EnrollResponse.self).deviceId
            let device = try await client.api(.get, "/api/v1/devices/\(id)", token: admin).decode(Device.self)
            #expect(device.postureFailures == [])
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            #expect(try await browser.get("/console/devices/\(id)").text.contains("Not reported: the agent is older than posture reporting."))
        }
    }

    @Test("a posture with a control character in a detail is refused at enrollment, naming the field")
    func refusedText() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            var facts = sampleFacts
            facts.posture = posture(.unknown, updated: harness.clock.now)
            facts.posture?.diskEncryption.detail = "overlay\u{7}"
            let (_, response) = try await client.enroll(token: try await client.enrollToken(admin), facts: facts, at: harness.clock.now)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage?.hasPrefix("facts.posture.diskEncryption.detail") == true)
        }
    }
}

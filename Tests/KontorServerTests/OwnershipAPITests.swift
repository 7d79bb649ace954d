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

/// Personal and company devices: the token decides, the device shows it, profiles can be assigned by
/// ownership, and a personal device gets nothing that reaches beyond its work container.
@Suite("Personal and company devices through the API")
struct OwnershipAPITests {
    /// `GET /api/v1/devices/{id}/policy`, the part these tests read.
    struct PolicyReply: Decodable { var policy: EffectivePolicy }

    /// A JSON body from a dictionary of strings.
    func json(_ object: [String: String]) throws -> String { String(decoding: try KontorJSON.encode(object), as: UTF8.self) }

    func apply(_ client: some TestClientProtocol, _ admin: String, _ source: String) async throws -> TestResponse {
        try await client.api(.post, "/api/v1/profiles", token: admin, json: try json(["source": source]))
    }

    func assign(_ client: some TestClientProtocol, _ admin: String, _ profile: String, _ scope: String, _ target: String? = nil) async throws -> TestResponse {
        var body = ["profile": profile, "scope": scope]
        body["target"] = target
        return try await client.api(.put, "/api/v1/assignments", token: admin, json: try json(body))
    }

    /// Enrolls a machine of its own with a token of `ownership` (for `person`, in `group`) and returns the device ID and key.
    func enroll(
        _ client: some TestClientProtocol, _ admin: String, ownership: String?, person: String? = nil, group: String? = nil, posture: DevicePosture? = nil,
        at now: Date
    ) async throws -> (id: String, key: Curve25519.Signing.PrivateKey) {
        var options: [String: String] = [:]
        options["ownership"] = ownership
        options["person"] = person
        options["group"] = group
        let token = try await client.enrollToken(admin, json: try json(options))
        var facts = sampleFacts
        facts.machineIdHash = UUID().uuidString
        facts.posture = posture
        let (key, enrolled) = try await client.enroll(token: token, facts: facts, at: now)
        #expect(enrolled.status == .created)
        return (try enrolled.decode(EnrollResponse.self).deviceId, key)
    }

    static let encryptedPosture = DevicePosture(
        diskEncryption: DiskEncryption(.notEncrypted, "sda2 is not dm-crypt"), secureBoot: SecureBoot(.enabled),
        updates: UpdatePosture(listsUpdatedAt: nil, securityUpdates: 0, securityPackages: [], rebootRequired: false, rebootPackages: []),
        unitHardening: UnitHardening(exposure: 2.1, rating: "OK"))

    @Test("the token's ownership becomes the device's; company when not given; a bad value is refused naming the field")
    func tokenOwnership() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let personal = try await enroll(client, admin, ownership: "personal", at: harness.clock.now)
            let company = try await enroll(client, admin, ownership: nil, at: harness.clock.now)
            #expect(try await client.api(.get, "/api/v1/devices/\(personal.id)", token: admin).decode(Device.self).ownership == .personal)
            #expect(try await client.api(.get, "/api/v1/devices/\(company.id)", token: admin).decode(Device.self).ownership == .company)
            let tokens = try await client.api(.get, "/api/v1/enroll-tokens", token: admin).decode([EnrollmentService.ListedToken].self)
            #expect(Set(tokens.map(\.token.ownership)) == [.personal, .company])
            let refused = try await client.api(.post, "/api/v1/enroll-tokens", token: admin, json: #"{"ownership": "private"}"#)
            #expect(refused.status == .badRequest)
            #expect(refused.errorMessage == #"ownership: expected company or personal, found "private""#)
        }
    }

    @Test("the device list filters by ownership, and refuses an unknown ownership naming the parameter")
    func listFilter() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let personal = try await enroll(client, admin, ownership: "personal", at: harness.clock.now)
            let company = try await enroll(client, admin, ownership: "company", at: harness.clock.now)
            let personalOnly = try await client.api(.get, "/api/v1/devices?ownership=personal", token: admin).decode([Device].self)
            #expect(personalOnly.map(\.id) == [personal.id])
            let companyOnly = try await client.api(.get, "/api/v1/devices?ownership=company", token: admin).decode([Device].self)
            #expect(companyOnly.map(\.id) == [company.id])
            let refused = try await client.api(.get, "/api/v1/devices?ownership=mine", token: admin)
            #expect(refused.status == .badRequest)
            #expect(refused.errorMessage?.hasPrefix("ownership:") == true)
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            let page = try await browser.get("/console/devices?ownership=personal")
            #expect(page.text.contains(personal.id) && !page.text.contains(company.id))
        }
    }

    @Test("the ownership layer sits between the default and the group: default < ownership < group < device")
    func mergeOrder() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            #expect(try await apply(client, admin, "name: base\ncheckinInterval: 300\napps:\n  mode: audit\n").status == .created)
            #expect(try await apply(client, admin, "name: own\ncheckinInterval: 200\napps:\n  mode: enforce\n").status == .created)
            #expect(try await apply(client, admin, "name: techs\ncheckinInterval: 100\n").status == .created)
            #expect(try await assign(client, admin, "base", "default").status == .ok)
            #expect(try await assign(client, admin, "own", "ownership", "personal").status == .ok)
            #expect(try await assign(client, admin, "techs", "group", "techs").status == .ok)
            let inGroup = try await enroll(client, admin, ownership: "personal", group: "techs", at: harness.clock.now)
            let alone = try await enroll(client, admin, ownership: "personal", at: harness.clock.now)
            let company = try await enroll(client, admin, ownership: "company", at: harness.clock.now)
            func policy(_ id: String) async throws -> EffectivePolicy {
                try await client.api(.get, "/api/v1/devices/\(id)/policy", token: admin).decode(PolicyReply.self).policy
            }
            let grouped = try await policy(inGroup.id)
            #expect(grouped.sources == ["base@1 (default)", "own@1 (ownership personal)", "techs@1 (group techs)"])
            #expect(grouped.checkinInterval == 100)
            #expect(grouped.apps?.mode == "enforce")
            #expect(grouped.origins?["apps.mode"] == "own@1 (ownership personal)")
            #expect(try await policy(alone.id).checkinInterval == 200)
            let companyPolicy = try await policy(company.id)
            #expect(companyPolicy.checkinInterval == 300 && companyPolicy.ownership == nil)
            let listed = try await client.api(.get, "/api/v1/profiles", token: admin).decode([PolicyService.Listed].self)
            #expect(listed.first { $0.name == "own" }?.assignedTo == ["ownership personal"])
            #expect(try await client.api(.delete, "/api/v1/assignments?scope=ownership&target=personal", token: admin).status == .ok)
            #expect(try await policy(alone.id).checkinInterval == 300)
            let bad = try await assign(client, admin, "own", "ownership", "private")
            #expect(bad.status == .badRequest && bad.errorMessage?.hasPrefix("target:") == true)
        }
    }

    @Test("policy that reaches beyond the work container is refused where it reaches personal devices only, naming the field")
    func refusals() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            #expect(try await apply(client, admin, "name: secure\nposture:\n  requireDiskEncryption: true\n").status == .created)
            let toOwnership = try await assign(client, admin, "secure", "ownership", "personal")
            #expect(toOwnership.status == .unprocessableContent)
            #expect(
                toOwnership.errorMessage
                    == #"profile "secure" is assigned to personal devices: posture.requireDiskEncryption reaches beyond the work container"#)
            let personal = try await enroll(client, admin, ownership: "personal", at: harness.clock.now)
            let toDevice = try await assign(client, admin, "secure", "device", personal.id)
            #expect(toDevice.status == .unprocessableContent)
            #expect(toDevice.errorMessage?.contains("posture.requireDiskEncryption") == true)
            // Company devices may require posture.
            #expect(try await assign(client, admin, "secure", "ownership", "company").status == .ok)

            // A profile assigned to personal devices cannot gain such a field in a new revision.
            #expect(try await apply(client, admin, "name: byod\ncheckinInterval: 120\n").status == .created)
            #expect(try await assign(client, admin, "byod", "ownership", "personal").status == .ok)
            let revised = try await apply(client, admin, "name: byod\ncheckinInterval: 120\nposture:\n  maxUpdateAgeDays: 7\n")
            #expect(revised.status == .unprocessableContent)
            #expect(revised.errorMessage == #"profile "byod" is assigned to personal devices: posture.maxUpdateAgeDays reaches beyond the work container"#)
            let wipe = try await apply(client, admin, "name: byod\noffline:\n  wipeAfter: 30\n")
            #expect(wipe.status == .unprocessableContent)
            #expect(wipe.errorMessage?.contains("offline.wipeAfter reaches beyond the work container unless") == true)
            #expect(try await client.api(.get, "/api/v1/profiles/byod", token: admin).decode(ProfileRevision.self).revision == 1)

            // Terms that allow an offline wipe on personal devices let the profile that names them hold one.
            let terms = #"{"version": "byod-1", "text": "Your work container may be wiped after 30 days offline.", "allowsOfflineWipeOnPersonalDevices": true}"#
            #expect(try await client.api(.post, "/api/v1/terms", token: admin, json: terms).status == .created)
            #expect(try await apply(client, admin, "name: byod\nusageTermsVersion: byod-1\noffline:\n  wipeAfter: 30\n").status == .created)
        }
    }

    @Test("fields of layers reaching both kinds are left out on a personal device and listed, never silently; company devices keep them")
    func droppedFieldsListed() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let source = "name: office\nposture:\n  requireDiskEncryption: true\n  maxUpdateAgeDays: 14\noffline:\n  lockAfter: 48\n  wipeAfter: 30\n"
            #expect(try await apply(client, admin, source).status == .created)
            #expect(try await assign(client, admin, "office", "default").status == .ok)
            let personal = try await enroll(client, admin, ownership: "personal", at: harness.clock.now)
            let company = try await enroll(client, admin, ownership: "company", at: harness.clock.now)

            let device = try await client.api(.get, "/api/v1/devices/\(personal.id)", token: admin).decode(Device.self)
            #expect(
                device.notApplied == [
                    "posture.requireDiskEncryption: personal device", "posture.maxUpdateAgeDays: personal device",
                    "offline.wipeAfter: personal device, no usage terms allow it",
                ])
            #expect(device.postureFailures == [])
            let policy = try await client.api(.get, "/api/v1/devices/\(personal.id)/policy", token: admin).decode(PolicyReply.self).policy
            #expect(policy.ownership == .personal)
            #expect(policy.posture == nil)
            #expect(policy.offline == OfflinePolicy(lockAfter: 48, wipeAfter: nil))
            #expect(policy.origins?["posture.requireDiskEncryption"] == nil)

            let companyDevice = try await client.api(.get, "/api/v1/devices/\(company.id)", token: admin).decode(Device.self)
            #expect(companyDevice.notApplied == nil)
            #expect(companyDevice.postureFailures == ["disk encryption not reported", "updates not reported"])

            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            let page = try await browser.get("/console/devices/\(personal.id)")
            #expect(page.text.contains("policy-not-applied") && page.text.contains("posture.requireDiskEncryption: personal device"))
            #expect(page.text.contains("personal device</span>"))
        }
    }

    @Test("terms that allow an offline wipe still need the person's acceptance before a personal device gets one")
    func offlineWipeNeedsAcceptance() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let terms = #"{"version": "byod-1", "text": "Wiped after 30 days offline.", "allowsOfflineWipeOnPersonalDevices": true}"#
            #expect(try await client.api(.post, "/api/v1/terms", token: admin, json: terms).status == .created)
            #expect(try await apply(client, admin, "name: byod\nusageTermsVersion: byod-1\noffline:\n  wipeAfter: 30\n").status == .created)
            #expect(try await assign(client, admin, "byod", "ownership", "personal").status == .ok)
            let personal = try await enroll(client, admin, ownership: "personal", at: harness.clock.now)
            let device = try await client.api(.get, "/api/v1/devices/\(personal.id)", token: admin).decode(Device.self)
            #expect(device.notApplied == ["offline.wipeAfter: personal device, usage terms byod-1 not accepted"])
        }
    }

    @Test("posture facts from a personal device are discarded, at enrollment and at check-in")
    func postureDiscarded() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let personal = try await enroll(client, admin, ownership: "personal", posture: Self.encryptedPosture, at: harness.clock.now)
            #expect(try await client.api(.get, "/api/v1/devices/\(personal.id)", token: admin).decode(Device.self).facts.posture == nil)
            var facts = sampleFacts
            facts.posture = Self.encryptedPosture
            let checkin = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: AgentReport(state: "ok"), facts: facts))
            let reply = try await client.signed(DeviceAPI.checkinPath, body: checkin, key: personal.key, at: harness.clock.now)
            #expect(reply.status == .ok)
            #expect(try reply.decode(CheckinResponse.self).policy?.ownership == .personal)
            let device = try await client.api(.get, "/api/v1/devices/\(personal.id)", token: admin).decode(Device.self)
            #expect(device.facts.posture == nil)
            #expect(device.facts.hostname == sampleFacts.hostname)
            // A company device's posture is kept.
            let company = try await enroll(client, admin, ownership: "company", posture: Self.encryptedPosture, at: harness.clock.now)
            #expect(try await client.api(.get, "/api/v1/devices/\(company.id)", token: admin).decode(Device.self).facts.posture != nil)
        }
    }

    @Test("a person's page and the dashboard count active devices by ownership")
    func counts() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let person = #"{"email": "ada@example.org", "displayName": "Ada"}"#
            #expect(try await client.api(.post, "/api/v1/persons", token: admin, json: person).status == .created)
            _ = try await enroll(client, admin, ownership: "personal", person: "ada@example.org", at: harness.clock.now)
            _ = try await enroll(client, admin, ownership: "company", person: "ada@example.org", at: harness.clock.now)
            _ = try await enroll(client, admin, ownership: "company", person: "ada@example.org", at: harness.clock.now)
            let detail = try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self)
            #expect(detail.devicesByOwnership == OwnershipCounts(company: 2, personal: 1))
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            #expect(try await browser.get("/console/persons/\(detail.person.id)").text.contains("Active devices: 2 company, 1 personal"))
            let dashboard = try await browser.get("/console").text
            #expect(dashboard.contains(#"<span class="num">1</span> <span class="badge ownership-personal">personal</span>"#))
            #expect(dashboard.contains(#"<span class="num">2</span> <span class="badge ownership-company">company</span>"#))
        }
    }
}

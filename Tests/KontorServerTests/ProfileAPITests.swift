import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import KontorStore
import NIOCore
import Testing

@testable import KontorServer

private let craft = """
    name: craft
    checkinInterval: 120
    quietHours:
      timeZone: Europe/Berlin
      weekly: {saturday: [all], sunday: [all]}
      exemptions:
        - persons: [ada@example.org]
          from: "2027-01-01"
          until: "2027-01-31"
    container: {}
    """

private func json(_ object: [String: Any]) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

@Suite("Profiles API")
struct ProfileAPITests {
    /// A harness with an admin token, a person in group `techs`, and one enrolled device of that person.
    func world(_ body: @Sendable (Harness, any TestClientProtocol, String, Curve25519.Signing.PrivateKey, String) async throws -> Void) async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            #expect(
                try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada", "groups": ["techs"]}"#)
                    .status == .created)
            let token = try await client.enrollToken(admin, json: #"{"person": "ada@example.org"}"#)
            let (key, response) = try await client.enroll(token: token, at: harness.clock.now)
            let deviceId = try response.decode(EnrollResponse.self).deviceId
            try await body(harness, client, admin, key, deviceId)
        }
    }

    func checkin(
        _ client: any TestClientProtocol, _ harness: Harness, _ key: Curve25519.Signing.PrivateKey, applied: String? = nil, compliance: ComplianceReport? = nil,
        events: [DeviceEvent]? = nil
    ) async throws -> CheckinResponse {
        let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: applied, status: nil, facts: nil, compliance: compliance, events: events))
        let response = try await client.signed(DeviceAPI.checkinPath, body: body, key: key, at: harness.clock.now)
        #expect(response.status == .ok, "\(response.errorMessage ?? "")")
        return try response.decode(CheckinResponse.self)
    }

    @Test("a dry run validates and lists the devices that would change, and stores nothing")
    func dryRun() async throws {
        try await world { harness, client, admin, _, deviceId in
            let assign = try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": craft]))
            #expect(assign.status == .created)
            #expect(
                try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile": "craft", "scope": "group", "target": "techs"}"#).status
                    == .ok)
            let changed = craft.replacingOccurrences(of: "checkinInterval: 120", with: "checkinInterval: 300")
            let response = try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": changed, "dryRun": true]))
            #expect(response.status == .ok)
            let result = try response.decode(PolicyService.ApplyResult.self)
            #expect(result.revision == nil)
            #expect(result.changes.map(\.deviceId) == [deviceId])
            #expect(result.changes.first?.fields == ["checkinInterval"])
            #expect(try await harness.store.profileRevisions(name: "craft").count == 1)
        }
    }

    @Test("invalid YAML is refused with the line and field, and nothing is stored")
    func invalid() async throws {
        try await world { harness, client, admin, _, _ in
            let bad = craft.replacingOccurrences(of: "[all], sunday", with: "[\"25:00-07:00\"], sunday")
            let response = try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": bad]))
            #expect(response.status == .badRequest)
            #expect(response.errorMessage?.contains("profile:5: quietHours.weekly.saturday[0]: expected HH:MM-HH:MM") == true, "\(response.errorMessage ?? "")")
            #expect(try await harness.store.latestProfiles().isEmpty)
        }
    }

    @Test("a device gets its group's profile merged over the default, with on-call narrowed to its person")
    func checkinGetsMergedPolicy() async throws {
        try await world { harness, client, admin, key, deviceId in
            let office = "name: office\ncheckinInterval: 60\nusageTermsVersion: \"2026-1\"\napps: {mode: audit, allow: [{package: firefox-esr}]}\n"
            #expect(try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": office])).status == .created)
            #expect(try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": craft])).status == .created)
            #expect(try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile": "office", "scope": "default"}"#).status == .ok)
            #expect(
                try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile": "craft", "scope": "group", "target": "techs"}"#).status
                    == .ok)
            let reply = try await checkin(client, harness, key)
            let policy = try #require(reply.policy)
            #expect(policy.checkinInterval == 120)
            #expect(policy.usageTermsVersion == "2026-1")
            #expect(policy.apps?.allow == [AppRule(package: "firefox-esr")])
            #expect(policy.container?.account == "work-ada")
            #expect(policy.quietHours?.onCall.count == 1)
            #expect(policy.sources == ["office@1 (default)", "craft@1 (group techs)"])
            #expect(reply.nextCheckin == 120)

            let shown = try await client.api(.get, "/api/v1/devices/\(deviceId)/policy", token: admin)
            #expect(shown.status == .ok)
            #expect(String(buffer: shown.body).contains(#""checkinInterval":"craft@1 (group techs)""#))
        }
    }

    @Test("compliance and events reported at check-in show on the device, and an outdated device is visible")
    func compliance() async throws {
        try await world { harness, client, admin, key, deviceId in
            #expect(try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": craft])).status == .created)
            #expect(try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile": "craft", "scope": "default"}"#).status == .ok)
            let first = try await checkin(client, harness, key)
            let report = ComplianceReport(
                quiet: true, quietReason: "quiet window saturday all", containerAccount: "work-ada", containerState: "frozen",
                violations: [AppViolation(executable: "/usr/bin/steam", pid: 42, action: "terminated", at: harness.clock.now)])
            _ = try await checkin(
                client, harness, key, applied: first.policyHash, compliance: report,
                events: [DeviceEvent(at: harness.clock.now, kind: "quiet.begin", detail: "saturday")])
            var device = try await harness.services.directory.device(deviceId)
            #expect(device.compliance == report)
            #expect(device.appliedPolicyHash == device.effectivePolicyHash)
            #expect(try await harness.store.events(deviceId: deviceId, limit: 10).map(\.kind) == ["quiet.begin"])

            // A new revision makes the device outdated until it checks in again.
            #expect(
                try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": craft.replacingOccurrences(of: "120", with: "90")])).status
                    == .created)
            device = try await harness.services.directory.device(deviceId)
            #expect(device.appliedPolicyHash != device.effectivePolicyHash)
        }
    }

    @Test("history and rollback keep every revision; an identical rollback does not change devices' policy hash")
    func historyAndRollback() async throws {
        try await world { harness, client, admin, key, _ in
            #expect(try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": craft])).status == .created)
            #expect(try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile": "craft", "scope": "default"}"#).status == .ok)
            let v1 = try await checkin(client, harness, key).policyHash
            #expect(
                try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": craft.replacingOccurrences(of: "120", with: "90")])).status
                    == .created)
            let v2 = try await checkin(client, harness, key, applied: v1).policyHash
            #expect(v2 != v1)
            let rollback = try await client.api(.post, "/api/v1/profiles/craft/rollback", token: admin, json: #"{"revision": 1}"#)
            #expect(rollback.status == .created)
            #expect(try rollback.decode(PolicyService.ApplyResult.self).revision == 3)
            let v3 = try await checkin(client, harness, key, applied: v2).policyHash
            #expect(v3 == v1)
            let history = try await client.api(.get, "/api/v1/profiles/craft/history", token: admin)
            #expect(String(buffer: history.body).components(separatedBy: "\"revision\"").count - 1 == 3)
            let old = try await client.api(.get, "/api/v1/profiles/craft?revision=2", token: admin)
            #expect(String(buffer: old.body).contains("checkinInterval: 90"))
        }
    }

    @Test("a revision that is not a revision number is refused naming the parameter, not answered with the latest", arguments: ["x", "0", "-1", "1.5", ""])
    func badRevision(text: String) async throws {
        try await world { _, client, admin, _, _ in
            #expect(try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": craft])).status == .created)
            let response = try await client.api(.get, "/api/v1/profiles/craft?revision=\(text)", token: admin)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage == "revision: expected a revision number (1, 2, …), found \"\(text)\"")
            #expect(try await client.api(.get, "/api/v1/profiles/craft?revision=2", token: admin).status == .notFound)
        }
    }

    @Test(
        "assignments are checked",
        arguments: [
            (#"{"profile": "nope", "scope": "default"}"#, "profile: no profile named nope; apply it first"),
            (#"{"profile": "craft", "scope": "galaxy"}"#, "scope: expected default, ownership, group or device, found \"galaxy\""),
            (#"{"profile": "craft", "scope": "device", "target": "missing"}"#, "target: no device missing"),
            (#"{"profile": "craft", "scope": "group"}"#, "target: a group name is required (letters, digits, '.', '_' or '-')"),
        ])
    func assignmentValidation(body: String, message: String) async throws {
        try await world { _, client, admin, _, _ in
            #expect(try await client.api(.post, "/api/v1/profiles", token: admin, json: json(["source": craft])).status == .created)
            let response = try await client.api(.put, "/api/v1/assignments", token: admin, json: body)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage == message)
        }
    }
}

@Suite("Profiles that cross the work/private boundary")
struct BoundaryProfileTests {
    private func profile(_ name: String, account: String, path: String) -> String {
        "name: \(name)\ncontainer:\n  accountPattern: \"\(account)\"\n  extraWorkPaths: [\"\(path)\"]\n"
    }

    @Test(
        "a profile whose work account is not a work- account, or whose work path lies outside /srv/work and the work home, is refused naming the field",
        arguments: [
            ("root", "/srv/work/{localpart}", "container.accountPattern"), ("{localpart}", "/srv/work/{localpart}", "container.accountPattern"),
            ("ada", "/srv/work/{localpart}", "container.accountPattern"), ("work-{localpart}", "/home/{localpart}/Documents", "container.extraWorkPaths[0]"),
            ("work-{localpart}", "/etc/{localpart}", "container.extraWorkPaths[0]"), ("work-{localpart}", "/home/shared", "container.extraWorkPaths[0]"),
            ("work-{localpart}", "/srv/www/{localpart}", "container.extraWorkPaths[0]"),
            ("work-{localpart}", "/srv/work/{localpart}/../../etc", "container.extraWorkPaths[0]"),
        ])
    func refused(account: String, path: String, field: String) async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let response = try await client.api(
                .post, "/api/v1/profiles", token: admin, json: Self.json(["source": profile("bad", account: account, path: path)]))
            #expect(response.status == .badRequest)
            #expect(response.errorMessage?.contains(field) == true, "\(response.errorMessage ?? "")")
            #expect(try await harness.store.latestProfiles().isEmpty)
        }
    }

    @Test("work-{localpart} with /srv/work/{localpart} and a folder in the work home is accepted")
    func accepted() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            for (account, path) in [("work-{localpart}", "/srv/work/{localpart}"), ("work-{localpart}", "/home/{account}/Projects")] {
                let response = try await client.api(
                    .post, "/api/v1/profiles", token: admin, json: Self.json(["source": profile("ok", account: account, path: path)]))
                #expect(response.status == .created, "\(response.errorMessage ?? "")")
            }
        }
    }

    @Test("a profile stored under older rules is listed as held, never delivered or assigned, and delivered once a fixed revision is applied")
    func heldUntilFixed() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            #expect(
                try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada", "groups": []}"#).status
                    == .created)
            let token = try await client.enrollToken(admin, json: #"{"person": "ada@example.org"}"#)
            let (key, _) = try await client.enroll(token: token, at: harness.clock.now)
            // Stored straight into the store, as an older server accepted it, and assigned to everyone.
            var old = Profile(name: "legacy")
            old.checkinInterval = 300
            old.container = ContainerPolicy(accountPattern: "{localpart}", extraWorkPaths: ["/home/{localpart}/Documents"])
            let source =
                "name: legacy\ncheckinInterval: 300\ncontainer:\n  accountPattern: \"{localpart}\"\n  extraWorkPaths: [\"/home/{localpart}/Documents\"]\n"
            _ = try await harness.store.addProfileRevision(source: source, profile: old, at: harness.clock.now, by: "an older server")
            try await harness.store.assign(
                ProfileAssignment(scope: "default", target: "", profile: "legacy", assignedAt: harness.clock.now, assignedBy: "an older server"))
            await harness.services.policies.catalog.invalidate()

            let listed = try await client.api(.get, "/api/v1/profiles", token: admin).decode([PolicyService.Listed].self)
            #expect(listed.map(\.name) == ["legacy"])
            #expect(listed.first?.held == true)
            #expect(listed.first?.issues?.contains { $0.hasPrefix("container.accountPattern:") } == true)
            #expect(listed.first?.issues?.contains { $0.hasPrefix("container.extraWorkPaths[0]:") } == true)

            // The device gets its policy without it: no container named after the person's login.
            let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil))
            let reply = try await client.signed(DeviceAPI.checkinPath, body: body, key: key, at: harness.clock.now).decode(CheckinResponse.self)
            #expect(reply.policy?.container == nil)
            #expect(reply.policy?.checkinInterval != 300)
            #expect(reply.policy?.sources.isEmpty == true)

            let assign = try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile": "legacy", "scope": "group", "target": "techs"}"#)
            #expect(assign.status == .badRequest)
            #expect(assign.errorMessage?.contains("held back") == true, "\(assign.errorMessage ?? "")")
            // Rolling back to the held revision is refused like a new apply.
            let rollback = try await client.api(.post, "/api/v1/profiles/legacy/rollback", token: admin, json: #"{"revision": 1}"#)
            #expect(rollback.status == .badRequest)

            let fixed =
                "name: legacy\ncheckinInterval: 300\ncontainer:\n  accountPattern: \"work-{localpart}\"\n  extraWorkPaths: [\"/srv/work/{localpart}\"]\n"
            #expect(try await client.api(.post, "/api/v1/profiles", token: admin, json: Self.json(["source": fixed])).status == .created)
            let again = try await client.signed(DeviceAPI.checkinPath, body: body, key: key, at: harness.clock.now).decode(CheckinResponse.self)
            #expect(again.policy?.container == ResolvedContainer(account: "work-ada", extraWorkPaths: ["/srv/work/ada"]))
            #expect(again.policy?.checkinInterval == 300)
            #expect(try await client.api(.get, "/api/v1/profiles", token: admin).decode([PolicyService.Listed].self).first?.held == false)
        }
    }

    static func json(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }
}

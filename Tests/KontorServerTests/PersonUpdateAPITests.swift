import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

@Suite("Persons are edited: name, groups, phone; a group change reaches the devices' policies")
struct PersonUpdateAPITests {
    @Test("a group change changes the person's device's policy (a group's on-call exemption) at its next check-in, and is audited")
    func groupChangeReachesDevice() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            #expect(
                try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#).status == .created)
            let profile = """
                name: office
                quietHours:
                  timeZone: UTC
                  weekly: {sunday: [all]}
                  exemptions:
                    - groups: [techs]
                      from: "2027-01-01"
                      until: "2027-01-07"
                      reason: on call
                """
            let source = String(data: try JSONSerialization.data(withJSONObject: ["source": profile]), encoding: .utf8)!
            #expect(try await client.api(.post, "/api/v1/profiles", token: admin, json: source).status == .created)
            #expect(try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile": "office", "scope": "default"}"#).status == .ok)
            let token = try await client.enrollToken(admin, json: #"{"person": "ada@example.org"}"#)
            let (key, _) = try await client.enroll(token: token, at: harness.clock.now)
            func exempt() async throws -> Bool {
                let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil))
                let reply = try await client.signed(DeviceAPI.checkinPath, body: body, key: key, at: harness.clock.now).decode(CheckinResponse.self)
                return !(reply.policy?.quietHours?.onCall ?? []).isEmpty
            }
            #expect(try await exempt() == false)
            let added = try await client.api(
                .patch, "/api/v1/persons/ada@example.org", token: admin, json: #"{"addGroups": ["techs"], "displayName": "Ada L."}"#)
            #expect(added.status == .ok)
            #expect(try added.decode(Person.self).groups == ["techs"])
            #expect(try await exempt())
            let removed = try await client.api(.patch, "/api/v1/persons/ada@example.org", token: admin, json: #"{"removeGroups": ["techs"], "phone": ""}"#)
            #expect(try removed.decode(Person.self).groups.isEmpty)
            #expect(try await exempt() == false)
            let audit = String(buffer: try await client.api(.get, "/api/v1/audit?target=ada@example.org", token: admin).body)
            #expect(audit.contains("person.updated"))
            #expect(audit.contains("Ada L."))
        }
    }

    @Test("bad changes are refused naming the field, nothing is changed; an auditor may not edit")
    func refusals() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let auditor = try await harness.token(.auditor)
        try await harness.test { client async throws in
            #expect(
                try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "bo@example.org", "displayName": "Bo", "groups": ["a"]}"#)
                    .status == .created)
            for (json, field) in [
                (#"{"displayName": ""}"#, "displayName:"), (#"{"groups": ["a b"]}"#, "groups[0]:"), (#"{"addGroups": ["ok", "x/y"]}"#, "addGroups[1]:"),
                (#"{"phone": "call me"}"#, "phone:"), (#"{"displayName": "B\u0000o"}"#, "displayName:"),
            ] {
                let refused = try await client.api(.patch, "/api/v1/persons/bo@example.org", token: admin, json: json)
                #expect(refused.status == .badRequest, "\(json)")
                #expect(refused.errorMessage?.hasPrefix(field) == true, "\(refused.errorMessage ?? "")")
            }
            #expect(try await client.api(.patch, "/api/v1/persons/bo@example.org", token: auditor, json: #"{"displayName": "X"}"#).status == .forbidden)
            #expect(try await client.api(.patch, "/api/v1/persons/nobody@example.org", token: admin, json: #"{"displayName": "X"}"#).status == .notFound)
            let bo = try await client.api(.get, "/api/v1/persons/bo@example.org", token: admin).decode(PersonDetail.self).person
            #expect(bo.displayName == "Bo" && bo.groups == ["a"])
        }
    }
}

import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

private let termsProfile = """
    name: office
    usageTermsVersion: "2026-12"
    """

private func json(_ object: [String: Any]) throws -> String { String(data: try JSONSerialization.data(withJSONObject: object), encoding: .utf8)! }

@Suite("Usage terms: publish, answer signed by the device, enforce through the policy, report")
struct TermsAPITests {
    /// Ada with an enrolled laptop under a profile that names terms 2026-12 (not yet published).
    func world(_ body: @Sendable (Harness, any TestClientProtocol, String, Curve25519.Signing.PrivateKey, String) async throws -> Void) async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            #expect(
                try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#).status == .created)
            #expect(try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "bo@example.org", "displayName": "Bo"}"#).status == .created)
            #expect(try await client.api(.post, "/api/v1/profiles", token: admin, json: try json(["source": termsProfile])).status == .created)
            #expect(try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile": "office", "scope": "default"}"#).status == .ok)
            let token = try await client.enrollToken(admin, json: #"{"person": "ada@example.org"}"#)
            let (key, enrolled) = try await client.enroll(token: token, at: harness.clock.now)
            try await body(harness, client, admin, key, try enrolled.decode(EnrollResponse.self).deviceId)
        }
    }

    func policy(_ client: any TestClientProtocol, _ key: Curve25519.Signing.PrivateKey, _ harness: Harness) async throws -> EffectivePolicy? {
        let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil))
        return try await client.signed(DeviceAPI.checkinPath, body: body, key: key, at: harness.clock.now).decode(CheckinResponse.self).policy
    }

    @Test("versions are published by an admin only, once, with their hash; bad input is refused naming the field")
    func publish() async throws {
        try await world { harness, client, admin, _, _ in
            let auditor = try await harness.token(.auditor)
            let input = try json(["version": "2026-12", "text": "Work stays work.\n", "undertaking": "I keep secrets.", "graceSeconds": 86_400])
            #expect(try await client.api(.post, "/api/v1/terms", token: auditor, json: input).status == .forbidden)
            let created = try await client.api(.post, "/api/v1/terms", token: admin, json: input)
            #expect(created.status == .created)
            let terms = try created.decode(UsageTerms.self)
            #expect(terms.sha256 == Bytes.sha256Hex(Data("Work stays work.\n".utf8)))
            #expect(terms.deadline == terms.publishedAt + 86_400)
            let again = try await client.api(.post, "/api/v1/terms", token: admin, json: try json(["version": "2026-12", "text": "changed"]))
            #expect(again.status == .conflict)
            #expect(try await client.api(.get, "/api/v1/terms/2026-12", token: auditor).decode(UsageTerms.self) == terms)
            for (bad, field) in [
                (["version": "a b", "text": "x"], "version:"), (["version": "v2", "text": "  "], "text:"),
                (["version": "v2", "text": "x", "graceSeconds": -1], "grace:"), (["version": "v2", "text": "a\u{202E}b"], "text:"),
            ] as [([String: Any], String)] {
                let refused = try await client.api(.post, "/api/v1/terms", token: admin, json: try json(bad))
                #expect(refused.status == .badRequest)
                #expect(refused.errorMessage?.hasPrefix(field) == true, "\(refused.errorMessage ?? "")")
            }
            #expect(try await client.api(.get, "/api/v1/terms", token: auditor).decode([UsageTerms].self).map(\.version) == ["2026-12"])
        }
    }

    @Test("the policy carries the published terms and the person's answer; a signed acceptance changes it at once and is reported")
    func answerAndReport() async throws {
        try await world { harness, client, admin, key, deviceId in
            #expect(try await policy(client, key, harness)?.terms == nil)
            let text = "Work stays work.\n"
            #expect(
                try await client.api(.post, "/api/v1/terms", token: admin, json: try json(["version": "2026-12", "text": text, "graceSeconds": 0])).status
                    == .created)
            let required = try #require(try await policy(client, key, harness)?.terms)
            #expect(required.decision == nil)
            #expect(required.locks(at: harness.clock.now))
            // The device fetches the text, signed.
            let fetched = try await client.signed(
                DeviceAPI.termsPath, body: try KontorJSON.encode(TermsTextRequest(version: "2026-12")), key: key, at: harness.clock.now)
            #expect(try fetched.decode(UsageTerms.self).text == text)
            let statement = TermsStatement(
                id: IdentifierGenerator.uuidV7(now: harness.clock.now), version: "2026-12", textSha256: required.sha256, undertakingSha256: nil,
                deviceId: deviceId, personId: required.personId, login: "ada", decision: .accepted, at: harness.clock.now)
            let signed = try SignedTermsResponse.sign(statement, key: key)
            let sent = try await client.signed(DeviceAPI.termsResponsesPath, body: try KontorJSON.encode(signed), key: key, at: harness.clock.now)
            #expect(sent.status == .ok)
            #expect(try sent.decode(TermsResponseConfirmation.self) == TermsResponseConfirmation(id: statement.id, decision: .accepted, duplicate: false))
            let resent = try await client.signed(DeviceAPI.termsResponsesPath, body: try KontorJSON.encode(signed), key: key, at: harness.clock.now)
            #expect(try resent.decode(TermsResponseConfirmation.self).duplicate)
            let after = try #require(try await policy(client, key, harness)?.terms)
            #expect(after.decision == .accepted)
            #expect(!after.locks(at: harness.clock.now))
            let report = try await client.api(.get, "/api/v1/terms/report?version=2026-12", token: admin).decode(TermsReport.self)
            #expect(report.answers.count == 1)
            #expect(report.answers.first?.person?.email == "ada@example.org")
            #expect(report.answers.first?.signatureValid == true)
            #expect(report.answers.first?.verifies() == true)
            #expect(report.pending.isEmpty)
            let csv = String(buffer: try await client.api(.get, "/api/v1/terms/report?format=csv", token: admin).body)
            #expect(csv.contains("accepted,ada@example.org"))
            let audit = String(buffer: try await client.api(.get, "/api/v1/audit", token: admin).body)
            #expect(audit.contains("terms.accepted"))
            #expect(audit.contains("terms.published"))
        }
    }

    @Test("an answer naming another text, another person or signed by another key is refused and changes nothing")
    func forgedAnswers() async throws {
        try await world { harness, client, admin, key, deviceId in
            #expect(
                try await client.api(.post, "/api/v1/terms", token: admin, json: try json(["version": "2026-12", "text": "T", "graceSeconds": 0])).status
                    == .created)
            let required = try #require(try await policy(client, key, harness)?.terms)
            func statement(text: String = "T", person: String? = nil) -> TermsStatement {
                TermsStatement(
                    id: IdentifierGenerator.uuidV7(now: harness.clock.now), version: "2026-12", textSha256: Bytes.sha256Hex(Data(text.utf8)),
                    undertakingSha256: nil,
                    deviceId: deviceId, personId: person ?? required.personId, login: "ada", decision: .accepted, at: harness.clock.now)
            }
            for signed in [
                try SignedTermsResponse.sign(statement(text: "other"), key: key), try SignedTermsResponse.sign(statement(person: "someone-else"), key: key),
                try SignedTermsResponse.sign(statement(), key: .init()),
            ] {
                let refused = try await client.signed(DeviceAPI.termsResponsesPath, body: try KontorJSON.encode(signed), key: key, at: harness.clock.now)
                #expect(refused.status == .badRequest)
            }
            #expect(try await client.api(.get, "/api/v1/terms/report", token: admin).decode(TermsReport.self).answers.isEmpty)
            #expect(try await policy(client, key, harness)?.terms?.decision == nil)
        }
    }

    @Test("a person who declined to take part gets no enrollment token, and the report counts them")
    func participation() async throws {
        try await world { _, client, admin, _, _ in
            let pending = try await client.api(.post, "/api/v1/enroll-tokens", token: admin, json: #"{"person": "bo@example.org"}"#)
            #expect(pending.status == .created)
            let declined = try await client.api(.patch, "/api/v1/persons/bo@example.org", token: admin, json: #"{"participation": "declined"}"#)
            #expect(try declined.decode(Person.self).participation == .declined)
            let refused = try await client.api(.post, "/api/v1/enroll-tokens", token: admin, json: #"{"person": "bo@example.org"}"#)
            #expect(refused.status == .conflict)
            #expect(refused.errorMessage?.contains("declined to take part") == true)
            let tokens = String(buffer: try await client.api(.get, "/api/v1/enroll-tokens", token: admin).body)
            #expect(tokens.contains(#""state":"revoked""#))
            #expect(try await client.api(.post, "/api/v1/terms", token: admin, json: try json(["version": "2026-12", "text": "T"])).status == .created)
            let report = try await client.api(.get, "/api/v1/terms/report", token: admin).decode(TermsReport.self)
            #expect(report.notTakingPart.map(\.email) == ["bo@example.org"])
            #expect(report.pending.map(\.email) == ["ada@example.org"])
            let bad = try await client.api(.patch, "/api/v1/persons/bo@example.org", token: admin, json: #"{"participation": "maybe"}"#)
            #expect(bad.status == .badRequest)
        }
    }
}

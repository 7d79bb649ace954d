import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorClient
import KontorCore
import NIOCore
import Synchronization
import Testing

@testable import KontorServer

/// The OpenAPI document lists every status an operation answers. Each operation of the document is
/// driven, on a small world of its own, with no token and a token of each role, known and unknown IDs,
/// missing, empty, malformed, wrong-typed and oversize bodies and parameters (one field at a time), and
/// device operations unsigned, badly signed and replayed; any status the document does not list for it,
/// any 5xx and any error without the JSON error body fails the test, naming an example request.
/// KONTOR_OPENAPI_PROBE_LOG=DIR writes every request and answer there, one file per operation.
@Suite("OpenAPI statuses")
struct OpenAPIStatusTests {
    // One operation at a time: each has a server and store of its own (on PostgreSQL, a pool), and 44 at
    // once would take the connections the other suites need.
    @Test(
        "every status an operation answers is one the OpenAPI document lists for it, none is a server error, and every error has the error body",
        .serialized, arguments: DocumentedOperation.all())
    func statusesAreDocumented(_ operation: DocumentedOperation) async throws {
        let answers = try await Self.drive(operation)
        if let log = ProcessInfo.processInfo.environment["KONTOR_OPENAPI_PROBE_LOG"] {
            let text =
                answers.map { "\(operation.testDescription)\t\($0.status)\t\($0.errorCode ?? "")\t\($0.probe)\t\($0.message ?? "")" }.joined(separator: "\n")
                + "\n"
            try text.write(toFile: log + "/" + operation.testDescription.replacingOccurrences(of: "/", with: "_"), atomically: true, encoding: .utf8)
        }
        var undocumented: [Int: Answer] = [:]
        // The probes' provider does not exist: its 502 (documented) is the one server-side status allowed, there.
        let providerDown = Self.succeedsElsewhere[operation.testDescription] != nil ? 502 : nil
        for answer in answers where !operation.statuses.contains(answer.status) || (answer.status >= 500 && answer.status != providerDown) {
            undocumented[answer.status] = undocumented[answer.status] ?? answer
        }
        let list = undocumented.keys.sorted().map { "  \($0): e.g. \(undocumented[$0]!)" }.joined(separator: "\n")
        #expect(undocumented.isEmpty, "\(operation.testDescription) answered statuses the OpenAPI document does not list for it:\n\(list)")

        let bare = answers.filter { $0.status >= 400 && ($0.errorCode ?? "").isEmpty }
        #expect(bare.isEmpty, "errors without {\"error\": {\"code\", \"message\"}}: \(bare.prefix(5).map(\.description))")
        // The probes reach the operation itself, not only its refusals (except where only a real provider can
        // issue what it takes).
        if Self.succeedsElsewhere[operation.testDescription] == nil {
            #expect(answers.contains { (200..<300).contains($0.status) }, "no probe of \(operation.testDescription) succeeded")
        }
    }

    /// Operations whose success needs an ID token signed by an OpenID provider, and the test that shows it.
    static let succeedsElsewhere = [
        "POST /api/v1/auth/oidc/session": "OIDCSignInEndToEndTests (kontorctl login against the Authlib provider)",
        "DELETE /api/v1/auth/session": "OIDCSignInEndToEndTests (kontorctl logout)",
    ]

    /// A provider is configured (nothing listens at its address): the door for kontorctl's sign-in exists.
    static func withProvider(_ config: inout ServerConfig) {
        config.longPollMax = 0
        config.oidcIssuer = "http://127.0.0.1:9"
        config.oidcClientId = "kontor-console"
        config.oidcCliClientId = "kontorctl"
        config.oidcRoles = ["kontor-admins": .admin]
    }

    /// Sends every probe of `operation` to a fresh server with a fresh world; returns the answers.
    static func drive(_ operation: DocumentedOperation) async throws -> [Answer] {
        let answers = Mutex<[Answer]>([])
        try await withHarness(withProvider) { harness in
            try await harness.test { client async throws in
                let world = try await FuzzWorld.build(harness, client)
                for probe in try ProbePlan(operation: operation, world: world, now: harness.clock.now).probes() { try await answers.send(probe, client) }
                if operation.path == DeviceAPI.enrollPath {
                    // Tokens that expired meanwhile.
                    harness.clock.advance(120)
                    for probe in try ProbePlan(operation: operation, world: world, now: harness.clock.now).expiredEnrollment() {
                        try await answers.send(probe, client)
                    }
                }
            }
        }
        if operation.path == DeviceAPI.enrollPath {
            // Enrollment is rate limited per client address.
            try await withHarness({
                $0.longPollMax = 0
                $0.enrollRatePerMinute = 1
            }) { harness in
                try await harness.test { client async throws in
                    let probe = Probe(
                        label: "beyond the enrollment rate limit", method: .post, uri: DeviceAPI.enrollPath, headers: [.contentType: "application/json"],
                        body: Data("{}".utf8))
                    for _ in 0..<2 { try await answers.send(probe, client) }
                }
            }
        }
        return answers.withLock { $0 }
    }

    /// Runs `body` with a fresh harness and closes its store afterwards, thrown or not.
    static func withHarness(_ configure: @escaping (inout ServerConfig) -> Void, _ body: (Harness) async throws -> Void) async throws {
        let harness = try await Harness(configure: configure)
        do {
            try await body(harness)
        } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }
}

/// What the server answered to one probe.
struct Answer: Sendable, CustomStringConvertible {
    var probe: String
    var status = 0
    var errorCode: String?
    var message: String?

    init(_ probe: Probe) { self.probe = probe.description }

    var description: String { "\(probe) → \(status) \(errorCode ?? "")\(message.map { ": " + $0 } ?? "")" }
}

extension Mutex where Value == [Answer] {
    /// Sends `probe` and records the answer.
    func send(_ probe: Probe, _ client: any TestClientProtocol) async throws {
        let response = try await client.execute(uri: probe.uri, method: probe.method, headers: probe.headers, body: probe.body.map { ByteBuffer(bytes: $0) })
        var answer = Answer(probe)
        answer.status = Int(response.status.code)
        answer.errorCode = response.errorCode
        answer.message = response.errorMessage.map { $0.count > 200 ? String($0.prefix(200)) + "…" : $0 }
        withLock { $0.append(answer) }
    }
}

/// A small world for one operation: a token of each role, a person, an active, a revoked and a replaced
/// device, a queued command, a profile assigned by default, tokens to revoke and enrollment tokens in
/// every state. All made through the API.
struct FuzzWorld: Sendable {
    struct EnrolledDevice: Sendable {
        var id: String
        var key: Curve25519.Signing.PrivateKey
    }

    var admin: String
    var roles: [(String, String)]
    var personId: String
    /// A person whose offboarding has begun.
    var leaverId: String
    /// A person in the notice period of an offboarding (wipes a month ahead).
    var noticeId: String
    var active: EnrolledDevice
    var revoked: EnrolledDevice
    var replaced: EnrolledDevice
    var commandId: String
    var apiTokenId: String
    var enrollTokenId: String
    /// For Ada, many uses; for nobody (group elsewhere); one use; expiring in 60 s; revoked.
    var enrollToken: String
    var strangerToken: String
    var singleUseToken: String
    var expiringToken: String
    var revokedToken: String
    /// Requests waiting for approval (a wipe of the active device, a token), asked by a person none of `roles` is.
    var approvalIds: [String] = []

    static let profileName = "office-default"
    /// Archives of the active device: one announced (a2, three bytes to come), one with its bytes in (a3), one complete (a4).
    static let archiveIDs = ["018f3c1e-0000-7000-8000-0000000000a2", "018f3c1e-0000-7000-8000-0000000000a3", "018f3c1e-0000-7000-8000-0000000000a4"]

    static func archives(_ harness: Harness, _ client: any TestClientProtocol, key: Curve25519.Signing.PrivateKey) async throws {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        func post(_ path: String, _ json: String) async throws {
            let response = try await client.signed(path, body: Data(json.utf8), key: key, at: harness.clock.now)
            #expect(response.status == .ok, "setting up: \(path) → \(response.status)")
        }
        for id in archiveIDs {
            try await post("/api/v1/device/archives", #"{"id": "\#(id)", "size": 3, "sha256": "\#(abc)", "files": 1, "retainDays": 30}"#)
        }
        for id in archiveIDs.dropFirst() { try await post("/api/v1/device/archives/chunk", #"{"id": "\#(id)", "offset": 0, "data": "YWJj"}"#) }
        try await post("/api/v1/device/archives/complete", #"{"id": "\#(archiveIDs[2])"}"#)
    }
    static let termsVersion = "2026-11"
    static let termsText = "Work stays on the work account."
    static let profileSource = "name: office-default\ncheckinInterval: 120\nquietHours:\n  timeZone: Europe/Berlin\n  weekly: {sunday: [all]}\n"

    static func build(_ harness: Harness, _ client: any TestClientProtocol) async throws -> FuzzWorld {
        // The operator and the admin are people (tokens with owners), so they may approve what a third person asked.
        let admin = try await harness.services.tokens.create(name: "test-admin", role: .admin, owner: "admin-person").1
        let roles = [
            ("feed", try await harness.token(.feed)), ("auditor", try await harness.token(.auditor)),
            ("operator", try await harness.services.tokens.create(name: "test-operator", role: .operator, owner: "operator-person").1), ("admin", admin),
        ]
        func call(_ method: HTTPRequest.Method, _ path: String, _ json: String) async throws -> JSONValue {
            let response = try await client.api(method, path, token: admin, json: json)
            #expect((200..<300).contains(response.status.code), "setting up: \(method) \(path) → \(response.status) \(response.errorMessage ?? "")")
            return JSONValue(parsing: String(buffer: response.body)) ?? .null
        }
        let person = try await call(.post, "/api/v1/persons", #"{"email": "ada@example.org", "displayName": "Ada", "groups": ["techs"]}"#)
        let leaver = try await call(.post, "/api/v1/persons", #"{"email": "leaver@example.org", "displayName": "Lee"}"#)
        _ = try await call(.post, "/api/v1/persons/leaver@example.org/offboard", "{}")
        let notice = try await call(.post, "/api/v1/persons", #"{"email": "notice@example.org", "displayName": "Nia"}"#)
        let noticeEnds = ISO8601.string(from: harness.clock.now.addingTimeInterval(30 * 86_400))
        _ = try await call(.post, "/api/v1/persons/notice@example.org/offboard", #"{"at": "\#(noticeEnds)"}"#)
        _ = try await call(.post, "/api/v1/profiles", JSONValue.object(["source": .string(profileSource)]).text)
        _ = try await call(.put, "/api/v1/assignments", #"{"profile": "office-default", "scope": "default"}"#)
        func enrollToken(_ json: String) async throws -> (String, String) {
            let created = try await call(.post, "/api/v1/enroll-tokens", json)
            return (created["token"]?.string ?? "", created["enrollmentToken"]?["id"]?.string ?? "")
        }
        let (token, _) = try await enrollToken(#"{"person": "ada@example.org", "uses": 1000}"#)
        func enroll(_ machine: String) async throws -> EnrolledDevice {
            var facts = sampleFacts
            facts.machineIdHash = machine
            let (key, response) = try await client.enroll(token: token, facts: facts, at: harness.clock.now)
            return EnrolledDevice(id: (try? response.decode(EnrollResponse.self).deviceId) ?? "", key: key)
        }
        let active = try await enroll("machine-a")
        let revoked = try await enroll("machine-b")
        let replaced = try await enroll("machine-c")
        _ = try await enroll("machine-c")
        _ = try await call(.post, "/api/v1/devices/\(revoked.id)/revoke", #"{"reason": "lost on the train"}"#)
        let command = try await call(.post, "/api/v1/devices/\(active.id)/commands", #"{"type": "lock", "reason": "lost"}"#)
        let apiToken = try await call(.post, "/api/v1/api-tokens", #"{"name": "victim", "role": "auditor"}"#)
        _ = try await call(.post, "/api/v1/terms", #"{"version": "\#(Self.termsVersion)", "text": "\#(Self.termsText)", "graceSeconds": 0}"#)
        try await archives(harness, client, key: active.key)
        let (revokedToken, revokedId) = try await enrollToken("{}")
        _ = try await call(.delete, "/api/v1/enroll-tokens/\(revokedId)", "{}")
        var world = FuzzWorld(
            admin: admin, roles: roles, personId: person["id"]?.string ?? "", leaverId: leaver["id"]?.string ?? "",
            noticeId: notice["id"]?.string ?? "", active: active, revoked: revoked,
            replaced: replaced,
            commandId: command["id"]?.string ?? "", apiTokenId: apiToken["apiToken"]?["id"]?.string ?? "",
            enrollTokenId: try await enrollToken("{}").1, enrollToken: token,
            strangerToken: try await enrollToken(#"{"group": "elsewhere", "uses": 100}"#).0,
            singleUseToken: try await enrollToken(#"{"person": "ada@example.org", "uses": 1}"#).0,
            expiringToken: try await enrollToken(#"{"person": "ada@example.org", "expiresIn": 60}"#).0, revokedToken: revokedToken)
        world.approvalIds = try await approvals(harness, client, admin: admin, device: active.id)
        return world
    }

    /// A wipe and a token waiting for approval, asked by a third person; then approval is off again (the commands
    /// and tokens operations succeed as before: a second wipe request of the device would be refused while one waits).
    static func approvals(_ harness: Harness, _ client: any TestClientProtocol, admin: String, device: String) async throws -> [String] {
        let requester = try await harness.services.tokens.create(name: "requester", role: .admin, owner: "requester").1
        func call(_ token: String, _ method: HTTPRequest.Method, _ path: String, _ json: String) async throws -> JSONValue {
            let response = try await client.api(method, path, token: token, json: json)
            #expect((200..<300).contains(response.status.code), "setting up: \(method) \(path) → \(response.status) \(response.errorMessage ?? "")")
            return JSONValue(parsing: String(buffer: response.body)) ?? .null
        }
        _ = try await call(admin, .patch, "/api/v1/settings", #"{"approvals": {"wipe": 2, "tokenCreate": 2}}"#)
        let wipe = try await call(requester, .post, "/api/v1/devices/\(device)/commands", #"{"type": "wipe", "reason": "lost on the train"}"#)
        let token = try await call(requester, .post, "/api/v1/api-tokens", #"{"name": "awaited", "role": "auditor"}"#)
        _ = try await call(admin, .patch, "/api/v1/settings", #"{"approvals": {"wipe": 0, "tokenCreate": 0}}"#)
        return [wipe["id"]?.string ?? "", token["id"]?.string ?? ""]
    }

    /// Values of a path parameter that name something that exists, by the path segment before it.
    func known(_ parameter: String, in path: String) -> [String] {
        let segments = path.split(separator: "/")
        let before = segments.firstIndex { $0.contains("{\(parameter)}") }.flatMap { $0 > 0 ? String(segments[$0 - 1]) : nil }
        switch before {
        case "devices": return [active.id, revoked.id, replaced.id]
        case "commands": return [commandId]
        case "api-tokens": return [apiTokenId]
        case "enroll-tokens": return [enrollTokenId]
        case "persons": return [personId, "ada@example.org", leaverId, noticeId]
        case "profiles": return [Self.profileName]
        case "oncall": return ["techs"]
        case "terms": return [Self.termsVersion]
        case "archives": return Self.archiveIDs
        case "approvals": return approvalIds
        default: return []
        }
    }

    /// Strings that name something of this world, for body fields and query parameters.
    var knownStrings: [String] {
        ["ada@example.org", "leaver@example.org", personId, active.id, revoked.id, commandId, Self.profileName, "techs", Self.termsVersion]
    }

    /// Values of a path parameter that name nothing (already percent-encoded where needed).
    static let unknownIDs = [
        "unknown", "018f3c1e-0000-7000-8000-000000000000", "%20", "a%2Fb", "%00", "%C3%A9t%C3%A9", "..", "-1", String(repeating: "x", count: 300),
        "nobody%40example.org",
    ]
}

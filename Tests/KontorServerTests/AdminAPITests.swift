import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

/// Each admin route with the least role that may call it and a body that would be valid.
let adminRoutes: [(HTTPRequest.Method, String, Role, String?)] = [
    (.get, "/api/v1/me", .auditor, nil),
    (.get, "/api/v1/api-tokens", .admin, nil),
    (.post, "/api/v1/api-tokens", .admin, #"{"name": "n", "role": "auditor"}"#),
    (.delete, "/api/v1/api-tokens/000000000000", .admin, nil),
    (.get, "/api/v1/persons", .auditor, nil),
    (.post, "/api/v1/persons", .operator, #"{"email": "x@example.org", "displayName": "X"}"#),
    (.get, "/api/v1/persons/export", .auditor, nil),
    (.get, "/api/v1/persons/nobody@example.org", .auditor, nil),
    (.get, "/api/v1/devices", .auditor, nil),
    (.get, "/api/v1/devices/none", .auditor, nil),
    (.get, "/api/v1/enroll-tokens", .auditor, nil),
    (.post, "/api/v1/enroll-tokens", .operator, "{}"),
    (.delete, "/api/v1/enroll-tokens/000000000000", .operator, nil),
    (.get, "/api/v1/settings", .auditor, nil),
    (.get, "/api/v1/profiles", .auditor, nil),
    (.post, "/api/v1/profiles", .admin, #"{"source": "name: p1\n", "dryRun": true}"#),
    (.get, "/api/v1/profiles/none", .auditor, nil),
    (.get, "/api/v1/profiles/none/history", .auditor, nil),
    (.post, "/api/v1/profiles/none/rollback", .admin, #"{"revision": 1}"#),
    (.get, "/api/v1/assignments", .auditor, nil),
    (.put, "/api/v1/assignments", .admin, #"{"profile": "none", "scope": "default"}"#),
    (.delete, "/api/v1/assignments?scope=default", .admin, nil),
    (.get, "/api/v1/devices/none/policy", .auditor, nil),
    (.post, "/api/v1/devices/none/revoke", .operator, #"{"reason": "stolen laptop"}"#),
    (.get, "/api/v1/devices/none/events", .auditor, nil),
    (.get, "/api/v1/audit", .auditor, nil),
    (.get, "/api/v1/audit/verify", .auditor, nil),
    (.get, "/api/v1/audit/export", .auditor, nil),
    (.patch, "/api/v1/settings", .admin, #"{"checkinInterval": 120}"#),
    (.post, "/api/v1/devices/none/commands", .operator, #"{"type": "sync"}"#),
    (.get, "/api/v1/devices/none/commands", .auditor, nil),
    (.get, "/api/v1/devices/none/receipts", .auditor, nil),
    (.get, "/api/v1/commands/none", .auditor, nil),
    (.post, "/api/v1/commands/none/cancel", .operator, "{}"),
    (.post, "/api/v1/persons/nobody@example.org/offboard", .operator, "{}"),
]

@Suite("Admin API")
struct AdminAPITests {
    @Test("every admin route refuses a missing or bogus token with 401", arguments: adminRoutes.map { "\($0.0.rawValue) \($0.1)" })
    func unauthenticated(route: String) async throws {
        let (method, path, _, body) = adminRoutes.first { "\($0.0.rawValue) \($0.1)" == route }!
        let harness = try await Harness()
        try await harness.test { client async throws in
            let none = try await client.api(method, path, json: body)
            #expect(none.status == .unauthorized)
            #expect(none.errorCode == "unauthorized")
            let bogus = try await client.api(method, path, token: "kat_000000000000_" + String(repeating: "A", count: 43), json: body)
            #expect(bogus.status == .unauthorized)
        }
    }

    @Test("every admin route enforces its role", arguments: adminRoutes.map { "\($0.0.rawValue) \($0.1)" })
    func roles(route: String) async throws {
        let (method, path, required, body) = adminRoutes.first { "\($0.0.rawValue) \($0.1)" == route }!
        let harness = try await Harness()
        for role in Role.allCases {
            let token = try await harness.token(role)
            try await harness.test { client async throws in
                let response = try await client.api(method, path, token: token, json: body)
                if role.allows(required) {
                    #expect(response.status != .forbidden, "\(role) should pass the role check of \(route)")
                } else {
                    #expect(response.status == .forbidden, "\(role) must not reach \(route)")
                    #expect(response.errorCode == "forbidden")
                }
            }
        }
    }

    @Test("a revoked API token is refused")
    func revokedToken() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let (created, secret) = try await harness.services.tokens.create(name: "temp", role: .operator)
        try await harness.test { client async throws in
            #expect(try await client.api(.get, "/api/v1/me", token: secret).status == .ok)
            #expect(try await client.api(.delete, "/api/v1/api-tokens/\(created.id)", token: admin).status == .ok)
            #expect(try await client.api(.get, "/api/v1/me", token: secret).status == .unauthorized)
        }
    }

    @Test("API tokens are stored only as hashes")
    func tokensHashed() async throws {
        let harness = try await Harness()
        let (created, secret) = try await harness.services.tokens.create(name: "x", role: .admin)
        let stored = try #require(try await harness.store.apiToken(id: created.id))
        #expect(!secret.contains(stored.secretHash))
        #expect(stored.secretHash.count == 64)
        #expect(!stored.secretHash.contains(String(secret.split(separator: "_")[2])))
    }

    @Test(
        "bad person input gets 400 naming the field",
        arguments: [
            (#"{"displayName": "A"}"#, "email: required field is missing"),
            (#"{"email": 5, "displayName": "A"}"#, "email: expected a string"),
            (#"{"email": "not-an-email", "displayName": "A"}"#, "email: \"not-an-email\" is not an email address"),
            (#"{"email": "a@example.org", "displayName": ""}"#, "displayName: must be 1 to 200 characters"),
            (
                #"{"email": "a@example.org", "displayName": "A", "groups": ["ok", "bad group"]}"#,
                "groups[1]: \"bad group\" must be 1 to 64 letters, digits, '.', '_' or '-'"
            ),
            ("[1, 2", "body: not valid JSON"),
            ("", "body: a JSON object is required"),
        ])
    func badPersons(body: String, message: String) async throws {
        let harness = try await Harness()
        let token = try await harness.token(.operator)
        try await harness.test { client async throws in
            let response = try await client.api(.post, "/api/v1/persons", token: token, json: body)
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "invalid_request")
            #expect(response.errorMessage == message)
        }
        #expect(try await harness.store.persons().isEmpty)
    }

    @Test("a duplicate email is a conflict and the directory exports as CSV")
    func personsAndCSV() async throws {
        let harness = try await Harness()
        let token = try await harness.token(.operator)
        try await harness.test { client async throws in
            let body = #"{"email": "ada@example.org", "displayName": "=Ada, the \"first\"", "groups": ["office", "on-call"]}"#
            #expect(try await client.api(.post, "/api/v1/persons", token: token, json: body).status == .created)
            let again = try await client.api(.post, "/api/v1/persons", token: token, json: body.replacingOccurrences(of: "ada@", with: "ADA@"))
            #expect(again.status == .conflict)
            let shown = try await client.api(.get, "/api/v1/persons/ADA@example.org", token: token)
            #expect(shown.status == .ok)
            let csv = try await client.api(.get, "/api/v1/persons/export", token: token)
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let text = String(buffer: csv.body)
            #expect(text.hasPrefix("id,email,displayName,groups,status,createdAt,activeDevices\r\n"))
            #expect(text.contains(#",ada@example.org,"'=Ada, the ""first""",office;on-call,active,"#))
        }
    }

    @Test("unknown IDs, unknown routes and wrong methods get JSON 404/405")
    func notFound() async throws {
        let harness = try await Harness()
        let token = try await harness.token(.admin)
        try await harness.test { client async throws in
            let device = try await client.api(.get, "/api/v1/devices/0190f3a4-5b6c-7d8e-9f01-23456789abcd", token: token)
            #expect(device.status == .notFound)
            #expect(device.errorCode == "not_found")
            let route = try await client.api(.get, "/api/v1/nothing-here", token: token)
            #expect(route.status == .notFound)
            #expect(route.errorCode == "route_not_found")
            let revoke = try await client.api(.delete, "/api/v1/enroll-tokens/000000000000", token: token)
            #expect(revoke.errorCode == "not_found")
        }
    }

    @Test("an oversize body is refused with 413 and writes nothing")
    func oversize() async throws {
        let harness = try await Harness { $0.maxBodyBytes = 2048 }
        let token = try await harness.token(.operator)
        try await harness.test { client async throws in
            let huge = #"{"email": "a@example.org", "displayName": ""# + String(repeating: "x", count: 4096) + #""}"#
            let response = try await client.api(.post, "/api/v1/persons", token: token, json: huge)
            #expect(response.status == .contentTooLarge)
            #expect(response.errorCode == "payload_too_large")
        }
        #expect(try await harness.store.persons().isEmpty)
    }

    @Test("a non-JSON content type is refused")
    func contentType() async throws {
        let harness = try await Harness()
        let token = try await harness.token(.operator)
        try await harness.test { client async throws in
            let response = try await client.api(
                .post, "/api/v1/persons", token: token, json: "email=a", headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(response.status == .unsupportedMediaType)
        }
    }

    @Test(
        "enrollment token options are validated",
        arguments: [
            (#"{"uses": 0}"#, "uses: expected 1 to 10000, found 0"),
            (#"{"expiresIn": 5}"#, "expiresIn: expected 60 seconds to 366 days, found 5"),
            (#"{"person": "ghost@example.org"}"#, "person: no person ghost@example.org"),
            (#"{"group": "../etc"}"#, "group: \"../etc\" must be 1 to 64 letters, digits, '.', '_' or '-'"),
            (#"{"uses": "many"}"#, "uses: expected an integer"),
        ])
    func enrollTokenValidation(body: String, message: String) async throws {
        let harness = try await Harness()
        let token = try await harness.token(.operator)
        try await harness.test { client async throws in
            let response = try await client.api(.post, "/api/v1/enroll-tokens", token: token, json: body)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage == message)
        }
        #expect(try await harness.store.enrollmentTokens().isEmpty)
    }

    @Test("a created enrollment token comes with the ready-to-paste agent command")
    func enrollTokenCommand() async throws {
        let harness = try await Harness { $0.publicURL = "https://kontor.example.org" }
        let token = try await harness.token(.operator)
        try await harness.test { client async throws in
            let response = try await client.api(.post, "/api/v1/enroll-tokens", token: token, json: #"{"uses": 3, "expiresIn": 3600}"#)
            let created = try response.decode(EnrollmentService.CreatedToken.self)
            #expect(created.token.hasPrefix("ket_"))
            #expect(created.agentCommand == "sudo kontor-agent enroll --server https://kontor.example.org --token \(created.token)")
            #expect(created.enrollmentToken.maxUses == 3)
            #expect(created.enrollmentToken.expiresAt == harness.clock.now + 3600)
        }
    }

    @Test("settings change the check-in interval and reject nonsense")
    func settings() async throws {
        let harness = try await Harness()
        let token = try await harness.token(.admin)
        try await harness.test { client async throws in
            #expect(try await client.api(.patch, "/api/v1/settings", token: token, json: #"{"checkinInterval": 5}"#).status == .badRequest)
            let ok = try await client.api(.patch, "/api/v1/settings", token: token, json: #"{"checkinInterval": 120}"#)
            #expect(try ok.decode(Settings.self).checkinInterval == 120)
        }
    }
}

@Suite("OpenAPI document")
struct OpenAPITests {
    struct Document: Decodable {
        var openapi: String
        var paths: [String: [String: JSONValue]]
    }

    @Test("every registered route is documented, and every documented route exists")
    func routesMatch() async throws {
        let harness = try await Harness()
        let token = try await harness.token(.admin)
        try await harness.test { client async throws in
            let response = try await client.api(.get, "/api/v1/openapi.json")
            let document = try JSONDecoder().decode(Document.self, from: Data(buffer: response.body))
            #expect(document.openapi.hasPrefix("3.1"))
            var documented = Set<String>()
            for (path, operations) in document.paths {
                for method in operations.keys where ["get", "post", "put", "patch", "delete"].contains(method) {
                    documented.insert("\(method.uppercased()) \(path)")
                }
            }
            let registered = Set(harness.routes.all)
            #expect(registered.subtracting(documented).isEmpty, "undocumented routes: \(registered.subtracting(documented).sorted())")
            #expect(documented.subtracting(registered).isEmpty, "documented but not registered: \(documented.subtracting(registered).sorted())")

            // And each documented route answers as a route, not as "no such route".
            for route in documented {
                let parts = route.split(separator: " ")
                let path = String(parts[1]).replacingOccurrences(of: "{id}", with: "x").replacingOccurrences(of: "{person}", with: "x").replacingOccurrences(
                    of: "{name}", with: "x")
                let answer = try await client.api(HTTPRequest.Method(String(parts[0]))!, path, token: token, json: "{}")
                #expect(answer.errorCode != "route_not_found" && answer.errorCode != "method_not_allowed", "\(route) is not served")
            }
        }
    }
}

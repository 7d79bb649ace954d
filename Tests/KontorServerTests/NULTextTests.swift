import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import Testing

@testable import KontorServer

/// PostgreSQL cannot hold NUL (U+0000) in text: the status test found six admin and device requests that
/// answered 500 on it (and were taken on SQLite). Both stores now get the same 400 naming the field.
@Suite("NUL in text")
struct NULTextTests {
    @Test(
        "an admin body with NUL in any string is refused naming the field, and nothing is stored",
        arguments: [
            ("/api/v1/persons", #"{"email": "grace@example.org", "displayName": "Gr\u0000ace"}"#, "displayName"),
            ("/api/v1/persons", #"{"email": "grace@example.org", "displayName": "Grace", "groups": ["techs", "a\u0000"]}"#, "groups[1]"),
            ("/api/v1/api-tokens", #"{"name": "back\u0000up", "role": "auditor"}"#, "name"),
            ("/api/v1/enroll-tokens", #"{"person": "ada@example.org\u0000"}"#, "person"),
        ])
    func bodies(path: String, json: String, field: String) async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let before = try await harness.store.auditEntries(since: nil, target: nil).count
        try await harness.test { client async throws in
            let response = try await client.api(.post, path, token: admin, json: json)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage == "\(field): contains the NUL character (U+0000)")
        }
        #expect(try await harness.store.persons().isEmpty)
        #expect(try await harness.store.auditEntries(since: nil, target: nil).count == before)
    }

    @Test(
        "a query parameter with NUL is refused naming it",
        arguments: ["/api/v1/audit?target=%00", "/api/v1/devices?person=ada%00", "/api/v1/assignments?scope=device&target=%00"])
    func queries(uri: String) async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let method: HTTPRequest.Method = uri.contains("assignments") ? .delete : .get
            let response = try await client.api(method, uri, token: admin)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage?.hasSuffix(": contains the NUL character (U+0000)") == true)
        }
    }

    @Test("a \\u0000 written as text (an escaped backslash) is not NUL and is taken")
    func escapedBackslashIsNotNUL() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let response = try await client.api(.post, "/api/v1/api-tokens", token: admin, json: #"{"name": "back\\u0000up", "role": "auditor"}"#)
            #expect(response.status == .created)
        }
    }

    @Test("a wipe receipt naming a command ID that is not one is refused before the store is asked")
    func receiptCommandId() async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let (key, enrolled) = try await client.enroll(token: try await client.enrollToken(op), at: harness.clock.now)
            let id = try enrolled.decode(EnrollResponse.self).deviceId
            let response = try await client.sendReceipt(
                try receipt(deviceId: id, commandId: "x\u{0}", key: key, at: harness.clock.now), key: key, at: harness.clock.now)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage == "receipt.commandId: not a command ID")
            #expect(try await harness.store.receipts(deviceId: id).isEmpty)
        }
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

@Suite("Audit log API")
struct AuditAPITests {
    @Test("admin actions are recorded in a chain that verifies; an edited row is found")
    func recordsAndVerifies() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            #expect(
                try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#).status == .created)
            let token = try await client.enrollToken(admin, json: #"{"person": "ada@example.org"}"#)
            let (_, enrolled) = try await client.enroll(token: token, at: harness.clock.now)
            #expect(enrolled.status == .created)
            #expect(try await client.api(.patch, "/api/v1/settings", token: admin, json: #"{"checkinInterval": 90}"#).status == .ok)

            let entries = try await client.api(.get, "/api/v1/audit", token: admin).decode([AuditEntry].self)
            #expect(entries.map(\.action) == ["person.created", "enroll-token.created", "device.enrolled", "settings.changed"])
            #expect(entries.first?.actor == "token:test-admin (automation)")
            #expect(entries.first?.target == "ada@example.org")
            let filtered = try await client.api(.get, "/api/v1/audit?target=ada@example.org", token: admin).decode([AuditEntry].self)
            #expect(filtered.count == 1)
            #expect(try await client.api(.get, "/api/v1/audit?since=yesterday", token: admin).status == .badRequest)
            let ok = try await client.api(.get, "/api/v1/audit/verify", token: admin).decode(AuditVerification.self)
            #expect(ok.ok && ok.entries == 4)
            let export = String(buffer: try await client.api(.get, "/api/v1/audit/export", token: admin).body)
            #expect(export.split(separator: "\n").count == 4)

            // Someone with access to the database file edits a row behind the server's back.
            try await harness.dropAuditGuard()
            try await harness.tamper("UPDATE audit_log SET target = 'eve@example.org' WHERE seq = 1")
            let broken = try await client.api(.get, "/api/v1/audit/verify", token: admin).decode(AuditVerification.self)
            #expect(!broken.ok)
            #expect(broken.firstBadSeq == 1)
        }
    }

    @Test("the store refuses to change or delete audit entries")
    func appendOnly() async throws {
        let harness = try await Harness()
        _ = try await harness.services.audit.record("system", "test", target: nil)
        for column in ["hash = 'x'", "commitments = '{}'", "previous_hash = 'x'", "action = 'x'", "seq = 7", "at = 1"] {
            await #expect(throws: (any Error).self, "\(column)") { try await harness.tamper("UPDATE audit_log SET \(column)") }
        }
        await #expect(throws: (any Error).self) { try await harness.tamper("DELETE FROM audit_log") }
        #expect(try await harness.store.auditEntries(since: nil, target: nil).count == 1)
        // Values may be erased (that is what they are beside the chain for); any other change is found by verify.
        try await harness.tamper("UPDATE audit_log SET actor = 'x'")
        let result = try await harness.services.audit.verify()
        #expect(!result.ok && result.firstBadSeq == 1 && result.problem?.contains("actor no longer matches its commitment") == true)
    }
}

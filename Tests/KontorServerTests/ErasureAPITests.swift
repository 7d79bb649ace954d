import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorClient
import KontorCore
import KontorSQLite
import KontorStore
import Testing

@testable import KontorServer

@Suite("Erasure on request (GDPR Art. 17)")
struct ErasureAPITests {
    static let email = "ada.lovelace@example.org"
    static let name = "Ada Lovelace-Byron"
    static let phone = "+49 30 1234567"
    static let hostname = "ada-thinkpad-x1"

    /// Ada with two laptops, one wiped with a receipt, the other revoked; returns the device IDs.
    func adaWithTwoLaptops(_ harness: Harness, _ client: any TestClientProtocol, _ admin: String) async throws -> [String] {
        let created = try await client.api(
            .post, "/api/v1/persons", token: admin, json: #"{"email": "\#(Self.email)", "displayName": "\#(Self.name)", "phone": "\#(Self.phone)"}"#)
        #expect(created.status == .created)
        var ids: [(String, Curve25519.Signing.PrivateKey)] = []
        for n in 1...2 {
            var facts = sampleFacts
            facts.hostname = "\(Self.hostname)-\(n)"
            facts.machineIdHash = "machine-\(n)"
            let token = try await client.enrollToken(admin, json: #"{"person": "\#(Self.email)"}"#)
            let (key, response) = try await client.enroll(token: token, facts: facts, at: harness.clock.now)
            ids.append((try response.decode(EnrollResponse.self).deviceId, key))
        }
        let wipe = try await client.api(.post, "/api/v1/devices/\(ids[0].0)/commands", token: admin, json: #"{"type": "wipe", "reason": "left"}"#)
        let commandId = try wipe.decode(CommandRecord.self).id
        let signed = try receipt(deviceId: ids[0].0, commandId: commandId, key: ids[0].1, at: harness.clock.now)
        #expect(try await client.sendReceipt(signed, key: ids[0].1, at: harness.clock.now).status == .ok)
        return ids.map(\.0)
    }

    @Test(
        "refused while a device is active and for other roles; then email, name, phone and hostnames are nowhere in the SQLite file, the chain verifies, an edit is still found"
    )
    func eraseEverywhere() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-erasure-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("kontor.sqlite").path
        let harness = try await Harness(store: try SQLiteStore(path: file))
        let admin = try await harness.token(.admin)
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let ids = try await adaWithTwoLaptops(harness, client, admin)
            let body = #"{"reason": "erasure request of 2026-11-30, ticket 4711"}"#
            let active = try await client.api(.post, "/api/v1/persons/\(Self.email)/erase", token: admin, json: body)
            #expect(active.status == .conflict && active.errorMessage?.contains(ids[1]) == true, "\(active.errorMessage ?? "")")
            _ = try await client.api(.post, "/api/v1/devices/\(ids[1])/revoke", token: admin, json: #"{"reason": "never returned"}"#)
            #expect(try await client.api(.post, "/api/v1/persons/\(Self.email)/erase", token: op, json: body).status == .forbidden)
            #expect(try await client.api(.post, "/api/v1/persons/\(Self.email)/erase", token: admin, json: #"{"reason": ""}"#).status == .badRequest)

            let erased = try await client.api(.post, "/api/v1/persons/\(Self.email)/erase", token: admin, json: body)
            #expect(erased.status == .ok, "\(erased.errorMessage ?? "")")
            let result = try erased.decode(PseudonymisedPerson.self)
            #expect(result.devices == 2 && result.auditEntries >= 3 && result.pseudonym.hasPrefix("erased-"))
            #expect(try await client.api(.post, "/api/v1/persons/\(result.personId)/erase", token: admin, json: body).status == .conflict)

            let person = try #require(try await harness.store.person(id: result.personId))
            #expect(person.email == "\(result.pseudonym)@erased.invalid" && person.displayName == result.pseudonym && person.phone == nil)
            #expect(try await harness.store.devices(personId: result.personId).map(\.facts.hostname) == ["\(result.pseudonym)-1", "\(result.pseudonym)-2"])
            #expect(try await harness.store.receipts(deviceId: ids[0]).count == 1, "the signed receipt is kept")
            let verified = try await client.api(.get, "/api/v1/audit/verify", token: admin).decode(AuditVerification.self)
            #expect(verified.ok, "\(verified.problem ?? "")")
            let entries = try await harness.store.auditEntries(since: nil, target: nil)
            #expect(entries.last?.action == "person.erased" && entries.last?.target == result.personId)
            #expect(entries.last?.detail?["reason"] == "erasure request of 2026-11-30, ticket 4711")

            // Nowhere in the database file, its write-ahead log or free pages.
            let files = [file, file + "-wal"].compactMap { FileManager.default.contents(atPath: $0) }
            for needle in [Self.email, Self.name, Self.phone, Self.hostname] {
                #expect(!files.contains { $0.range(of: Data(needle.utf8)) != nil }, "\(needle) is still in the SQLite file")
            }

            // Erasure leaves no way to edit unseen: a changed entry is still found.
            try await harness.dropAuditGuard()
            try await harness.tamper("UPDATE audit_log SET action = 'person.created.x' WHERE seq = 1")
            let broken = try await client.api(.get, "/api/v1/audit/verify", token: admin).decode(AuditVerification.self)
            #expect(!broken.ok && broken.firstBadSeq == 1)
        }
    }
}

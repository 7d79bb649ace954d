import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorClient
import KontorCore
import KontorStore
import Testing

@testable import KontorServer

/// One machine (same machine-id hash) enrolling more than once.
@Suite("Re-enrollment of a machine")
struct ReenrollmentTests {
    let machine = DeviceFacts(hostname: "ada-laptop", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "ada-machine", agentVersion: "0.1.0")

    /// Persons ada and eve; `body` gets the harness, client and an operator token.
    func withPersons(_ body: @Sendable (Harness, any TestClientProtocol, String) async throws -> Void) async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            for name in ["ada", "eve"] {
                #expect(
                    try await client.api(
                        .post, "/api/v1/persons", token: op, json: #"{"email": "\#(name)@example.org", "displayName": "\#(name)", "groups": ["staff"]}"#
                    ).status == .created)
            }
            try await body(harness, client, op)
        }
    }

    @Test("a token for someone else cannot take over an enrolled machine: refused with machine_enrolled, the device keeps working, the attempt is audited")
    func otherOwnerRefused() async throws {
        try await withPersons { harness, client, op async throws in
            let (adaKey, enrolled) = try await client.enroll(
                token: try await client.enrollToken(op, json: #"{"person": "ada@example.org"}"#), facts: machine, at: harness.clock.now)
            let ada = try enrolled.decode(EnrollResponse.self).deviceId
            for options in [#"{"person": "eve@example.org"}"#, #"{"group": "staff"}"#, "{}"] {
                let (_, refused) = try await client.enroll(token: try await client.enrollToken(op, json: options), facts: machine, at: harness.clock.now)
                #expect(refused.status == .conflict)
                #expect(refused.errorCode == "machine_enrolled")
                #expect(refused.errorMessage?.contains("kontorctl devices revoke \(ada)") == true, "\(refused.errorMessage ?? "")")
            }
            #expect(try await harness.store.device(id: ada)?.status == .active)
            #expect(try await harness.store.deviceCount() == 1)
            let (reply, response) = try await checkin(client, key: adaKey, at: harness.clock.now)
            #expect(response.status == .ok && reply != nil)
            // The same token trying again within the hour adds nothing to the log.
            let eve = try await client.enrollToken(op, json: #"{"person": "eve@example.org", "uses": 5}"#)
            for _ in 0..<3 { #expect(try await client.enroll(token: eve, facts: machine, at: harness.clock.now).1.status == .conflict) }
            let refusals = try await harness.store.auditEntries(since: nil, target: ada).filter { $0.action == "device.enroll-refused" }
            #expect(refusals.count == 4)
            #expect(refusals.first?.detail?["reason"] == "otherOwner")
            #expect(refusals.first?.actor.hasPrefix("enroll-token:") == true)

            // Revoked first, the machine may go to someone else.
            #expect(try await client.api(.post, "/api/v1/devices/\(ada)/revoke", token: op, json: #"{"reason": "laptop handed on to Eve"}"#).status == .ok)
            let (_, handedOn) = try await client.enroll(
                token: try await client.enrollToken(op, json: #"{"person": "eve@example.org"}"#), facts: machine, at: harness.clock.now)
            #expect(handedOn.status == .created)
            #expect(try handedOn.decode(EnrollResponse.self).predecessorId == nil)
        }
    }

    @Test("a device with a wipe in progress cannot be re-enrolled, even with its own person's token, and still gets its wipe")
    func openWipeRefused() async throws {
        try await withPersons { harness, client, op async throws in
            let token = try await client.enrollToken(op, json: #"{"person": "ada@example.org", "uses": 2}"#)
            let (key, enrolled) = try await client.enroll(token: token, facts: machine, at: harness.clock.now)
            let ada = try enrolled.decode(EnrollResponse.self).deviceId
            let wipe = try await client.api(.post, "/api/v1/devices/\(ada)/commands", token: op, json: #"{"type": "wipe", "reason": "laptop reported stolen"}"#)
            #expect(wipe.status == .created)
            let (_, again) = try await client.enroll(token: token, facts: machine, at: harness.clock.now)
            #expect(again.status == .conflict)
            #expect(again.errorCode == "machine_enrolled")
            #expect(again.errorMessage?.contains("wipe in progress") == true)
            #expect(try await harness.store.device(id: ada)?.status == .active)
            let (reply, _) = try await checkin(client, key: key, at: harness.clock.now)
            #expect(reply?.commands.map(\.type) == ["wipe"])
            #expect(
                try await harness.store.auditEntries(since: nil, target: ada).contains {
                    $0.action == "device.enroll-refused" && $0.detail?["reason"] == "openWipe"
                })
        }
    }

    @Test(
        "the old installation of a re-enrolled machine is told in a signed reply to wipe itself once its successor is wiped or revoked",
        arguments: ["wipe", "revoke", "offboard"])
    func predecessorFollows(action: String) async throws {
        try await withPersons { harness, client, op async throws in
            let token = try await client.enrollToken(op, json: #"{"person": "ada@example.org", "uses": 2}"#)
            let (oldKey, first) = try await client.enroll(token: token, facts: machine, at: harness.clock.now)
            let (_, second) = try await client.enroll(token: token, facts: machine, at: harness.clock.now)
            let old = try first.decode(EnrollResponse.self).deviceId
            let successor = try second.decode(EnrollResponse.self)
            #expect(successor.predecessorId == old)
            // Replaced, nothing ordered: the old key just stops working.
            let (_, stale) = try await checkin(client, key: oldKey, at: harness.clock.now)
            #expect(stale.errorCode == "key_revoked")
            #expect(stale.headers[HTTPField.Name("Signature")!] == nil)
            // The tombstone takes no commands; the message points at its successor.
            let direct = try await client.api(.post, "/api/v1/devices/\(old)/commands", token: op, json: #"{"type": "wipe", "reason": "wipe the old one"}"#)
            #expect(direct.status == .conflict)
            #expect(direct.errorMessage?.contains(successor.deviceId) == true)

            switch action {
            case "wipe":
                #expect(
                    try await client.api(.post, "/api/v1/devices/\(successor.deviceId)/commands", token: op, json: #"{"type": "wipe", "reason": "leaving"}"#)
                        .status == .created)
            case "revoke":
                #expect(try await client.api(.post, "/api/v1/devices/\(successor.deviceId)/revoke", token: op, json: #"{"reason": "stolen"}"#).status == .ok)
            default:
                #expect(try await client.api(.post, "/api/v1/persons/ada@example.org/offboard", token: op, json: "{}").status == .accepted)
            }
            let (_, told) = try await checkin(client, key: oldKey, at: harness.clock.now)
            #expect(told.status == .unauthorized)
            #expect(told.errorCode == "device_revoked")
            #expect(told.headers[HTTPField.Name("Signature")!] != nil, "the refusal is signed, so the agent acts on it")
            #expect(told.errorMessage?.contains(successor.deviceId) == true)

            // The old installation wipes (trigger "revoked") and its receipt is taken.
            let sent = try await client.sendReceipt(
                try receipt(deviceId: old, commandId: nil, trigger: "revoked", key: oldKey, at: harness.clock.now), key: oldKey, at: harness.clock.now)
            #expect(sent.status == .ok)
            let confirmation = try sent.decode(ReceiptConfirmation.self)
            #expect(confirmation.revoked && !confirmation.duplicate)
            let tombstone = try #require(try await harness.store.device(id: old))
            #expect(tombstone.status == .replaced && tombstone.wipeConfirmedAt != nil)
            #expect(try await harness.store.auditEntries(since: nil, target: old).contains { $0.action == "device.wipe-receipt" })
        }
    }

    @Test("a wipe that landed on a device while it was being replaced still reaches it, and its receipt completes that wipe")
    func wipeOnTombstone() async throws {
        try await withPersons { harness, client, op async throws in
            let token = try await client.enrollToken(op, json: #"{"person": "ada@example.org", "uses": 2}"#)
            let (oldKey, first) = try await client.enroll(token: token, facts: machine, at: harness.clock.now)
            let old = try first.decode(EnrollResponse.self).deviceId
            #expect(try await client.enroll(token: token, facts: machine, at: harness.clock.now).1.status == .created)
            // The wipe was issued as the enrollment committed (the issue read the device while it was still active).
            let wipe = CommandRecord(
                id: IdentifierGenerator.uuidV7(now: harness.clock.now), deviceId: old, type: .wipe, reason: "stolen", issuedAt: harness.clock.now,
                issuedBy: "op")
            try await harness.store.insertCommand(wipe)
            let (_, told) = try await checkin(client, key: oldKey, at: harness.clock.now)
            #expect(told.errorCode == "device_revoked")
            let sent = try await client.sendReceipt(
                try receipt(deviceId: old, commandId: nil, trigger: "revoked", key: oldKey, at: harness.clock.now), key: oldKey, at: harness.clock.now)
            #expect(sent.status == .ok)
            #expect(try await harness.store.command(id: wipe.id)?.state == .succeeded)
        }
    }
}

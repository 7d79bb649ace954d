import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorClient
import KontorCore
import KontorSQLite
import KontorStore
import NIOCore
import Synchronization
import Testing

@testable import KontorServer

/// A check-in with acknowledgements; returns the decoded reply (or nil) and the raw response.
func checkin(
    _ client: any TestClientProtocol, key: Curve25519.Signing.PrivateKey, at now: Date, acks: [CommandAck]? = nil
) async throws -> (CheckinResponse?, TestResponse) {
    let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, acks: acks))
    let response = try await client.signed(DeviceAPI.checkinPath, body: body, key: key, at: now)
    return (try? response.decode(CheckinResponse.self), response)
}

/// A wipe receipt for `deviceId`, signed with `key`.
func receipt(deviceId: String, commandId: String?, trigger: String = "command", key: Curve25519.Signing.PrivateKey, at now: Date) throws -> SignedReceipt {
    let r = WipeReceipt(
        id: IdentifierGenerator.uuidV7(now: now), deviceId: deviceId, trigger: trigger, commandId: commandId, account: "work-ada", accountRemoved: true,
        processesKilled: 2, removed: [RemovedPath(path: "/home/work-ada", files: 12, bytes: 3_400, existed: true)], refused: [], startedAt: now,
        finishedAt: now + 2, agentVersion: "0.1.0")
    return try SignedReceipt.sign(r, key: key)
}

extension TestClientProtocol {
    func sendReceipt(_ signed: SignedReceipt, key: Curve25519.Signing.PrivateKey, at now: Date) async throws -> TestResponse {
        try await self.signed(DeviceAPI.receiptsPath, body: try KontorJSON.encode(signed), key: key, at: now)
    }
}

@Suite("Commands and receipts")
struct CommandAPITests {
    /// Ada with one enrolled device; `body` gets the harness, client, an operator token, the device ID and key.
    func withDevice(
        _ given: Harness? = nil, _ body: @Sendable (Harness, any TestClientProtocol, String, String, Curve25519.Signing.PrivateKey) async throws -> Void
    ) async throws {
        let harness: Harness
        if let given { harness = given } else { harness = try await Harness() }
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            _ = try await client.api(.post, "/api/v1/persons", token: op, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#)
            let (key, response) = try await client.enroll(
                token: try await client.enrollToken(op, json: #"{"person": "ada@example.org"}"#), at: harness.clock.now)
            #expect(response.status == .created)
            try await body(harness, client, op, try response.decode(EnrollResponse.self).deviceId, key)
        }
    }

    @Test("a queued command goes out in every check-in reply until acknowledged; repeated acknowledgements change nothing")
    func atLeastOnce() async throws {
        try await withDevice { harness, client, op, id, key async throws in
            let queued = try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "lock", "reason": "lost on the train"}"#)
            #expect(queued.status == .created)
            let command = try queued.decode(CommandRecord.self)
            #expect(command.state == .queued)
            #expect(command.expiresAt == harness.clock.now + 30 * 86_400)

            let (first, _) = try await checkin(client, key: key, at: harness.clock.now)
            #expect(first?.commands.map(\.id) == [command.id])
            #expect(try await harness.store.command(id: command.id)?.state == .delivered)
            // The reply was lost: the next check-in gets it again.
            let (second, _) = try await checkin(client, key: key, at: harness.clock.now)
            #expect(second?.commands.map(\.id) == [command.id])

            let ack = CommandAck(id: command.id, state: .succeeded, at: harness.clock.now)
            let (third, _) = try await checkin(client, key: key, at: harness.clock.now, acks: [ack])
            #expect(third?.commands.isEmpty == true)
            let done = try #require(try await harness.store.command(id: command.id))
            #expect(done.state == .succeeded)
            harness.clock.advance(60)
            let (_, again) = try await checkin(
                client, key: key, at: harness.clock.now, acks: [ack, CommandAck(id: command.id, state: .failed, at: harness.clock.now, error: "late")])
            #expect(again.status == .ok)
            #expect(try await harness.store.command(id: command.id) == done)

            let listed = try await client.api(.get, "/api/v1/devices/\(id)/commands", token: op)
            #expect(try listed.decode([CommandRecord].self).map(\.state) == [.succeeded])
            #expect(
                try await harness.store.auditEntries(since: nil, target: id).contains {
                    $0.action == "command.lock" && $0.detail?["reason"] == "lost on the train"
                })
        }
    }

    @Test("a device cannot acknowledge another device's command, and a wipe succeeds only by its receipt")
    func ackRules() async throws {
        try await withDevice { harness, client, op, id, key async throws in
            let wipe = try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "wipe", "reason": "left"}"#).decode(
                CommandRecord.self)
            let (other, _) = try await client.enroll(
                token: try await client.enrollToken(op),
                facts: DeviceFacts(hostname: "pc-2", osRelease: "x", kernel: "y", machineIdHash: "other", agentVersion: "0.1.0"), at: harness.clock.now)
            _ = try await checkin(
                client, key: other, at: harness.clock.now, acks: [CommandAck(id: wipe.id, state: .failed, at: harness.clock.now, error: "no")])
            #expect(try await harness.store.command(id: wipe.id)?.state == .queued)
            _ = try await checkin(client, key: key, at: harness.clock.now, acks: [CommandAck(id: wipe.id, state: .succeeded, at: harness.clock.now)])
            #expect(try await harness.store.command(id: wipe.id)?.state == .delivered)
            _ = try await checkin(client, key: key, at: harness.clock.now, acks: [CommandAck(id: wipe.id, state: .acknowledged, at: harness.clock.now)])
            #expect(try await harness.store.command(id: wipe.id)?.state == .acknowledged)
            let (bad, response) = try await checkin(
                client, key: key, at: harness.clock.now, acks: [CommandAck(id: "nonsense", state: .succeeded, at: harness.clock.now)])
            #expect(bad == nil)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage?.contains("acks[0].id") == true)
        }
    }

    @Test("commands are checked: a wipe needs a reason, one open wipe per device, no commands for unknown or revoked devices")
    func validation() async throws {
        try await withDevice { harness, client, op, id, _ async throws in
            #expect(try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "wipe"}"#).status == .badRequest)
            #expect(try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "reboot"}"#).status == .badRequest)
            #expect(try await client.api(.post, "/api/v1/devices/nope/commands", token: op, json: #"{"type": "sync"}"#).status == .notFound)
            #expect(try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "wipe", "reason": "left"}"#).status == .created)
            #expect(try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "wipe", "reason": "again"}"#).status == .conflict)
            _ = try await client.api(.post, "/api/v1/devices/\(id)/revoke", token: op, json: #"{"reason": "stolen laptop"}"#)
            #expect(try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "sync"}"#).status == .conflict)
        }
    }

    @Test("a cancelled command is not delivered; an acknowledged one cannot be cancelled; an undelivered one expires")
    func cancelAndExpire() async throws {
        try await withDevice { harness, client, op, id, key async throws in
            let lock = try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "lock"}"#).decode(CommandRecord.self)
            let cancelled = try await client.api(.post, "/api/v1/commands/\(lock.id)/cancel", token: op, json: #"{"reason": "found it"}"#)
            #expect(cancelled.status == .ok)
            #expect(try cancelled.decode(CommandRecord.self).state == .cancelled)
            #expect(try await client.api(.post, "/api/v1/commands/\(lock.id)/cancel", token: op, json: "{}").status == .conflict)
            #expect(try await checkin(client, key: key, at: harness.clock.now).0?.commands.isEmpty == true)

            let sync = try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "sync", "expiresIn": 600}"#).decode(
                CommandRecord.self)
            harness.clock.advance(601)
            #expect(try await checkin(client, key: key, at: harness.clock.now).0?.commands.isEmpty == true)
            #expect(try await harness.store.command(id: sync.id)?.state == .expired)

            let unlock = try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "unlock"}"#).decode(CommandRecord.self)
            _ = try await checkin(client, key: key, at: harness.clock.now, acks: [])
            _ = try await checkin(client, key: key, at: harness.clock.now, acks: [CommandAck(id: unlock.id, state: .acknowledged, at: harness.clock.now)])
            #expect(try await client.api(.post, "/api/v1/commands/\(unlock.id)/cancel", token: op, json: "{}").status == .conflict)
            #expect(try await client.api(.get, "/api/v1/commands/\(unlock.id)", token: op).decode(CommandRecord.self).state == .acknowledged)
        }
    }

    @Test("a signed receipt completes the wipe, revokes the device, is audited once, and a resend is a confirmed duplicate")
    func receipts() async throws {
        try await withDevice { harness, client, op, id, key async throws in
            let wipe = try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "wipe", "reason": "left"}"#).decode(
                CommandRecord.self)
            let lock = try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "lock"}"#).decode(CommandRecord.self)
            _ = try await checkin(client, key: key, at: harness.clock.now)
            let signed = try receipt(deviceId: id, commandId: wipe.id, key: key, at: harness.clock.now)

            // Tampered payload, a receipt signed by another key, another device's ID: refused.
            var tampered = signed
            tampered.payload = signed.payload.replacingOccurrences(of: "\"files\":12", with: "\"files\":13")
            #expect(try await client.sendReceipt(tampered, key: key, at: harness.clock.now).errorCode == "signature_invalid")
            #expect(
                try await client.sendReceipt(
                    try receipt(deviceId: id, commandId: wipe.id, key: .init(), at: harness.clock.now), key: key, at: harness.clock.now
                ).status == .badRequest)
            #expect(
                try await client.sendReceipt(
                    try receipt(deviceId: "someone-else", commandId: nil, key: key, at: harness.clock.now), key: key, at: harness.clock.now
                ).status == .badRequest)
            #expect(try await harness.store.receipts(deviceId: id).isEmpty)

            let first = try await client.sendReceipt(signed, key: key, at: harness.clock.now)
            #expect(first.status == .ok)
            #expect(
                try first.decode(ReceiptConfirmation.self)
                    == ReceiptConfirmation(receiptId: try #require(signed.verified(by: key.publicKey)).id, duplicate: false, revoked: true))
            #expect(first.headers[HTTPField.Name("Signature")!] != nil)
            let command = try #require(try await harness.store.command(id: wipe.id))
            #expect(command.state == .succeeded)
            #expect(command.receiptId != nil)
            let device = try #require(try await harness.store.device(id: id))
            #expect(device.status == .revoked)
            #expect(device.wipeConfirmedAt == harness.clock.now)
            // The device will never report on the lock delivered beside the wipe.
            #expect(try await harness.store.command(id: lock.id)?.state == .cancelled)

            // The agent crashed before it saw the confirmation and sends the receipt again.
            let again = try await client.sendReceipt(signed, key: key, at: harness.clock.now)
            #expect(try again.decode(ReceiptConfirmation.self).duplicate)
            #expect(try await harness.store.receipts(deviceId: id).count == 1)
            // A revoked, confirmed device cannot fill the audit log with new receipts.
            let another = try await client.sendReceipt(
                try receipt(deviceId: id, commandId: nil, trigger: "revoked", key: key, at: harness.clock.now), key: key, at: harness.clock.now)
            #expect(another.status == .conflict)
            let audited = try await harness.store.auditEntries(since: nil, target: id).filter { $0.action == "device.wipe-receipt" }
            #expect(audited.count == 1)
            #expect(audited.first?.detail?["files"] == "12")
            #expect(audited.first?.detail?["payloadDigest"] == signed.digest)

            // From now on the key is refused, in a reply the agent can verify.
            let (_, refused) = try await checkin(client, key: key, at: harness.clock.now)
            #expect(refused.errorCode == "device_revoked")
            #expect(refused.headers[HTTPField.Name("Signature")!] != nil)
            #expect(try await client.api(.get, "/api/v1/devices/\(id)/receipts", token: op).decode([StoredReceipt].self).count == 1)
        }
    }

    @Test("a device revoked without a receipt shows it was wiped once its receipt arrives")
    func lateReceipt() async throws {
        try await withDevice { harness, client, op, id, key async throws in
            _ = try await client.api(.post, "/api/v1/devices/\(id)/revoke", token: op, json: #"{"reason": "never came back"}"#)
            #expect(try await harness.store.device(id: id)?.wipeConfirmedAt == nil)
            harness.clock.advance(86_400)
            let response = try await client.sendReceipt(
                try receipt(deviceId: id, commandId: nil, trigger: "revoked", key: key, at: harness.clock.now), key: key, at: harness.clock.now)
            #expect(response.status == .ok)
            #expect(try await harness.store.device(id: id)?.wipeConfirmedAt == harness.clock.now)
        }
    }

    @Test("a server restart between delivery and acknowledgement loses nothing: the command goes out again and completes once")
    func restartBetweenDeliveryAndAck() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-restart-\(UUID().uuidString).sqlite").path
        let clock = TestClock()
        func server() async throws -> Harness { try await Harness(store: try SQLiteStore(path: file), clock: clock) }
        let first = try await server()
        let op = try await first.token(.operator)
        let delivered = Mutex<(Curve25519.Signing.PrivateKey, String, String)?>(nil)
        try await first.test { client async throws in
            let (key, response) = try await client.enroll(token: try await client.enrollToken(op), at: clock.now)
            let id = try response.decode(EnrollResponse.self).deviceId
            let sync = try await client.api(.post, "/api/v1/devices/\(id)/commands", token: op, json: #"{"type": "sync"}"#).decode(CommandRecord.self)
            #expect(try await checkin(client, key: key, at: clock.now).0?.commands.map(\.id) == [sync.id])
            delivered.withLock { $0 = (key, id, sync.id) }
        }
        let (deviceKey, deviceId, commandId) = try #require(delivered.withLock { $0 })
        // A new process on the same database.
        let second = try await server()
        try await second.test { client async throws in
            #expect(try await checkin(client, key: deviceKey, at: clock.now).0?.commands.map(\.id) == [commandId])
            _ = try await checkin(client, key: deviceKey, at: clock.now, acks: [CommandAck(id: commandId, state: .succeeded, at: clock.now)])
            _ = try await checkin(client, key: deviceKey, at: clock.now, acks: [CommandAck(id: commandId, state: .succeeded, at: clock.now)])
        }
        let done = try #require(try await second.store.command(id: commandId))
        #expect(done.state == .succeeded)
        #expect(done.deviceId == deviceId)
    }
}

@Suite("Offboarding")
struct OffboardingTests {
    @Test("restricted now, wiped at the date, revoked per receipt, then the seat is free and nothing new can enroll")
    func wholeFlow() async throws {
        let harness = try await Harness { $0.offboardingProfile = "restricted" }
        let op = try await harness.token(.operator)
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            _ = try await client.api(.post, "/api/v1/persons", token: op, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#)
            var keys: [(String, Curve25519.Signing.PrivateKey)] = []
            for n in 1...2 {
                let facts = DeviceFacts(hostname: "laptop-\(n)", osRelease: "Debian", kernel: "6.1", machineIdHash: "m\(n)", agentVersion: "0.1.0")
                let (key, response) = try await client.enroll(
                    token: try await client.enrollToken(op, json: #"{"person": "ada@example.org"}"#), facts: facts, at: harness.clock.now)
                keys.append((try response.decode(EnrollResponse.self).deviceId, key))
            }
            let spare = try await client.enrollToken(op, json: #"{"person": "ada@example.org"}"#)
            _ = try await client.api(.post, "/api/v1/profiles", token: admin, json: #"{"source": "name: restricted\ncheckinInterval: 30\n"}"#)

            let at = ISO8601.string(from: harness.clock.now + 14 * 86_400)
            #expect(try await client.api(.post, "/api/v1/persons/ada@example.org/offboard", token: op, json: #"{"restrictNow": true}"#).status == .badRequest)
            #expect(
                try await client.api(.post, "/api/v1/persons/ada@example.org/offboard", token: admin, json: #"{"restrictNow": true, "profile": "nope"}"#).status
                    == .badRequest)
            let started = try await client.api(
                .post, "/api/v1/persons/ada@example.org/offboard", token: op,
                json: #"{"at": "\#(at)", "restrictNow": true, "profile": "restricted", "reason": "end of contract"}"#)
            #expect(started.status == .accepted)
            // The notice period: restricted profile, no wipes yet, no new devices.
            for (id, _) in keys {
                #expect(try await harness.services.policies.effectivePolicy(for: try await harness.services.directory.device(id)).checkinInterval == 30)
                #expect(try await harness.store.commands(deviceId: id).isEmpty)
            }
            #expect(try await harness.store.person(email: "ada@example.org")?.status == .offboarding)
            let (_, late) = try await client.enroll(token: spare, at: harness.clock.now)
            #expect(late.errorCode == "enroll_token_revoked")
            #expect(try await client.api(.post, "/api/v1/enroll-tokens", token: op, json: #"{"person": "ada@example.org"}"#).status == .conflict)

            // The date comes: a wipe for each device.
            harness.clock.advance(14 * 86_400)
            try await harness.services.offboarding.tick()
            var wipes: [String: String] = [:]
            for (id, _) in keys {
                let commands = try await harness.store.commands(deviceId: id)
                #expect(commands.map(\.type) == [.wipe])
                wipes[id] = commands.first?.id
            }
            try await harness.services.offboarding.tick()
            for (id, _) in keys { #expect(try await harness.store.commands(deviceId: id).count == 1, "a second tick issued another wipe") }

            // One receipt: one device revoked, the person still offboarding.
            let (firstId, firstKey) = keys[0]
            _ = try await client.sendReceipt(
                try receipt(deviceId: firstId, commandId: wipes[firstId], key: firstKey, at: harness.clock.now), key: firstKey, at: harness.clock.now)
            var detail = try await client.api(.get, "/api/v1/persons/ada@example.org", token: op).decode(PersonDetail.self)
            #expect(detail.person.status == .offboarding)
            #expect(detail.progress.first { $0.deviceId == firstId }?.wipe == .succeeded)
            #expect(detail.progress.first { $0.deviceId == keys[1].0 }?.wipe == .queued)

            let (secondId, secondKey) = keys[1]
            _ = try await client.sendReceipt(
                try receipt(deviceId: secondId, commandId: wipes[secondId], key: secondKey, at: harness.clock.now), key: secondKey, at: harness.clock.now)
            detail = try await client.api(.get, "/api/v1/persons/ada@example.org", token: op).decode(PersonDetail.self)
            #expect(detail.person.status == .offboarded)
            #expect(detail.offboarding?.completedAt != nil)
            #expect(detail.devices.allSatisfy { $0.status == .revoked && $0.wipeConfirmedAt != nil })
            #expect(try await client.api(.post, "/api/v1/persons/ada@example.org/offboard", token: op, json: "{}").status == .conflict)

            let actions = try await harness.store.auditEntries(since: nil, target: nil).map(\.action)
            #expect(actions.filter { $0 == "device.wipe-receipt" }.count == 2)
            #expect(actions.contains("person.offboarding") && actions.contains("person.wipes-issued") && actions.contains("person.offboarded"))
            #expect(try await harness.services.audit.verify().ok)
        }
    }

    @Test("a person without devices, offboarded now, is offboarded at once")
    func noDevices() async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            _ = try await client.api(.post, "/api/v1/persons", token: op, json: #"{"email": "bo@example.org", "displayName": "Bo"}"#)
            let response = try await client.api(.post, "/api/v1/persons/bo@example.org/offboard", token: op, json: "{}")
            #expect(try response.decode(PersonDetail.self).person.status == .offboarded)
        }
    }
}

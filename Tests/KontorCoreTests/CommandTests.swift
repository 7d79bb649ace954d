import Crypto
import Foundation
import KontorCore
import Testing

@Suite("Commands and receipts")
struct CommandTests {
    @Test("commands only move forward; a repeat is not a move; the device's outcome overrides a crossing cancellation")
    func transitions() {
        let allowed: [(CommandState, CommandState)] = [
            (.queued, .delivered), (.queued, .acknowledged), (.queued, .succeeded), (.queued, .failed), (.queued, .cancelled), (.queued, .expired),
            (.delivered, .acknowledged), (.delivered, .succeeded), (.delivered, .failed), (.delivered, .cancelled), (.delivered, .expired),
            (.acknowledged, .succeeded), (.acknowledged, .failed), (.cancelled, .succeeded), (.cancelled, .failed),
        ]
        for from in CommandState.allCases {
            for to in CommandState.allCases {
                let expected = allowed.contains { $0 == (from, to) }
                #expect(from.canMove(to: to) == expected, "\(from) → \(to)")
            }
        }
    }

    @Test("a signed receipt verifies with the device key only, and any change to it breaks the signature")
    func signedReceipt() throws {
        let key = Curve25519.Signing.PrivateKey()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let receipt = WipeReceipt(
            id: IdentifierGenerator.uuidV7(now: now), deviceId: "d", trigger: "command", commandId: nil, account: "work-ada", accountRemoved: true,
            processesKilled: 1, removed: [RemovedPath(path: "/home/work-ada", files: 3, bytes: 42, existed: true)], refused: [], startedAt: now,
            finishedAt: now + 1, agentVersion: "0.1.0")
        let signed = try SignedReceipt.sign(receipt, key: key)
        #expect(signed.verified(by: key.publicKey) == receipt)
        #expect(signed.verified(by: Curve25519.Signing.PrivateKey().publicKey) == nil)
        var edited = signed
        edited.payload = signed.payload.replacingOccurrences(of: "\"bytes\":42", with: "\"bytes\":0")
        #expect(edited.payload != signed.payload)
        #expect(edited.verified(by: key.publicKey) == nil)
        #expect(receipt.totalFiles == 3 && receipt.totalBytes == 42)
        #expect(signed.digest.hasPrefix("sha256:"))
    }

    @Test("acknowledgements are checked field by field")
    func acks() {
        let now = Date()
        #expect(CommandAck(id: IdentifierGenerator.uuidV7(), state: .succeeded, at: now).validationError(index: 0) == nil)
        #expect(CommandAck(id: "x", state: .succeeded, at: now).validationError(index: 2) == "acks[2].id: not a command ID")
        #expect(CommandAck(id: IdentifierGenerator.uuidV7(), state: .cancelled, at: now).validationError(index: 0)?.hasPrefix("acks[0].state") == true)
    }
}

@Suite("What a device receives of a command")
struct DeviceCommandWireTests {
    @Test("a lock's reason goes to the device (the person is told why); a wipe's stays on the server; a reply without one still decodes")
    func reasonOnlyForLock() throws {
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(CommandRecord(id: "c1", deviceId: "d", type: .lock, reason: "stolen", issuedAt: at).wire.reason == "stolen")
        #expect(CommandRecord(id: "c2", deviceId: "d", type: .wipe, reason: "left the company", issuedAt: at).wire.reason == nil)
        let old = try KontorJSON.decode(DeviceCommand.self, from: Data(#"{"id": "c3", "type": "lock", "issuedAt": "2027-01-15T08:00:00Z"}"#.utf8))
        #expect(old.reason == nil && old.type == "lock")
    }
}

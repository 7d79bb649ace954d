import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorClient
import KontorCore
import KontorSQLite
import NIOCore
import Testing

@testable import KontorServer

/// A signed check-in as a device sends it, kept so it can be sent again byte for byte.
private struct Captured {
    var headers: HTTPFields
    var body: Data

    init(_ request: CheckinRequest, key: Curve25519.Signing.PrivateKey, at now: Date) throws {
        body = try KontorJSON.encode(request)
        let (pairs, _) = try DeviceClient.sign(
            method: "POST", server: try ServerURL("http://localhost"), path: DeviceAPI.checkinPath, body: body, key: key, now: now)
        headers = HTTPFields()
        for (name, value) in pairs where name != "Host" { headers[HTTPField.Name(name)!] = value }
    }

    func send(_ client: any TestClientProtocol) async throws -> TestResponse {
        try await client.execute(uri: DeviceAPI.checkinPath, method: .post, headers: headers, body: ByteBuffer(bytes: body))
    }
}

/// One SQLite file that two server processes (here: two Services) use one after the other.
private final class Installation: Sendable {
    let path: String
    let store: SQLiteStore
    let clock = TestClock()

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-replay-\(UUID().uuidString).sqlite").path
        store = try SQLiteStore(path: path)
    }

    /// A server starting now on the file, as `kontor-server serve` does.
    func start() async throws -> (Harness, SQLiteReplayWindow) {
        let window = try await SQLiteReplayWindow.beginServing(store: store, now: Int(clock.now.timeIntervalSince1970))
        return (try await Harness(store: store, clock: clock, replay: window), window)
    }

    deinit {
        for file in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: file) }
    }
}

private func overrides(_ deviceId: String, _ store: SQLiteStore) async throws -> Int {
    try await store.auditEntries(since: nil, target: deviceId).filter { $0.action == "device.quiet-override" }.count
}

@Suite("Replay window across restarts (SQLite)", .serialized)
struct ReplayAfterRestartTests {
    /// How the first server ends.
    enum Ending: String, CaseIterable, Sendable { case stopped, crashed }

    @Test("a check-in captured before a restart is refused after it, and its events and audit entries are not stored twice", arguments: Ending.allCases)
    func capturedCheckinRefused(ending: Ending) async throws {
        let installation = try Installation()
        let (first, window) = try await installation.start()
        #expect(window.notBefore == nil, "a new installation has nothing to refuse")
        let admin = try await first.token(.admin)
        let key = Curve25519.Signing.PrivateKey()
        let event = DeviceEvent(at: installation.clock.now, kind: "quiet.override", detail: "until 23:00: release")
        let captured = try Captured(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: [event]), key: key, at: installation.clock.now)
        try await first.test { client in
            let (_, enrolled) = try await client.enroll(token: try await client.enrollToken(admin), key: key, at: installation.clock.now)
            #expect(enrolled.status == .created)
            #expect(try await captured.send(client).status == .ok)
            #expect(try await captured.send(client).errorCode == "nonce_replayed", "refused within the same process, as before")
        }
        if ending == .stopped { try await window.endServing() }

        let deviceId = try #require(try await installation.store.device(keyId: DeviceKeys.keyID(for: key.publicKey))).id
        installation.clock.advance(10)
        let (second, _) = try await installation.start()
        try await second.test { client in
            let replayed = try await captured.send(client)
            switch ending {
            case .stopped:
                // Its second was the last the old server accepted: checked against the nonces it wrote.
                #expect(replayed.status == .unauthorized)
                #expect(replayed.errorCode == "nonce_replayed")
            case .crashed:
                #expect(replayed.status == .serviceUnavailable)
                #expect(replayed.errorCode == "signature_expired")
                #expect(replayed.headers[.retryAfter] != nil)
            }
            #expect(try await installation.store.events(deviceId: deviceId, limit: 10).count == 1)
            #expect(try await overrides(deviceId, installation.store) == 1)

            // The device itself signs anew and goes on; after a crash only once the starting second is over.
            if ending == .crashed {
                let early = try Captured(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil), key: key, at: installation.clock.now)
                let refused = try await early.send(client)
                #expect(refused.status == .serviceUnavailable)
                #expect(refused.headers[.retryAfter] == "1")
                installation.clock.advance(1)
            }
            let fresh = try Captured(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil), key: key, at: installation.clock.now)
            #expect(try await fresh.send(client).status == .ok)
        }
    }

    @Test("after a clean stop, a signature made in the very second of the old server's last one is served; the captured one of that second is not")
    func sameSecondAfterCleanStop() async throws {
        let installation = try Installation()
        let (first, window) = try await installation.start()
        let admin = try await first.token(.admin)
        let key = Curve25519.Signing.PrivateKey()
        let captured = try Captured(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil), key: key, at: installation.clock.now)
        try await first.test { client in
            let (_, enrolled) = try await client.enroll(token: try await client.enrollToken(admin), key: key, at: installation.clock.now)
            #expect(enrolled.status == .created)
            #expect(try await captured.send(client).status == .ok)
        }
        try await window.endServing()

        // Restarted within the same second.
        let (second, _) = try await installation.start()
        try await second.test { client in
            let replayed = try await captured.send(client)
            #expect(replayed.errorCode == "nonce_replayed")
            let fresh = try Captured(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil), key: key, at: installation.clock.now)
            #expect(try await fresh.send(client).status == .ok)
        }
    }

    @Test("a check-in from a device whose clock runs ahead, captured before a restart, is refused after it (its nonce was kept)")
    func fastClockRefused() async throws {
        let installation = try Installation()
        let (first, window) = try await installation.start()
        let admin = try await first.token(.admin)
        let key = Curve25519.Signing.PrivateKey()
        // Two minutes ahead: within the signature window, and not "before" a restart ten seconds later.
        let ahead = installation.clock.now.addingTimeInterval(120)
        let event = DeviceEvent(at: ahead, kind: "quiet.override", detail: "until 23:00: release")
        let captured = try Captured(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: [event]), key: key, at: ahead)
        try await first.test { client in
            let (_, enrolled) = try await client.enroll(token: try await client.enrollToken(admin), key: key, at: installation.clock.now)
            #expect(enrolled.status == .created)
            #expect(try await captured.send(client).status == .ok)
        }
        try await window.endServing()

        let deviceId = try #require(try await installation.store.device(keyId: DeviceKeys.keyID(for: key.publicKey))).id
        installation.clock.advance(10)
        let (second, _) = try await installation.start()
        try await second.test { client in
            let replayed = try await captured.send(client)
            #expect(replayed.errorCode == "nonce_replayed")
            #expect(try await installation.store.events(deviceId: deviceId, limit: 10).count == 1)
            #expect(try await overrides(deviceId, installation.store) == 1)
        }
    }

    @Test("after a crash, a device whose clock is behind is told when to sign again, and is accepted then")
    func slowClockRetries() async throws {
        let installation = try Installation()
        let (first, _) = try await installation.start()
        let admin = try await first.token(.admin)
        let key = Curve25519.Signing.PrivateKey()
        try await first.test { client in
            _ = try await client.enroll(token: try await client.enrollToken(admin), key: key, at: installation.clock.now)
        }
        installation.clock.advance(5)
        let (second, window) = try await installation.start()
        let start = Int(installation.clock.now.timeIntervalSince1970)
        #expect(window.notBefore == start + 1)
        try await second.test { client in
            // The device's clock is 20 s behind.
            let behind = try Captured(
                CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil), key: key, at: installation.clock.now.addingTimeInterval(-20))
            let refused = try await behind.send(client)
            #expect(refused.status == .serviceUnavailable)
            let wait = try #require(refused.headers[.retryAfter].flatMap(Int.init))
            #expect(wait == 21)
            installation.clock.advance(TimeInterval(wait))
            let again = try Captured(
                CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil), key: key, at: installation.clock.now.addingTimeInterval(-20))
            #expect(try await again.send(client).status == .ok)
        }
    }

    @Test("a store that already has devices but no record of the previous server (an upgrade) refuses what was signed before the start")
    func unknownPast() async throws {
        let installation = try Installation()
        let (first, _) = try await installation.start()
        let admin = try await first.token(.admin)
        try await first.test { client in
            _ = try await client.enroll(token: try await client.enrollToken(admin), at: installation.clock.now)
        }
        // As an earlier version left it: no state at all.
        try await installation.store.tamper(sql: "DELETE FROM settings WHERE key = '\(SQLiteReplayWindow.stateKey)'")
        let (_, window) = try await installation.start()
        #expect(window.notBefore == Int(installation.clock.now.timeIntervalSince1970) + 1)
    }
}

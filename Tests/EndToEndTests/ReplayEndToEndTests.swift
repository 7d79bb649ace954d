import Crypto
import Foundation
import KontorClient
import KontorCore
import Testing

/// A check-in signed once, sent over a new connection each time exactly as captured.
private struct CapturedCheckin {
    let request: String

    init(server: ServerProcess, request: CheckinRequest, key: Curve25519.Signing.PrivateKey) throws {
        let body = try KontorJSON.encode(request)
        let (headers, _) = try DeviceClient.sign(
            method: "POST", server: try ServerURL(server.url), path: DeviceAPI.checkinPath, body: body, key: key, now: Date())
        var text = "POST \(DeviceAPI.checkinPath) HTTP/1.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n" + String(decoding: body, as: UTF8.self)
        self.request = text
    }

    /// The server's answer: status line, headers and body as text.
    func send(to port: Int) throws -> String {
        let client = try RawClient(port: port)
        client.send(request)
        _ = client.closed(within: 10)
        return String(decoding: client.received, as: UTF8.self)
    }
}

@Suite("End to end: the replay window across a restart of the real server (SQLite)", .serialized)
struct ReplayEndToEndTests {
    @Test("a check-in captured before kontor-server restarts is refused after it, and what it reported is stored once")
    func capturedCheckinAfterRestart() async throws {
        let server = try ServerProcess()
        try await server.start()
        let admin = try await server.adminToken(role: .admin)
        let created = try await server.ctl(admin, ["enroll-tokens", "create", "--json"])
        let token = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])["token"] as? String
        let key = Curve25519.Signing.PrivateKey()
        let facts = DeviceFacts(hostname: "replayed", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "replay-machine", agentVersion: "0.1.0")
        let enrolled = try await DeviceClient(server: server.url).enroll(token: try #require(token), key: key, facts: facts, acceptedTermsVersion: nil)

        let event = DeviceEvent(at: Date(), kind: "quiet.override", detail: "until 23:00: release")
        let captured = try CapturedCheckin(server: server, request: CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: [event]), key: key)
        #expect(try captured.send(to: server.port).hasPrefix("HTTP/1.1 200"))
        #expect(try captured.send(to: server.port).contains("nonce_replayed"), "refused while the same process runs")

        #expect(server.stop() == 0)
        let restarted = try ServerProcess(dataDir: server.dataDir, port: server.port)
        try await restarted.start()
        defer { restarted.stop() }
        // Signed in the last second the old server accepted anything: checked against the nonces it wrote.
        let replayed = try captured.send(to: restarted.port)
        #expect(replayed.hasPrefix("HTTP/1.1 401"), "\(replayed.prefix(300))")
        #expect(replayed.contains("nonce_replayed"))

        let audit = try await restarted.ctl(admin, ["audit", "list", "--device", enrolled.deviceId, "--json"])
        #expect(audit.status == 0, "\(audit.stderr)")
        let entries = try KontorJSON.decode([AuditEntry].self, from: Data(audit.stdout.utf8))
        #expect(entries.filter { $0.action == "device.quiet-override" }.count == 1)

        // The device signs anew and is served at once: a clean restart refuses nothing fresh.
        let identity = DeviceIdentity(deviceId: enrolled.deviceId, privateKey: key, serverKey: DeviceKeys.publicKey(base64: enrolled.serverPublicKey)!)
        let next = try await DeviceClient(server: restarted.url).checkin(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil), identity: identity)
        #expect(next.body.result == "policy")
    }
}

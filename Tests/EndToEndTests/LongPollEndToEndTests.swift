import Crypto
import Foundation
import KontorClient
import KontorCore
import Testing

/// The server's gauge of held check-ins and its count of abandoned ones, from `/metrics`.
private func heldPolls(_ server: ServerProcess) async throws -> (held: Int, abandoned: Int) {
    let metrics = String(decoding: try await plainGET(server.url + "/metrics").body, as: UTF8.self)
    func value(_ name: String) -> Int {
        metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }.map { Int($0) } ?? 0
    }
    return (value("kontor_long_polls_held"), value("kontor_long_polls_abandoned_total"))
}

@Suite("End to end: held check-ins of clients that went away (real kontor-server)", .serialized)
struct LongPollEndToEndTests {
    @Test("a long poll ends as soon as its client closes the connection or resets it; the others stay held")
    func vanishedClientsAreReleased() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        var clients: [RawClient] = []
        for n in 0..<3 {
            let created = try await server.ctl(admin, ["enroll-tokens", "create", "--json"])
            let token = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])["token"] as? String
            let key = Curve25519.Signing.PrivateKey()
            let facts = DeviceFacts(
                hostname: "poller-\(n)", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "poll-\(n)", agentVersion: "0.1.0")
            let enrolled = try await DeviceClient(server: server.url).enroll(token: try #require(token), key: key, facts: facts, acceptedTermsVersion: nil)
            let identity = DeviceIdentity(deviceId: enrolled.deviceId, privateKey: key, serverKey: DeviceKeys.publicKey(base64: enrolled.serverPublicKey)!)
            let first = try await DeviceClient(server: server.url).checkin(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil), identity: identity)
            // The agent's long poll: the policy it runs, held for up to 55 s.
            let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: first.body.policyHash, status: nil, facts: nil, wait: 55))
            let (headers, _) = try DeviceClient.sign(
                method: "POST", server: try ServerURL(server.url), path: DeviceAPI.checkinPath, body: body, key: key, now: Date())
            var text = "POST \(DeviceAPI.checkinPath) HTTP/1.1\r\n"
            for (name, value) in headers { text += "\(name): \(value)\r\n" }
            text += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n" + String(decoding: body, as: UTF8.self)
            let client = try RawClient(port: server.port)
            #expect(client.send(text))
            clients.append(client)
        }
        #expect(try await eventually(within: 10) { try await heldPolls(server).held == 3 }, "three polls held")

        let closedAt = Date()
        clients[0].hangUp()
        #expect(try await eventually(within: 5) { try await heldPolls(server) == (2, 1) }, "closed (FIN): released")
        clients[1].hangUp(reset: true)
        #expect(try await eventually(within: 5) { try await heldPolls(server) == (1, 2) }, "reset (RST): released")
        #expect(Date().timeIntervalSince(closedAt) < 5)
        // The client still there is still held (and answered when its time is up, which this test does not wait for).
        #expect(!clients[2].closed(within: 0.5))
        #expect(try await heldPolls(server).held == 1)
    }
}

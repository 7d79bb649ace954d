import Crypto
import Foundation
import KontorClient
import KontorCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Real slow clients against the real `kontor-server` binary, with timeouts of a second or so set
/// through the environment so the tests take seconds. The checks use generous bounds: they tell
/// "closed by the server" from "never closed", not how fast.
@Suite("End to end: slow clients and connection limits against the real server", .serialized)
struct SlowClientEndToEndTests {
    private func server(_ environment: [String: String], openFileLimit: Int? = nil) async throws -> ServerProcess {
        let server = try ServerProcess()
        server.environment = environment
        server.openFileLimit = openFileLimit
        try await server.start()
        return server
    }

    @Test("a request whose head is never finished is closed after the header timeout, unanswered")
    func halfSentRequest() async throws {
        let server = try await server(["KONTOR_HEADER_TIMEOUT": "1"])
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
        #expect(client.closed(within: 15))
        #expect(client.received.isEmpty)
    }

    @Test("a slowloris that trickles one header byte at a time is cut off at the header timeout, long before its head is complete")
    func trickledHead() async throws {
        let server = try await server(["KONTOR_HEADER_TIMEOUT": "1", "KONTOR_IDLE_TIMEOUT": "60"])
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        // 400 bytes at one every 100 ms would take 40 s; each byte keeps the connection busy.
        let head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + String(repeating: "a", count: 350) + "\r\n\r\n"
        var sent = 0
        var cut = false
        for byte in head {
            guard client.send(String(byte)) else {
                cut = true
                break
            }
            sent += 1
            if client.closed(within: 0.1) {
                cut = true
                break
            }
        }
        #expect(cut)
        #expect(sent < head.count / 2, "the server read \(sent) of \(head.count) bytes before closing")
        #expect(client.received.isEmpty)
    }

    @Test("a kept-alive connection is closed after the idle timeout once its response is written")
    func idleKeepAlive() async throws {
        let server = try await server(["KONTOR_IDLE_TIMEOUT": "1"])
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(client.closed(within: 15))
        #expect(String(decoding: client.received, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
    }

    @Test("with an open-file limit of 128, 200 half-sent requests do not take /healthz down: the longest-waiting connections make room")
    func connectionFlood() async throws {
        // The header timeout is long: only the connection limit can keep the server reachable.
        let server = try await server(["KONTOR_HEADER_TIMEOUT": "300"], openFileLimit: 128)
        defer { server.stop() }
        var flood: [RawClient] = []
        for _ in 0..<200 {
            let client = try RawClient(port: server.port)
            client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
            flood.append(client)
        }
        // Give the server time to accept what it can of the flood.
        try await Task.sleep(for: .milliseconds(500))
        // Each probe on a new connection (a pooled one opened before the flood would prove nothing).
        for attempt in 0..<3 {
            for path in ["/healthz", "/readyz"] {
                let probe = try RawClient(port: server.port)
                probe.send("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                _ = probe.closed(within: 5)
                let answer = String(decoding: probe.received, as: UTF8.self)
                #expect(
                    answer.hasPrefix("HTTP/1.1 200"), "attempt \(attempt): \(path) did not answer while 200 connections were held open: \(answer.prefix(200))")
            }
        }
        let closedByServer = flood.filter { $0.closed(within: 0.01) }.count
        #expect(closedByServer >= 100, "only \(closedByServer) of 200 held connections were closed to make room")
        let metrics = String(decoding: try await plainGET(server.url + "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"kontor_connections_closed_total{reason="evicted"}"#), "\(metrics.prefix(3000))")
        #expect(!server.log().contains("Too many open files"), "\(server.log().suffix(2000))")
    }

    @Test("a held long poll survives past the idle and header timeouts and answers when its time is up")
    func longPollOutlivesIdleTimeout() async throws {
        let server = try await server(["KONTOR_IDLE_TIMEOUT": "1", "KONTOR_HEADER_TIMEOUT": "1", "KONTOR_BODY_TIMEOUT": "1", "KONTOR_LONG_POLL_MAX": "4"])
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        let created = try await server.ctl(admin, ["enroll-tokens", "create", "--json"])
        #expect(created.status == 0, "\(created.stderr)")
        let token = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])["token"] as? String
        let client = try DeviceClient(server: server.url)
        let key = Curve25519.Signing.PrivateKey()
        let facts = DeviceFacts(hostname: "poller", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "poll-machine", agentVersion: "0.1.0")
        let enrolled = try await client.enroll(token: try #require(token), key: key, facts: facts, acceptedTermsVersion: nil)
        let identity = DeviceIdentity(deviceId: enrolled.deviceId, privateKey: key, serverKey: DeviceKeys.publicKey(base64: enrolled.serverPublicKey)!)
        let first = try await client.checkin(CheckinRequest(appliedPolicyHash: nil, status: AgentReport(state: "ok"), facts: nil), identity: identity)

        let started = ContinuousClock.now
        let held = try await client.checkin(CheckinRequest(appliedPolicyHash: first.body.policyHash, status: nil, facts: nil, wait: 30), identity: identity)
        let waited = ContinuousClock.now - started
        #expect(held.body.result == "unchanged")
        #expect(held.body.longPoll == true)
        // Held for longPollMax (4 s), four times the idle timeout, and not cut.
        #expect(waited >= .seconds(3), "answered after \(waited): the poll was not held")
    }
}

import Foundation
import KontorClient
import KontorCore
import Testing

@Suite("End to end: real kontor-agent against a real kontor-server", .serialized)
struct AgentEndToEndTests {
    func agent(_ arguments: [String]) async throws -> CommandResult { try await runCommand(Binaries.path("kontor-agent"), arguments) }

    func devices(_ server: ServerProcess, _ token: String) async throws -> [Device] {
        let listed = try await server.ctl(token, ["devices", "list", "--json"])
        return try KontorJSON.decode([Device].self, from: Data(listed.stdout.utf8))
    }

    @Test("enroll with the printed command, run once, and the device shows up with its facts; status tells the employee what is sent")
    func enrollRunOnceStatus() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let op = try await server.adminToken(role: .operator)
        let created = try await server.ctl(op, ["enroll-tokens", "create", "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])
        let token = try #require(json["token"] as? String)
        let command = try #require(json["agentCommand"] as? String)
        #expect(command.contains("kontor-agent enroll --server \(server.url) --token \(token)"))

        let root = server.dataDir.appendingPathComponent("endpoint").path
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try "e2e-endpoint\n".write(toFile: root + "/etc/hostname", atomically: true, encoding: .utf8)
        let enrolled = try await agent(["enroll", "--server", server.url, "--token", token, "--root", root, "--accept-terms", "2026-1"])
        #expect(enrolled.status == 0, "\(enrolled.stderr)")
        let second = try await agent(["enroll", "--server", server.url, "--token", token, "--root", root])
        #expect(second.status == 1)
        #expect(second.stderr.contains("already enrolled"))
        #expect(second.stderr.split(separator: "\n").count == 1)

        let once = try await agent(["run", "--once", "--root", root])
        #expect(once.status == 0, "\(once.stderr)")
        let listed = try await devices(server, op)
        #expect(listed.count == 1)
        #expect(listed.first?.facts.hostname == "e2e-endpoint")
        #expect(listed.first?.lastSeen != nil)
        #expect(listed.first?.acceptedTermsVersion == "2026-1")
        #expect(listed.first?.agentStatus?.state == "ok")

        let status = try await agent(["status", "--json", "--root", root])
        let report = try KontorJSON.decode(AgentStatusJSON.self, from: Data(status.stdout.utf8))
        #expect(report.enrolled)
        #expect(report.deviceId == listed.first?.id)
        #expect(report.lastCheckin != nil)
        #expect(report.dataSent.contains { $0.contains("machine-id") })
        let text = try await agent(["status", "--root", root])
        #expect(text.stdout.contains("What this agent sends to the server"))

        let key = try FileManager.default.attributesOfItem(atPath: root + "/var/lib/kontor/agent/device.key")
        #expect((key[.posixPermissions] as? Int) == 0o600)
    }

    @Test("an agent that is not enrolled, or given a bad token, says so in one line")
    func usageErrors() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-e2e-\(UUID().uuidString)").path
        let run = try await agent(["run", "--once", "--root", root])
        #expect(run.status == 1)
        #expect(run.stderr.contains("not enrolled"))
        let bad = try await agent(["enroll", "--server", "http://127.0.0.1:1", "--token", "nope", "--root", root])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("not an enrollment token"))
        let unreachable = try await agent([
            "enroll", "--server", "http://127.0.0.1:1", "--token", "ket_000000000000_" + String(repeating: "A", count: 43), "--root", root,
        ])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot reach the server"))
        #expect(!FileManager.default.fileExists(atPath: root + "/var/lib/kontor/agent/identity.json"))
    }

    @Test("the running agent recovers by itself when the server is restarted, and stops cleanly on SIGTERM")
    func daemonSurvivesServerRestart() async throws {
        let server = try ServerProcess()
        try await server.start()
        let admin = try await server.adminToken(role: .admin)
        #expect(try await server.ctl(admin, ["settings", "set", "--checkin-interval", "10"]).status == 0)
        let created = try await server.ctl(admin, ["enroll-tokens", "create", "--json"])
        let token = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["token"] as? String)
        let root = server.dataDir.appendingPathComponent("endpoint").path
        try FileManager.default.createDirectory(atPath: root + "/etc/kontor", withIntermediateDirectories: true)
        try "maxBackoff: 10\nrequestTimeout: 5\nlogLevel: debug\n".write(toFile: root + "/etc/kontor/agent.yaml", atomically: true, encoding: .utf8)
        #expect(try await agent(["enroll", "--server", server.url, "--token", token, "--root", root]).status == 0)

        let daemon = try startProcess(Binaries.path("kontor-agent"), ["run", "--root", root], log: server.dataDir.appendingPathComponent("agent.log"))
        defer { if daemon.isRunning { daemon.terminate() } }
        #expect(try await eventually(within: 30) { try await devices(server, admin).first?.lastSeen != nil })
        let before = try #require(try await devices(server, admin).first?.lastSeen)

        #expect(server.stop() == 0)
        let restarted = try ServerProcess(dataDir: server.dataDir, port: server.port)
        try await restarted.start()
        defer { restarted.stop() }
        // The restarted server counts from zero: a check-in it answered, or one it holds (the agent long-polls),
        // came after the restart. (lastSeen alone cannot tell: it has whole seconds, and a fast restart falls
        // within the second of the last check-in.)
        let recovered = try await eventually(within: 45) {
            let metrics = String(decoding: try await plainGET(restarted.url + "/metrics").body, as: UTF8.self)
            let counted = metrics.split(separator: "\n").contains {
                ($0.hasPrefix("kontor_checkins_total{result=\"unchanged\"}") || $0.hasPrefix("kontor_long_polls_held "))
                    && (Double($0.split(separator: " ").last ?? "") ?? 0) > 0
            }
            guard counted, let seen = try await devices(restarted, admin).first?.lastSeen else { return false }
            return seen >= before
        }
        let log = (try? String(contentsOf: server.dataDir.appendingPathComponent("agent.log"), encoding: .utf8)) ?? ""
        #expect(recovered, "agent log:\n\(log)\nfirst server:\n\(server.log())\nrestarted server:\n\(restarted.log())")
        #expect(daemon.isRunning)
        #expect(!log.contains("kat_") && !log.contains("ket_"), "the agent logged a token")

        #expect(stopProcess(daemon, name: "kontor-agent") == 0)
    }
}

/// The fields of `kontor-agent status --json` the tests read.
struct AgentStatusJSON: Decodable {
    var enrolled: Bool
    var deviceId: String?
    var lastCheckin: Date?
    var dataSent: [String]
}

@Suite("End to end: TLS", .serialized)
struct TLSEndToEndTests {
    @Test("kontor-server serves HTTPS with a given certificate, and an agent trusting it through caFile enrolls and checks in")
    func tls() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let openssl = try await runCommand(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ])
        try #require(openssl.status == 0, "\(openssl.stderr)")

        let server = try ServerProcess(dataDir: dir.appendingPathComponent("data"))
        server.extraArguments = ["--tls-certificate", cert, "--tls-key", key]
        server.scheme = "https"
        try await server.start()
        defer { server.stop() }
        let op = try await server.adminToken(role: .operator)

        // kontorctl without the certificate refuses the untrusted server.
        let untrusted = try await server.ctl(op, ["persons", "list"])
        #expect(untrusted.status != 0)
        #expect(untrusted.stderr.contains("not trusted"), "\(untrusted.stderr)")

        let root = dir.appendingPathComponent("endpoint").path
        try FileManager.default.createDirectory(atPath: root + "/etc/kontor", withIntermediateDirectories: true)
        try "caFile: \(cert)\n".write(toFile: root + "/etc/kontor/agent.yaml", atomically: true, encoding: .utf8)

        let token = try #require(try await enrollTokenOverTLS(server: server, adminToken: op, caFile: cert))
        let enrolled = try await runCommand(Binaries.path("kontor-agent"), ["enroll", "--server", server.url, "--token", token, "--root", root])
        #expect(enrolled.status == 0, "\(enrolled.stderr)")
        let once = try await runCommand(Binaries.path("kontor-agent"), ["run", "--once", "--root", root])
        #expect(once.status == 0, "\(once.stderr)")
    }

    /// Creates an enrollment token with kontorctl trusting the test certificate through KONTOR_CA_FILE.
    func enrollTokenOverTLS(server: ServerProcess, adminToken: String, caFile: String) async throws -> String? {
        let result = try await runCommand(
            Binaries.path("kontorctl"), ["--server", server.url, "--token", adminToken, "enroll-tokens", "create", "--json"],
            environment: ["KONTOR_CA_FILE": caFile])
        guard result.status == 0 else {
            Issue.record("kontorctl over TLS: \(result.stderr)")
            return nil
        }
        return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["token"] as? String
    }
}

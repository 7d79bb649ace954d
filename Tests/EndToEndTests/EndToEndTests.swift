import Crypto
import Foundation
import KontorCLI
import KontorClient
import KontorCore
import Testing

@Suite("End to end: real kontor-server and kontorctl processes", .serialized)
struct EndToEndTests {
    let facts = DeviceFacts(hostname: "e2e-laptop", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "e2e-machine", agentVersion: "0.1.0")

    @Test("an operator mints a token, a device enrolls and checks in over HTTP, and kontorctl lists it with its last-seen time")
    func enrollAndCheckIn() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let op = try await server.adminToken(role: .operator)

        let created = try await server.ctl(op, ["enroll-tokens", "create", "--json"])
        #expect(created.status == 0, "\(created.stderr)")
        let token = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])["token"] as? String
        let enrollToken = try #require(token)

        let client = try DeviceClient(server: server.url)
        let key = Curve25519.Signing.PrivateKey()
        let enrolled = try await client.enroll(token: enrollToken, key: key, facts: facts, acceptedTermsVersion: "2026-1")
        let identity = DeviceIdentity(deviceId: enrolled.deviceId, privateKey: key, serverKey: DeviceKeys.publicKey(base64: enrolled.serverPublicKey)!)
        let first = try await client.checkin(CheckinRequest(appliedPolicyHash: nil, status: AgentReport(state: "ok"), facts: nil), identity: identity)
        #expect(first.body.result == "policy")
        let second = try await client.checkin(CheckinRequest(appliedPolicyHash: first.body.policyHash, status: nil, facts: nil), identity: identity)
        #expect(second.body.result == "unchanged")

        let listed = try await server.ctl(op, ["devices", "list", "--json"])
        #expect(listed.status == 0)
        let devices = try KontorJSON.decode([Device].self, from: Data(listed.stdout.utf8))
        #expect(devices.map(\.id) == [enrolled.deviceId])
        #expect(devices.first?.lastSeen != nil)
        #expect(devices.first?.facts.hostname == "e2e-laptop")

        let table = try await server.ctl(op, ["devices", "list"])
        #expect(table.stdout.contains("e2e-laptop"))

        // A SIGTERM flushes pending check-ins; after a restart the last-seen time is still there.
        #expect(server.stop() == 0)
        let restarted = try ServerProcess(dataDir: server.dataDir)
        try await restarted.start()
        defer { restarted.stop() }
        let after = try KontorJSON.decode([Device].self, from: Data(try await restarted.ctl(op, ["devices", "list", "--json"]).stdout.utf8))
        #expect(after.first?.lastSeen == devices.first?.lastSeen)
        #expect(after.first?.appliedPolicyHash == first.body.policyHash)

        // /metrics reports check-ins by result.
        _ = try await DeviceClient(server: restarted.url).checkin(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil), identity: identity)
        let metrics = String(decoding: try await plainGET(restarted.url + "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"kontor_checkins_total{result="policy"} 1"#), "\(metrics.prefix(2000))")
        #expect(metrics.contains("http_server_request_duration"), "\(metrics.prefix(2000))")
    }

    @Test("an auditor token cannot create anything, and kontorctl says why in one line")
    func auditorIsReadOnly() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let auditor = try await server.adminToken(role: .auditor)
        let attempts: [[String]] = [
            ["enroll-tokens", "create"], ["persons", "create", "--email", "a@example.org", "--name", "A"],
            ["admin-tokens", "create", "--name", "x", "--role", "admin"], ["settings", "set", "--checkin-interval", "30"],
        ]
        for attempt in attempts {
            let result = try await server.ctl(auditor, attempt)
            #expect(result.status != 0, "\(attempt) succeeded for an auditor")
            #expect(result.stderr.hasPrefix("kontorctl: forbidden"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        #expect(try await server.ctl(auditor, ["persons", "list"]).status == 0)
    }

    @Test("persons are created, shown and exported as CSV with kontorctl")
    func personsWithCtl() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let op = try await server.adminToken(role: .operator)
        #expect(try await server.ctl(op, ["persons", "create", "--email", "grace@example.org", "--name", "Grace Hopper", "--group", "office"]).status == 0)
        let shown = try await server.ctl(op, ["persons", "show", "grace@example.org"])
        #expect(shown.stdout.contains("Grace Hopper"))
        let csv = try await server.ctl(op, ["persons", "export", "--csv"])
        #expect(csv.stdout.contains("grace@example.org,Grace Hopper,office,active"))
        let missing = try await server.ctl(op, ["persons", "show", "nobody@example.org"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("not_found"))
    }

    @Test("kontorctl audit lists, verifies and exports the log, including the bootstrap token")
    func audit() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        #expect(try await server.ctl(admin, ["persons", "create", "--email", "dpo@example.org", "--name", "DPO"]).status == 0)
        let listed = try KontorJSON.decode([AuditEntry].self, from: Data(try await server.ctl(admin, ["audit", "list", "--json"]).stdout.utf8))
        #expect(listed.map(\.action) == ["api-token.created", "person.created"])
        #expect(listed.first?.actor == "system:kontor-server admin-token create")
        let verify = try await server.ctl(admin, ["audit", "verify"])
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("audit log intact: 2 entries"))
        let export = try await server.ctl(admin, ["audit", "export"])
        #expect(export.stdout.split(separator: "\n").count == 2)
        let byTarget = try await server.ctl(admin, ["audit", "list", "--target", "dpo@example.org"])
        #expect(byTarget.stdout.contains("person.created"))
    }

    @Test("kontorctl without a server says what to set")
    func ctlWithoutServer() async throws {
        let result = try await runCommand(Binaries.path("kontorctl"), ["devices", "list"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("KONTOR_SERVER"))
    }

    @Test("kontor-server refuses a bad configuration with a message naming the setting")
    func badConfig() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("server.yaml")
        try "port: 8080\nchekinInterval: 30\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try await runCommand(Binaries.path("kontor-server"), ["serve", "--config", file.path, "--data-dir", dir.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("server.yaml:2: unknown setting \"chekinInterval\""))
    }

    @Test("the server key and the database are created with mode 0600")
    func keyPermissions() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        for file in ["server-signing.key", "kontor.sqlite"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: server.dataDir.appendingPathComponent(file).path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
        }
    }

    @Test("connection options may stand before the subcommand")
    func normalize() {
        #expect(
            KontorCtl.normalize(["--server", "U", "--token", "T", "devices", "list", "--json"]) == [
                "devices", "list", "--json", "--server", "U", "--token", "T",
            ])
        #expect(KontorCtl.normalize(["devices", "list"]) == ["devices", "list"])
    }
}

/// Interoperability with the independent `http-message-signatures` implementation from PyPI. The test
/// command of the README installs it and sets KONTOR_INTEROP_PYTHON; CI always runs these.
@Suite(
    "RFC 9421 interoperability with http-message-signatures (PyPI)", .serialized,
    .enabled(
        if: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil,
        "set KONTOR_INTEROP_PYTHON to a Python with http-message-signatures and requests"))
struct InteropTests {
    var python: String { ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"]! }
    var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Interop/rfc9421_interop.py").path
    }

    @Test("kontor-server verifies requests signed by http-message-signatures, which verifies its replies")
    func pythonSignsKontorVerifies() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let op = try await server.adminToken(role: .operator)
        let created = try await server.ctl(op, ["enroll-tokens", "create", "--json"])
        let token = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["token"] as? String)
        let result = try await runCommand(python, [script, "live", server.url, token])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("7 passed, 0 failed"))
    }

    @Test("http-message-signatures verifies a request Kontor signed")
    func kontorSignsPythonVerifies() async throws {
        let key = Curve25519.Signing.PrivateKey()
        let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: "sha256:x", status: AgentReport(state: "ok"), facts: nil))
        let server = try ServerURL("https://kontor.example.org:8443")
        let (headers, _) = try DeviceClient.sign(method: "POST", server: server, path: DeviceAPI.checkinPath, body: body, key: key, now: Date())
        let spec: [String: Any] = [
            "method": "POST", "url": server.url(DeviceAPI.checkinPath), "headers": headers.map { [$0.0, $0.1] },
            "body": body.base64EncodedString(), "publicKey": DeviceKeys.base64(key.publicKey), "keyId": DeviceKeys.keyID(for: key.publicKey),
        ]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-signed-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: spec).write(to: file)
        let result = try await runCommand(python, [script, "verify", file.path])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("3 passed, 0 failed"))
    }
}

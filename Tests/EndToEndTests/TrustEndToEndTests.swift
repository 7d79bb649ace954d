import Crypto
import Foundation
import KontorClient
import KontorCore
import KontorSQLite
import Testing

/// What an attacker with the database file, or a work user naming a program, can do to what admins read.
@Suite("End to end: hostile text and a rewritten audit log, through real kontorctl processes", .serialized)
struct TrustEndToEndTests {
    /// A control or invisible character other than the line breaks kontorctl lays out.
    static func hidden(in text: String) -> [String] {
        text.unicodeScalars.filter { VisibleText.isHidden($0) && $0 != "\n" }.map { VisibleText.codePoint($0) }
    }

    @Test("kontorctl prints strings stored in the database before the fix (escape sequences, C1, a right-to-left override) only in visible form")
    func hostileStringsShownVisibly() async throws {
        let server = try ServerProcess()
        try await server.start()
        let admin = try await server.adminToken(role: .admin)
        #expect(try await server.ctl(admin, ["persons", "create", "--email", "ada@example.org", "--name", "Ada"]).status == 0)
        let created = try await server.ctl(admin, ["enroll-tokens", "create", "--person", "ada@example.org", "--json"])
        let token = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])["token"] as? String
        let facts = DeviceFacts(hostname: "ada-laptop", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "e2e-trust", agentVersion: "0.1.0")
        let enrolled = try await DeviceClient(server: server.url).enroll(
            token: try #require(token), key: Curve25519.Signing.PrivateKey(), facts: facts, acceptedTermsVersion: nil)
        #expect(server.stop() == 0)

        // Someone stored these before devices' text was checked (or wrote them into the file).
        let escape = "\u{1B}[2J\u{1B}]0;owned\u{07}\u{9B}31m"
        let store = try SQLiteStore(path: server.dataDir.appendingPathComponent("kontor.sqlite").path)
        var hostile = facts
        hostile.hostname = "ada\(escape)-\u{202E}potpal"
        let status = AgentReport(state: "degraded", message: "cannot read /home/work-ada/\(escape)")
        let compliance = ComplianceReport(violations: [AppViolation(executable: "/home/work-ada/\(escape)miner", pid: 7, action: "reported", at: Date())])
        func json<T: Encodable>(_ value: T) throws -> String {
            String(decoding: try KontorJSON.encode(value), as: UTF8.self).replacingOccurrences(of: "'", with: "''")
        }
        try await store.tamper(
            sql:
                "UPDATE devices SET facts = '\(try json(hostile))', agent_status = '\(try json(status))', compliance = '\(try json(compliance))' WHERE id = '\(enrolled.deviceId)'"
        )
        try await store.appendEvents(deviceId: enrolled.deviceId, [DeviceEvent(at: Date(), kind: "quiet.override", detail: "by \(escape)")])
        _ = try await store.appendAudit(
            at: Date(), actor: "device:\(enrolled.deviceId)", action: "device.quiet-override", target: enrolled.deviceId, detail: ["detail": "by \(escape)"])

        let restarted = try ServerProcess(dataDir: server.dataDir)
        try await restarted.start()
        defer { restarted.stop() }
        let runs: [[String]] = [
            ["devices", "show", enrolled.deviceId], ["devices", "list"], ["audit", "list"], ["persons", "show", "ada@example.org"],
            ["devices", "list", "--json"], ["audit", "list", "--json"], ["audit", "export"],
        ]
        for arguments in runs {
            let result = try await restarted.ctl(admin, arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(Self.hidden(in: result.stdout).isEmpty, "kontorctl \(arguments.joined(separator: " ")) printed \(Self.hidden(in: result.stdout))")
            #expect(Self.hidden(in: result.stderr).isEmpty)
        }
        let shown = try await restarted.ctl(admin, ["devices", "show", enrolled.deviceId]).stdout
        #expect(shown.contains(#"cannot read /home/work-ada/\x1B[2J\x1B]0;owned\x07\x9B31m"#))
        #expect(shown.contains(#"\u{202E}potpal"#))
        // JSON stays valid and carries the stored value exactly.
        let listed = try KontorJSON.decode([Device].self, from: Data(try await restarted.ctl(admin, ["devices", "list", "--json"]).stdout.utf8))
        #expect(listed.first?.facts.hostname == hostile.hostname)
    }

    @Test("audit verify --checkpoint names the checkpoint a rewritten history no longer matches, though the chain alone verifies; a forged one is refused")
    func rewrittenHistory() async throws {
        let server = try ServerProcess()
        let serverFile = server.dataDir.appendingPathComponent("checkpoints.jsonl").path
        let config = server.dataDir.appendingPathComponent("server.yaml")
        try "auditCheckpointFile: \(serverFile)\n".write(to: config, atomically: true, encoding: .utf8)
        server.extraArguments = ["--config", config.path]
        try await server.start()
        let admin = try await server.adminToken(role: .admin)
        for name in ["ada", "bo", "cy"] {
            #expect(try await server.ctl(admin, ["persons", "create", "--email", "\(name)@example.org", "--name", name]).status == 0)
        }
        let mine = server.dataDir.appendingPathComponent("mine.jsonl").path
        let signed = try await server.ctl(admin, ["audit", "checkpoint", "--output", mine])
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(signed.stdout.contains("written to file \(serverFile)"))
        #expect(try await server.ctl(admin, ["audit", "verify", "--checkpoint", mine, "--checkpoint", serverFile]).status == 0)
        #expect(try await server.ctl(admin, ["persons", "create", "--email", "di@example.org", "--name", "Di"]).status == 0)
        #expect(server.stop() == 0)

        // Whoever can write the database file rewrites entry 2 and recomputes every hash after it.
        let store = try SQLiteStore(path: server.dataDir.appendingPathComponent("kontor.sqlite").path)
        var entries = try await store.auditEntries(since: nil, target: nil)
        try await store.tamper(sql: "DROP TRIGGER audit_log_no_update")
        entries[1].target = "nobody@example.org"
        // Thorough: the new value gets a salt and a commitment of its own, so the entry checks on its own.
        let salt = String(repeating: "5a", count: 16)
        entries[1].salts?["target"] = salt
        entries[1].commitments?["target"] = AuditChain.commitment("nobody@example.org", salt: salt)
        var previous = AuditChain.genesis
        for i in entries.indices {
            entries[i].previousHash = previous
            entries[i].hash = AuditChain.hash(of: entries[i])
            previous = entries[i].hash
            let json = { (value: [String: String]?) in String(decoding: try KontorJSON.encode(value ?? [:]), as: UTF8.self) }
            try await store.tamper(
                sql: """
                    UPDATE audit_log SET target = \(entries[i].target.map { "'\($0)'" } ?? "NULL"), previous_hash = '\(entries[i].previousHash)',
                    hash = '\(entries[i].hash)', commitments = '\(try json(entries[i].commitments))', salts = '\(try json(entries[i].salts))'
                    WHERE seq = \(entries[i].seq)
                    """)
        }

        let restarted = try ServerProcess(dataDir: server.dataDir)
        restarted.extraArguments = server.extraArguments
        try await restarted.start()
        defer { restarted.stop() }
        let plain = try await restarted.ctl(admin, ["audit", "verify"])
        #expect(plain.status == 0)
        #expect(plain.stdout.contains("audit log intact"))
        for file in [mine, serverFile] {
            let checked = try await restarted.ctl(admin, ["audit", "verify", "--checkpoint", file])
            #expect(checked.status == 1)
            #expect(checked.stdout.contains("checkpoint \(file):1 (entry 4,"), "\(checked.stdout)")
            #expect(checked.stdout.contains("DOES NOT MATCH: entry 4 now has hash"), "\(checked.stdout)")
        }

        // A checkpoint made up without the server key.
        var forged = try KontorJSON.decode(AuditCheckpoint.self, from: Data(try String(contentsOfFile: mine, encoding: .utf8).utf8))
        forged.head = entries[3].hash
        let forgedFile = server.dataDir.appendingPathComponent("forged.jsonl").path
        try (forged.jsonLine + "\n").write(toFile: forgedFile, atomically: true, encoding: .utf8)
        let refused = try await restarted.ctl(admin, ["audit", "verify", "--checkpoint", forgedFile])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("signature does not verify"))
        // Not a checkpoint file: said in one line naming the file and line.
        let junk = server.dataDir.appendingPathComponent("junk.txt").path
        try "hello\n".write(toFile: junk, atomically: true, encoding: .utf8)
        let bad = try await restarted.ctl(admin, ["audit", "verify", "--checkpoint", junk])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("\(junk):1: not an audit checkpoint"))
    }
}

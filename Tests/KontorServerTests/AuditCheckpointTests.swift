import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KontorCore
import KontorSQLite
import KontorStore
import Logging
import NIOCore
import Synchronization
import Testing

@testable import KontorServer

/// A fresh folder for files a test writes.
private func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-checkpoints-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// Plays someone with write access to the SQLite file: changes one entry, then recomputes every hash
/// of the chain so that it verifies again.
func rewriteAuditHistory(file: String, seq: Int, target: String) async throws {
    let attacker = try SQLiteStore(path: file)
    var entries = try await attacker.auditEntries(since: nil, target: nil)
    try await attacker.tamper(sql: "DROP TRIGGER IF EXISTS audit_log_no_update")
    entries[seq - 1].target = target
    // A thorough attacker commits the new value too (salt and commitment) and re-chains everything after it.
    let salt = String(repeating: "ab", count: 16)
    entries[seq - 1].salts?["target"] = salt
    entries[seq - 1].commitments?["target"] = AuditChain.commitment(target, salt: salt)
    var previous = AuditChain.genesis
    for i in entries.indices {
        entries[i].previousHash = previous
        entries[i].hash = AuditChain.hash(of: entries[i])
        previous = entries[i].hash
        let e = entries[i]
        let targetSQL = e.target.map { "'\($0.replacingOccurrences(of: "'", with: "''"))'" } ?? "NULL"
        let json = { (value: [String: String]?) in String(decoding: try KontorJSON.encode(value ?? [:]), as: UTF8.self) }
        try await attacker.tamper(
            sql: """
                UPDATE audit_log SET target = \(targetSQL), previous_hash = '\(e.previousHash)', hash = '\(e.hash)',
                commitments = '\(try json(e.commitments))', salts = '\(try json(e.salts))' WHERE seq = \(e.seq)
                """)
    }
}

@Suite("Signed audit checkpoints")
struct AuditCheckpointAPITests {
    struct Signed: Decodable {
        struct Sink: Decodable {
            var sink: String
            var ok: Bool
            var error: String?
        }
        var checkpoint: AuditCheckpoint
        var sinks: [Sink]
    }

    @Test("only an admin has a checkpoint signed; it goes to the checkpoint file (0600), comes back, and is in the audit log")
    func signOnDemand() async throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("checkpoints.jsonl").path
        let harness = try await Harness { $0.auditCheckpointFile = file }
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            #expect(
                try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#).status == .created)
            for role in [Role.auditor, .operator] {
                let refused = try await client.api(.post, "/api/v1/audit/checkpoints", token: try await harness.token(role))
                #expect(refused.status == .forbidden, "\(role)")
            }
            #expect(!FileManager.default.fileExists(atPath: file))
            let response = try await client.api(.post, "/api/v1/audit/checkpoints", token: admin)
            #expect(response.status == .created)
            let signed = try response.decode(Signed.self)
            #expect(signed.checkpoint.seq == 1)
            #expect(signed.checkpoint.verifies(with: harness.services.serverKey.publicKey))
            #expect(signed.sinks.map(\.sink) == ["file \(file)"] && signed.sinks.allSatisfy(\.ok))

            let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 1)
            #expect(try KontorJSON.decode(AuditCheckpoint.self, from: Data(lines[0].utf8)) == signed.checkpoint)
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
            #expect(mode == 0o600)

            let entries = try await harness.store.auditEntries(since: nil, target: nil)
            let recorded = try #require(entries.last)
            #expect(
                recorded.action == "audit.checkpoint" && recorded.actor == "token:test-admin (automation)" && recorded.target == "audit-log"
                    && recorded.detail?["seq"] == "1")
            #expect(recorded.detail?["signature"] == signed.checkpoint.signature)
            // The next one covers the entry that recorded the first.
            let next = try await client.api(.post, "/api/v1/audit/checkpoints", token: admin).decode(Signed.self)
            #expect(next.checkpoint.seq == recorded.seq && next.checkpoint.head == recorded.hash)
        }
    }

    @Test(
        "a history rewritten in the SQLite file with every hash recomputed passes the chain check, but not the checkpoint; no new checkpoint is signed over it")
    func rewriteDetected() async throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("kontor.sqlite").path
        let harness = try await Harness(store: try SQLiteStore(path: file))
        let admin = try await harness.token(.admin)
        let auditor = try await harness.token(.auditor)
        try await harness.test { client async throws in
            for name in ["ada", "bo", "cy"] {
                _ = try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "\#(name)@example.org", "displayName": "\#(name)"}"#)
            }
            let checkpoint = try await client.api(.post, "/api/v1/audit/checkpoints", token: admin).decode(Signed.self).checkpoint
            #expect(checkpoint.seq == 3)
            _ = try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "di@example.org", "displayName": "Di"}"#)

            try await rewriteAuditHistory(file: file, seq: 2, target: "nobody@example.org")

            let chain = try await client.api(.get, "/api/v1/audit/verify", token: auditor).decode(AuditVerification.self)
            #expect(chain.ok, "the rewrite recomputed every hash, so the chain alone verifies")
            let body = String(decoding: try KontorJSON.encode(["checkpoints": [checkpoint]]), as: UTF8.self)
            let checked = try await client.api(.post, "/api/v1/audit/verify", token: auditor, json: body)
            #expect(checked.status == .ok)
            let result = try checked.decode(AuditVerification.self)
            #expect(result.ok)
            let check = try #require(result.checkpoints?.first)
            #expect(!check.ok && check.seq == 3)
            #expect(check.problem?.contains("entry 3 now has hash") == true)
            #expect(check.problem?.contains("rewritten") == true)

            // The server's own signature is not put under the rewritten log.
            let refused = try await client.api(.post, "/api/v1/audit/checkpoints", token: admin)
            #expect(refused.status == .conflict)
            #expect(refused.errorMessage?.contains("does not verify") == true)
        }
    }

    @Test("a forged checkpoint, one of another server and one beyond the end of the log are each named")
    func forgedRefused() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            for name in ["ada", "bo"] {
                _ = try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "\#(name)@example.org", "displayName": "\#(name)"}"#)
            }
            let real = try await client.api(.post, "/api/v1/audit/checkpoints", token: admin).decode(Signed.self).checkpoint
            var altered = real
            altered.seq = 1
            altered.head = try #require(try await harness.store.auditEntries(since: nil, target: nil).first).hash
            let stranger = try AuditCheckpoint.sign(seq: 2, head: real.head, at: harness.clock.now, key: Curve25519.Signing.PrivateKey())
            let beyond = try AuditCheckpoint.sign(seq: 99, head: real.head, at: harness.clock.now, key: harness.services.serverKey.privateKey)
            let body = String(decoding: try KontorJSON.encode(["checkpoints": [real, altered, stranger, beyond]]), as: UTF8.self)
            let result = try await client.api(.post, "/api/v1/audit/verify", token: admin, json: body).decode(AuditVerification.self)
            let checks = try #require(result.checkpoints)
            #expect(checks.map(\.ok) == [true, false, false, false])
            #expect(checks[1].problem?.contains("signature does not verify") == true)
            #expect(checks[2].problem?.contains("not with this server's key") == true)
            #expect(checks[3].problem?.contains("the log ends at entry") == true)
            // Bad input is a 400 that names what is wrong.
            let bad = try await client.api(.post, "/api/v1/audit/verify", token: admin, json: #"{"checkpoints": [{"seq": "x"}]}"#)
            #expect(bad.status == .badRequest)
        }
    }

    @Test("the scheduler signs only when the log grew; an empty log gets none")
    func onlyWhenGrown() async throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("checkpoints.jsonl").path
        let harness = try await Harness { $0.auditCheckpointFile = file }
        let checkpointer = harness.services.checkpointer
        #expect(try await checkpointer.checkpoint(always: false) == nil)
        _ = try await harness.services.audit.record("system", "test.one", target: nil)
        #expect(try await checkpointer.checkpoint(always: false)?.0.seq == 1)
        #expect(try await checkpointer.checkpoint(always: false) == nil)
        _ = try await harness.services.audit.record("system", "test.two", target: nil)
        #expect(try await checkpointer.checkpoint(always: false)?.0.seq == 2)
        #expect(try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").count == 2)
    }

    @Test("a webhook sink receives each checkpoint as JSON")
    func webhook() async throws {
        final class Inbox: Sendable { let bodies = Mutex<[Data]>([]) }
        let received = Inbox()
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 64 * 1024)
            received.bodies.withLock { $0.append(Data(buffer: body)) }
            return .noContent
        }
        let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await receiver.test(.live) { hook async throws in
            let port = try #require(hook.port)
            let harness = try await Harness { $0.auditCheckpointWebhook = "http://127.0.0.1:\(port)/hook" }
            _ = try await harness.services.audit.record("system", "test.one", target: nil)
            let (checkpoint, sinks) = try #require(try await harness.services.checkpointer.checkpoint(always: true))
            #expect(sinks.map(\.sink) == ["webhook http://127.0.0.1:\(port)"] && sinks.allSatisfy(\.ok))
            let bodies = received.bodies.withLock { $0 }
            #expect(bodies.count == 1)
            #expect(try KontorJSON.decode(AuditCheckpoint.self, from: bodies[0]) == checkpoint)
        }
    }

    @Test("a webhook that cannot be reached is reported without its secret path, and the checkpoint still goes to the other sinks")
    func webhookDown() async throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("checkpoints.jsonl").path
        let harness = try await Harness()
        // Port 9 on loopback (discard) is not listened on here: the connection is refused (and retried until the timeout).
        let checkpointer = AuditCheckpointer(
            store: harness.store, clock: harness.clock.wall, key: harness.services.serverKey,
            sinks: [
                FileCheckpointSink(path: file, mode: 0o600),
                WebhookCheckpointSink(url: "http://127.0.0.1:9/hook/s3cret-path?key=s3cret", http: .shared, timeout: .seconds(1)),
            ], logger: Logger(label: "test"))
        _ = try await harness.services.audit.record("system", "test.one", target: nil)
        let (_, sinks) = try #require(try await checkpointer.checkpoint(always: true))
        #expect(sinks.map(\.ok) == [true, false])
        #expect(sinks[1].sink == "webhook http://127.0.0.1:9")
        #expect(!(sinks[1].error ?? "").contains("s3cret"))
        #expect(try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").count == 1)
    }

    @Test("a checkpoint file that others may write or read stops the server with a message naming it")
    func fileModeChecked() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("checkpoints.jsonl").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o666]))
        let sink = FileCheckpointSink(path: path, mode: 0o600)
        #expect(throws: ConfigError.self) { try sink.check() }
        do { try sink.check() } catch { #expect("\(error)".contains("chmod 600 \(path)")) }
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        try FileCheckpointSink(path: path, mode: 0o640).check()
        let link = dir.appendingPathComponent("link.jsonl").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        #expect(throws: ConfigError.self) { try FileCheckpointSink(path: link, mode: 0o640).check() }
    }

    @Test(
        "checkpoint settings are checked and name the setting",
        arguments: [
            ("auditCheckpointInterval", "30"), ("auditCheckpointInterval", "x"), ("auditCheckpointFile", "relative.jsonl"), ("auditCheckpointFileMode", "0644"),
            ("auditCheckpointSyslog", "maybe"), ("auditCheckpointWebhook", "ftp://example.org/x"), ("offboardingProfile", "not a name"),
        ])
    func settings(key: String, value: String) {
        var config = ServerConfig()
        #expect(throws: ConfigError.self) { try config.set(key, value, source: "test.yaml:3") }
        do { try config.set(key, value, source: "test.yaml:3") } catch { #expect("\(error)".contains("test.yaml:3: \(key)")) }
    }

    @Test("checkpoint settings from YAML and the environment")
    func settingsApplied() throws {
        var config = ServerConfig()
        try config.apply(
            yaml:
                "auditCheckpointInterval: 600\nauditCheckpointFile: /var/log/kontor/checkpoints.jsonl\nauditCheckpointFileMode: \"0640\"\nauditCheckpointSyslog: true\n",
            file: "server.yaml")
        try config.apply(environment: [
            "KONTOR_AUDIT_CHECKPOINT_WEBHOOK": "https://notary.example.org/kontor?key=secret", "KONTOR_OFFBOARDING_PROFILE": "leaving",
        ])
        #expect(config.auditCheckpointInterval == 600)
        #expect(config.auditCheckpointFileMode == 0o640)
        #expect(config.auditCheckpointSyslog)
        #expect(config.offboardingProfile == "leaving")
        let sinks = config.checkpointSinks()
        #expect(sinks.map(\.name) == ["file /var/log/kontor/checkpoints.jsonl", "syslog", "webhook https://notary.example.org"])
    }
}

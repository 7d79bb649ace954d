import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KontorClient
import KontorCore
import KontorSQLite
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import KontorAgent
@testable import KontorServer

/// How the transport between agent and server misbehaves.
enum Fault: String, Sendable, CaseIterable {
    case none
    /// Changes the policy in the signed reply.
    case tamperPolicy
    /// Re-signs the reply with a key the agent never pinned.
    case wrongKey
    /// Cuts the reply body in half.
    case truncate
    /// Replaces the reply with an HTML page.
    case notJSON
    /// The server fails with 500 and no JSON.
    case serverError
    /// The connection fails.
    case unreachable
    /// Strips the signature from the reply.
    case unsigned
}

/// A transport that passes requests to the real server and damages the replies on demand.
final class FaultyTransport: HTTPTransport {
    let inner: any HTTPTransport
    private let current = Mutex(Fault.none)

    init(inner: any HTTPTransport) { self.inner = inner }

    var fault: Fault {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }

    func send(method: HTTPMethod, url: String, headers: [(String, String)], body: Data?, limit: Int, timeout: TimeAmount) async throws -> HTTPExchange {
        let fault = self.fault
        if fault == .unreachable { throw ClientError.transport("connection refused") }
        var reply = try await inner.send(method: method, url: url, headers: headers, body: body, limit: limit, timeout: timeout)
        switch fault {
        case .none, .unreachable: break
        case .tamperPolicy:
            let text = String(decoding: reply.body, as: UTF8.self).replacingOccurrences(of: "\"checkinInterval\":120", with: "\"checkinInterval\":99999")
            reply.body = Data(text.utf8)
        case .wrongKey:
            let (input, signature) = try HTTPMessageSignatures.sign(
                SignatureMessage(status: reply.status, headers: reply.headers),
                parameters: SignatureParameters(components: [SignatureComponent("@status"), SignatureComponent("content-digest")], created: 1, keyID: "evil"),
                key: Curve25519.Signing.PrivateKey())
            reply.headers =
                reply.headers.filter { !["signature", "signature-input"].contains($0.0.lowercased()) } + [("Signature-Input", input), ("Signature", signature)]
        case .truncate: reply.body = reply.body.prefix(reply.body.count / 2)
        case .notJSON: reply.body = Data("<html>proxy error</html>".utf8)
        case .serverError: reply = HTTPExchange(status: 500, headers: [("Content-Type", "text/plain")], body: Data("oops".utf8))
        case .unsigned: reply.headers = reply.headers.filter { !["signature", "signature-input"].contains($0.0.lowercased()) }
        }
        return reply
    }
}

/// A real Kontor server on a loopback port (HummingbirdTesting .live) and an agent under a scratch root.
struct AgentWorld {
    let services: Services
    let root: String
    var paths: AgentPaths { AgentPaths(root: root) }

    init(configure: (inout ServerConfig) -> Void = { _ in }) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-agent-root-\(UUID().uuidString)").path
        var config = ServerConfig()
        config.enrollRatePerMinute = 0
        // The server's own files (archives) beside the agent's root, never in the default /var/lib/kontor.
        config.dataDir = root + "-server"
        configure(&config)
        services = Services(config: config, store: try SQLiteStore.inMemory(), clock: .system, serverKey: ServerSigningKey(privateKey: .init()), registry: nil)
    }

    func agent(
        _ transport: any HTTPTransport, config: AgentConfig = AgentConfig(), clock: WallClock = .system, boot: BootClock = .system, hook: WipeHook = .none
    ) -> Agent {
        var logger = Logger(label: "agent-test")
        logger.logLevel = .critical
        return Agent(
            paths: paths, config: config, transport: transport, clock: clock, logger: logger,
            enforcer: Enforcer(paths: paths, rules: config.containerRules(for: paths), deviceZone: .gmt), boot: boot,
            wipeHook: hook)
    }

    /// Runs `body` with the server's base URL and an enrollment token (for `person`, of `ownership`, when given).
    func live(person: String? = nil, ownership: String? = nil, _ body: @Sendable (String, String) async throws -> Void) async throws {
        var logger = Logger(label: "server-test")
        logger.logLevel = .critical
        let app = Application(router: buildRouter(services), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        let (_, token) = try await services.tokens.create(name: "t", role: .operator)
        _ = token
        try await app.test(.live) { client in
            let created = try await services.enrollment.createToken(
                .init(person: person, group: nil, uses: 5, expiresIn: 3600, ownership: ownership), directory: services.directory,
                createdBy: Principal.token(APIToken(id: "t", name: "test", role: .operator, createdAt: Date(timeIntervalSince1970: 0))))
            try await body("http://127.0.0.1:\(client.port!)", created.token)
        }
    }
}

@Suite("Agent against a real server", .serialized)
struct AgentAgainstServerTests {
    @Test("enroll stores a 0600 key and the pinned server key; a second enroll needs --force and makes a new device")
    func enrollment() async throws {
        let world = try AgentWorld()
        try await world.live { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: "2026-1", force: false)
            #expect(identity.serverPublicKey == DeviceKeys.base64(world.services.serverKey.publicKey))
            #expect((try FileManager.default.attributesOfItem(atPath: world.paths.keyFile)[.posixPermissions] as? Int) == 0o600)
            await #expect(throws: AgentError.self) { try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false) }
            let again = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: true)
            #expect(again.deviceId != identity.deviceId)
            #expect(again.predecessorId == identity.deviceId)
        }
    }

    @Test("the running agent's check-in is a long poll: held by the server, ended by a queued command, and the agent is told to come straight back")
    func longPoll() async throws {
        let world = try AgentWorld()
        try await world.live { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            guard case .success(_, _, let plain) = try await agent.cycle() else {
                Issue.record("first check-in failed")
                return
            }
            #expect(!plain, "run --once does not long-poll")
            async let held = agent.cycle(longPoll: true)
            while world.services.longPolls.count == 0 { await Task.yield() }
            _ = try await world.services.issueCommand(
                deviceId: identity.deviceId, type: .sync, reason: nil, expiresIn: nil,
                by: Principal.token(APIToken(id: "t", name: "test", role: .operator, createdAt: Date(timeIntervalSince1970: 0))))
            guard case .success(_, _, let longPoll) = try await held else {
                Issue.record("the held check-in failed")
                return
            }
            #expect(longPoll)
            let sync = try await world.services.store.commands(deviceId: identity.deviceId).first
            #expect(sync?.type == .sync)
            #expect(sync?.state == .succeeded, "the command arrived through the held check-in and was acknowledged at once")
        }
    }

    @Test("the posture read under the agent's root reaches the server at enrollment, and status shows the same")
    func posture() async throws {
        let world = try AgentWorld()
        let tree = FakeRoot(path: world.root)
        try tree.mountRoot("253:0", source: "/dev/mapper/cryptroot")
        try tree.blockDevice("253:0", name: "dm-0", folder: "/sys/devices/virtual/block/dm-0", dmUUID: "CRYPT-LUKS2-1-cryptroot", dmName: "cryptroot")
        try tree.file("/run/reboot-required", "")
        try await world.live { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            let reported = try #require(try await world.services.directory.device(identity.deviceId).facts.posture)
            #expect(reported.diskEncryption == DiskEncryption(.encrypted, "LUKS2 on dm-0 (cryptroot)"))
            #expect(reported.secureBoot.state == .notUEFI)
            #expect(reported.updates.rebootRequired)
            #expect(try await agent.cycle() == .success(interval: 60, policyChanged: true))
            let status = try AgentStatusReport.read(agent.store)
            // The hardening is measured off the check-in; everything read from files is the same.
            #expect(status.posture?.diskEncryption == reported.diskEncryption)
            #expect(status.posture?.secureBoot == reported.secureBoot)
            #expect(status.posture?.updates == reported.updates)
            #expect(status.text(now: Date()).contains("  - disk encryption: the system disk is encrypted (LUKS2 on dm-0 (cryptroot))"))
        }
    }

    @Test("a cycle checks in, stores the verified policy, and the server sees facts and last-seen")
    func cycle() async throws {
        let world = try AgentWorld()
        try await world.live { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            #expect(try await agent.cycle() == .success(interval: 60, policyChanged: true))
            #expect(try await agent.cycle() == .success(interval: 60, policyChanged: false))
            let device = try await world.services.directory.device(identity.deviceId)
            #expect(device.lastSeen != nil)
            #expect(device.appliedPolicyHash == (try agent.store.policy())?.hash)
            #expect(device.agentStatus?.state == "ok")
        }
    }

    @Test(
        "a hostile or broken reply never replaces the last verified policy, and is reported at the next check-in",
        arguments: Fault.allCases.filter { $0 != .none })
    func hostile(fault: Fault) async throws {
        let world = try AgentWorld()
        try await world.live { url, token in
            let transport = FaultyTransport(inner: HTTP1Transport())
            let agent = world.agent(transport)
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            #expect(try await agent.cycle() == .success(interval: 60, policyChanged: true))
            let verified = try #require(try agent.store.policy())

            // The admin changes the policy: the next reply carries it, so a tampered one would matter.
            try await world.services.policies.setCheckinInterval(120)

            transport.fault = fault
            let outcome = try await agent.cycle()
            guard case .failure = outcome else {
                Issue.record("\(fault) was accepted: \(outcome)")
                return
            }
            #expect(try agent.store.policy() == verified)
            #expect(try agent.store.state().lastError != nil)

            transport.fault = .none
            #expect(try await agent.cycle() == .success(interval: 120, policyChanged: true))
            let device = try await world.services.directory.device(identity.deviceId)
            #expect(device.agentStatus?.state == "degraded")
            #expect(try agent.store.state().lastError == nil)
        }
    }

    @Test("offline, the agent keeps the last verified policy and says why in its status")
    func offline() async throws {
        let world = try AgentWorld()
        try await world.live { url, token in
            let agent = world.agent(HTTP1Transport())
            _ = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
        }
        let stored = try #require(try AgentStore(paths: world.paths).policy())
        // The server is gone now.
        var config = AgentConfig()
        config.requestTimeout = 2
        let agent = world.agent(HTTP1Transport(), config: config)
        guard case .failure(let reason, _) = try await agent.cycle() else {
            Issue.record("checked in without a server")
            return
        }
        #expect(reason.contains("cannot reach the server"))
        #expect(try agent.store.policy() == stored)
        let status = try AgentStatusReport.read(agent.store)
        #expect(status.lastError == reason)
        #expect(status.policyHash == stored.hash)
        #expect(status.text(now: Date()).contains("What this agent sends to the server"))
        // The jitter it states is the schedule's (docs/agent.md, docs/policies.md).
        #expect(status.text(now: Date()).contains("seconds (±10 %; ±20 % on retries after a failure)"))
    }

    @Test("a reply larger than the limit is refused unread")
    func hugeReply() async throws {
        let router = Router()
        router.post("/api/v1/checkin") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: UInt8(ascii: "x"), count: 8 << 20))) }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let key = Curve25519.Signing.PrivateKey()
            let device = try DeviceClient(server: "http://127.0.0.1:\(client.port!)")
            await #expect(throws: ClientError.badResponse("body larger than 4194304 bytes")) {
                try await device.checkin(
                    CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil),
                    identity: DeviceIdentity(deviceId: "d", privateKey: key, serverKey: key.publicKey))
            }
        }
    }

    @Test("a server that does not answer in time is a failure, not a hang")
    func timeout() async throws {
        let router = Router()
        router.post("/api/v1/checkin") { _, _ in
            try await Task.sleep(for: .seconds(2))
            return Response(status: .ok)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let key = Curve25519.Signing.PrivateKey()
            var device = try DeviceClient(server: "http://127.0.0.1:\(client.port!)")
            device.timeout = .milliseconds(300)
            await #expect(throws: ClientError.self) {
                try await device.checkin(
                    CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil),
                    identity: DeviceIdentity(deviceId: "d", privateKey: key, serverKey: key.publicKey))
            }
        }
    }

    @Test("a 429 with Retry-After becomes a wait the schedule honours")
    func retryAfter() async throws {
        let router = Router()
        router.post("/api/v1/checkin") { _, _ in Response(status: .tooManyRequests, headers: [.retryAfter: "120"]) }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let key = Curve25519.Signing.PrivateKey()
            let device = try DeviceClient(server: "http://127.0.0.1:\(client.port!)")
            await #expect(throws: ClientError.retryLater(seconds: 120, status: 429)) {
                try await device.checkin(
                    CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil),
                    identity: DeviceIdentity(deviceId: "d", privateKey: key, serverKey: key.publicKey))
            }
        }
    }
}

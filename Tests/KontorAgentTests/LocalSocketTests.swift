import Crypto
import Foundation
import KontorClient
import KontorCore
import KontorTestSupport
import Logging
import Synchronization
import Testing

@testable import KontorAgent

#if canImport(Glibc)
    import Glibc
#endif

/// The built `kontor-agent`, beside the test bundle.
let agentBinary: String? = {
    var candidate = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<4 {
        let path = candidate.appendingPathComponent("kontor-agent").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
        candidate.deleteLastPathComponent()
    }
    return nil
}()

/// An enrolled device in a scratch root whose daemon side answers on the local socket, in this process.
/// `ada` (UID 65534) is the person named at enrollment, `work-ada` the work account (with the first ID of
/// the block a scratch root gets).
final class SocketFixture {
    static let person: UInt32 = 65534
    static let stranger: UInt32 = 65533
    static let termsText = "Work stays on the work account.\n"
    let deviceKey = Curve25519.Signing.PrivateKey()

    let paths: AgentPaths
    let workUID: UInt32
    let agent: Agent
    let server: LocalSocketServer
    /// The UIDs the daemon side was asked by, as the kernel told it.
    let askedBy = AskedBy()

    init(limits: LocalSocketServer.Limits = .init(), allowOverride: Bool = true) throws {
        // Short (a socket path holds 107 bytes) and open to the other UIDs the clients run as.
        let root = "/tmp/ks-\(UUID().uuidString.prefix(8))"
        paths = AgentPaths(root: root)
        let workUID = ContainerRules.defaults(for: paths).ids.lowerBound
        self.workUID = workUID
        for dir in [root, root + "/run", root + "/etc"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chmod(dir, 0o755)
        }
        try Data(
            "root:x:0:0:root:/root:/bin/sh\nada:x:\(Self.person):\(Self.person):Ada:/home/ada:/bin/sh\nwork-ada:x:\(workUID):\(workUID):Kontor work container:/home/work-ada:/bin/sh\n"
                .utf8
        ).write(to: URL(fileURLWithPath: root + "/etc/passwd"))
        let store = AgentStore(paths: paths)
        try store.save(
            AgentIdentity(
                server: "https://kontor.example.org", deviceId: "d-socket", keyId: "k", serverPublicKey: "AAAA", serverKeyId: "s", enrolledAt: Date(),
                acceptedTermsVersion: nil, predecessorId: nil, personLogin: "ada"))
        var state = AgentState()
        state.lastError = "/var/lib/kontor/agent/policy.json: unreadable (secret detail)"
        state.report("rejected a server reply: /etc/kontor/private-ca.pem")
        try store.save(state)
        var weekly: [String: [String]] = [:]
        for day in QuietHoursPolicy.weekdays { weekly[day] = ["all"] }
        let quiet = QuietHoursPolicy(timeZone: "UTC", weekly: weekly, allowUserOverride: allowOverride)
        var policy = EffectivePolicy(checkinInterval: 60, usageTermsVersion: "2026-12", quietHours: quiet)
        let terms = UsageTerms(version: "2026-12", text: Self.termsText, undertaking: nil, graceSeconds: 0, publishedAt: Date(), publishedBy: nil)
        policy.terms = terms.requirement(personId: "p-ada", decision: nil)
        try store.save(StoredPolicy(hash: "h-socket", policy: policy, receivedAt: Date()))
        try AtomicFile.write(try KontorJSON.encode(terms), to: paths.termsFile, mode: 0o644)
        try store.save(key: deviceKey)
        let record = ContainerRecord(
            account: WorkAccount(name: "work-ada", uid: workUID, gid: workUID, home: "/home/work-ada", createdAt: Date()))
        try AtomicFile.write(try KontorJSON.encode(record), to: paths.containerFile)
        var logger = Logger(label: "socket-test")
        logger.logLevel = .critical
        let agent = Agent(
            paths: paths, config: AgentConfig(), transport: HTTP1Transport(), logger: logger,
            enforcer: Enforcer(paths: paths, freezer: RecordingFreezer(), deviceZone: .gmt))
        self.agent = agent
        let service = LocalService(agent: agent)
        let asked = askedBy
        server = try LocalSocketServer.start(path: paths.localSocket, limits: limits, logger: logger) { request, peer in
            asked.add(peer.uid)
            return service.answer(request, from: peer)
        }
    }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(atPath: paths.root)
    }

    /// Runs the real `kontor-agent` with `arguments` (and `--root`) as `uid`: through setpriv for anyone but root.
    func agent(as uid: UInt32, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(agentBinary)
        let process = Process()
        if uid == 0 {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments + ["--root", paths.root]
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--", binary] + arguments + ["--root", paths.root]
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitForExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    func status(as uid: UInt32) throws -> AgentStatusReport {
        let run = try agent(as: uid, ["status", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        return try KontorJSON.decode(AgentStatusReport.self, from: Data(run.stdout.utf8))
    }
}

/// The UIDs a test server was asked by.
final class AskedBy: Sendable {
    private let uids = Mutex<[UInt32]>([])
    func add(_ uid: UInt32) { uids.withLock { $0.append(uid) } }
    var all: [UInt32] { uids.withLock { $0 } }
}

/// A raw connection to `path`: sends `bytes` (then shuts its side when `finish`) and reads until the server closes.
func exchange(_ path: String, _ bytes: [UInt8], finish: Bool = false) throws -> String {
    let connection = try RawConnection(path)
    LocalSocket.sendAll(connection.fd, bytes)
    if finish { shutdown(connection.fd, Int32(SHUT_WR)) }
    return connection.readAll()
}

/// A connected client socket, closed on deinit; reads give up after 20 s so a broken server fails the test.
final class RawConnection {
    let fd: Int32

    init(_ path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        LocalSocket.setTimeout(fd, SO_RCVTIMEO, seconds: 20)
        var address = try LocalSocket.address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(connected == 0, "connect: \(String(cString: strerror(errno)))")
    }

    func readAll() -> String {
        var all: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            all += chunk[0..<n]
        }
        return String(decoding: all, as: UTF8.self)
    }

    deinit { close(fd) }
}

@Suite(
    "The agent's local socket, asked by real processes of other users", .serialized,
    .enabled(if: isRoot && agentBinary != nil, "needs root, setpriv and the built kontor-agent"))
struct LocalSocketTests {
    @Test("root's kontor-agent status goes through the socket and gets everything, the error's detail included")
    func rootGetsEverything() throws {
        let fixture = try SocketFixture()
        let report = try fixture.status(as: 0)
        #expect(report.redacted == nil)
        #expect(report.lastError?.contains("secret detail") == true)
        #expect(report.pendingReports.first?.contains("private-ca.pem") == true)
        #expect(fixture.askedBy.all == [0])
    }

    @Test("the enrolled person's kontor-agent status, without root, shows what is managed and sent, quiet hours, and no internal detail")
    func personGetsTheirView() throws {
        let fixture = try SocketFixture()
        let report = try fixture.status(as: SocketFixture.person)
        #expect(fixture.askedBy.all == [SocketFixture.person])
        #expect(report.redacted == true)
        #expect(report.deviceId == "d-socket")
        #expect(report.dataSent == FactsCollector.transparency)
        #expect(report.quietHours?.quiet == true && report.quietOverrideAllowed == true)
        #expect(report.enforcing.contains { $0.contains("quiet hours") })
        #expect(report.locks == [])
        let json = try fixture.agent(as: SocketFixture.person, ["status", "--json"]).stdout
        #expect(!json.contains("secret detail") && !json.contains("private-ca.pem") && !json.contains("/var/lib/kontor"))
        let text = try fixture.agent(as: SocketFixture.person, ["status"])
        #expect(text.status == 0 && text.stdout.contains("Shown to you as the person at this device"))
    }

    @Test("the work account may see the person's view too")
    func workAccountGetsTheView() throws {
        let fixture = try SocketFixture()
        #expect(try fixture.status(as: fixture.workUID).redacted == true)
    }

    @Test("the enrolled person ends quiet hours early without root; the reported event names them")
    func personOverrides() throws {
        let fixture = try SocketFixture()
        let run = try fixture.agent(as: SocketFixture.person, ["quiet-hours", "override", "--reason", "customer emergency on site"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("Quiet hours ended until"))
        let events = try fixture.agent.store.state().enforcement.events.filter { $0.kind == "quiet.override" }
        #expect(events.count == 1)
        #expect(events.first?.detail?.contains("customer emergency on site (asked by ada (UID 65534))") == true)
        #expect(try fixture.agent.enforce().quiet == false)
    }

    @Test("where the policy does not allow it, the person's override is refused with the organisation's reason")
    func overrideNotAllowed() throws {
        let fixture = try SocketFixture(allowOverride: false)
        let run = try fixture.agent(as: SocketFixture.person, ["quiet-hours", "override", "--reason", "customer emergency"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("does not allow ending quiet hours early"))
    }

    @Test("another local user is refused with a message naming their UID and who may ask; nothing is changed")
    func strangerRefused() throws {
        let fixture = try SocketFixture()
        let status = try fixture.agent(as: SocketFixture.stranger, ["status"])
        #expect(status.status == 1)
        #expect(status.stderr.contains("UID 65533 may not ask the kontor-agent service"))
        #expect(status.stderr.contains("ada, UID 65534"))
        #expect(status.stdout.isEmpty)
        let override = try fixture.agent(as: SocketFixture.stranger, ["quiet-hours", "override", "--reason", "let me work"])
        #expect(override.status == 1 && override.stderr.contains("UID 65533 may not ask"))
        #expect(!FileManager.default.fileExists(atPath: fixture.paths.overrideFile))
        let terms = try fixture.agent(as: SocketFixture.stranger, ["terms", "accept", "2026-1"])
        #expect(terms.status == 1 && terms.stderr.contains("UID 65533 may not ask"))
    }

    @Test("the person reads the usage terms and accepts them through the socket: the answer is signed with the device key and names them")
    func termsReachTheAgent() throws {
        let fixture = try SocketFixture()
        let show = try fixture.agent(as: SocketFixture.person, ["terms", "show"])
        #expect(show.status == 0 && show.stdout.contains(SocketFixture.termsText.trimmingCharacters(in: .whitespacesAndNewlines)), "\(show)")
        let wrong = try fixture.agent(as: SocketFixture.person, ["terms", "accept", "2025-01"])
        #expect(wrong.status == 1 && wrong.stderr.contains("asked to answer usage terms 2026-12"))
        let accepted = try fixture.agent(as: SocketFixture.person, ["terms", "accept", "2026-12"])
        #expect(accepted.status == 0, "\(accepted)")
        let pending = try fixture.agent.store.state().pendingTermsResponses
        #expect(pending.count == 1)
        let statement = try #require(pending.first?.verified(by: fixture.deviceKey.publicKey))
        #expect(statement.login == "ada")
        #expect(statement.decision == .accepted)
        #expect(statement.personId == "p-ada")
        #expect(statement.textSha256 == Bytes.sha256Hex(Data(SocketFixture.termsText.utf8)))
        #expect(fixture.askedBy.all == [SocketFixture.person, SocketFixture.person, SocketFixture.person])
    }

    @Test("with no daemon, the person is told the service is not running; root reads the status directly")
    func noDaemon() throws {
        let fixture = try SocketFixture()
        fixture.server.stop()
        #expect(!FileManager.default.fileExists(atPath: fixture.paths.localSocket))
        let person = try fixture.agent(as: SocketFixture.person, ["status"])
        #expect(person.status == 1)
        #expect(person.stderr.contains("the kontor-agent service is not running"))
        let root = try fixture.agent(as: 0, ["status"])
        #expect(root.status == 0 && root.stdout.contains("d-socket"))
        #expect(fixture.askedBy.all.isEmpty)
    }
}

@Suite("The local socket against slow, hostile and too many callers", .serialized)
struct LocalSocketAbuseTests {
    @Test("the daemon opens the socket when it starts and removes it when it stops")
    func daemonOpensAndRemovesTheSocket() async throws {
        let fixture = try SocketFixture()
        fixture.server.stop()
        let store = AgentStore(paths: fixture.paths)
        let serverKey = Curve25519Key.make().publicKey.rawRepresentation.base64EncodedString()
        try store.save(key: Curve25519Key.make())
        var identity = try #require(try store.identity())
        identity.serverPublicKey = serverKey
        try store.save(identity)
        let transport = FaultyTransport(inner: HTTP1Transport())
        transport.fault = .unreachable
        var logger = Logger(label: "daemon-test")
        logger.logLevel = .critical
        let agent = Agent(
            paths: fixture.paths, config: AgentConfig(), transport: transport, logger: logger,
            enforcer: Enforcer(paths: fixture.paths, freezer: RecordingFreezer(), deviceZone: .gmt))
        let daemon = Task { try await AgentService(agent: agent).run() }
        var reply: LocalReply?
        for _ in 0..<200 where reply == nil {
            reply = try? LocalSocket.ask(LocalRequest(op: .status), path: fixture.paths.localSocket)
            if reply == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(reply?.status?.deviceId == "d-socket")
        daemon.cancel()
        _ = await daemon.result
        #expect(!FileManager.default.fileExists(atPath: fixture.paths.localSocket))
    }

    func reply(_ text: String) throws -> LocalReply {
        try KontorJSON.decode(LocalReply.self, from: Data(try #require(text.split(separator: "\n").first).utf8))
    }

    @Test(
        "a line that is not a request gets an error line, and the next caller is served",
        arguments: [("hello\n", "not a request"), (#"{"op":"format-disk"}"# + "\n", "unknown operation"), ("\n", "not a request")])
    func garbage(line: String, expected: String) throws {
        let fixture = try SocketFixture()
        let answer = try reply(try exchange(fixture.paths.localSocket, Array(line.utf8)))
        #expect(answer.ok == false && answer.error?.contains(expected) == true)
        #expect(try reply(try exchange(fixture.paths.localSocket, Array(#"{"op":"status"}"#.utf8) + [0x0A])).status?.deviceId == "d-socket")
    }

    @Test("a request over 64 KiB is refused without being read whole, and the next caller is served")
    func oversized() throws {
        let fixture = try SocketFixture()
        let answer = try reply(try exchange(fixture.paths.localSocket, [UInt8](repeating: 0x41, count: 70 * 1024)))
        #expect(answer.error?.contains("longer than 64 KiB") == true)
        #expect(try reply(try exchange(fixture.paths.localSocket, Array(#"{"op":"status"}"#.utf8) + [0x0A])).ok)
    }

    @Test("a caller that sends half a line and waits is answered with the timeout, and others are served meanwhile")
    func slowCaller() throws {
        var limits = LocalSocketServer.Limits()
        limits.readTimeout = 1
        let fixture = try SocketFixture(limits: limits)
        let slow = try RawConnection(fixture.paths.localSocket)
        LocalSocket.sendAll(slow.fd, Array(#"{"op":"#.utf8))
        // While the slow caller holds its connection, another is answered.
        #expect(try reply(try exchange(fixture.paths.localSocket, Array(#"{"op":"status"}"#.utf8) + [0x0A])).ok)
        let answer = try reply(slow.readAll())
        #expect(answer.error?.contains("no complete request line within 1 s") == true)
        #expect(try reply(try exchange(fixture.paths.localSocket, Array(#"{"op":"status"}"#.utf8) + [0x0A])).ok)
    }

    @Test("callers beyond the limit are refused at once with a busy answer; once one is done the next is served")
    func tooMany() throws {
        var limits = LocalSocketServer.Limits()
        limits.maxConnections = 1
        limits.readTimeout = 60
        let fixture = try SocketFixture(limits: limits)
        let holder = try RawConnection(fixture.paths.localSocket)
        let busy = try reply(try exchange(fixture.paths.localSocket, []))
        #expect(busy.ok == false && busy.error?.contains("busy") == true)
        // The holder gives up without asking: no answer, and its place is free again.
        shutdown(holder.fd, Int32(SHUT_WR))
        #expect(holder.readAll().isEmpty)
        #expect(try reply(try exchange(fixture.paths.localSocket, Array(#"{"op":"status"}"#.utf8) + [0x0A])).ok)
    }

    @Test("the socket replaces a stale socket but never a file or a symlink at its path, and is made with mode 0666")
    func bindsSafely() throws {
        let fixture = try SocketFixture()
        let path = fixture.paths.localSocket
        var info = stat()
        #expect(lstat(path, &info) == 0 && info.st_mode & 0o777 == 0o666 && info.st_mode & S_IFMT == S_IFSOCK)
        fixture.server.stop()
        // A stale socket, as a killed daemon leaves it.
        let stale = try LocalSocketServer.bind(path)
        close(stale.0)
        let again = try LocalSocketServer.start(path: path, logger: Logger(label: "t")) { _, _ in LocalReply(message: "again") }
        #expect(try reply(try exchange(path, Array(#"{"op":"status"}"#.utf8) + [0x0A])).message == "again")
        again.stop()
        #expect(lstat(path, &info) != 0)

        let target = fixture.paths.root + "/etc/passwd"
        let before = try String(contentsOfFile: target, encoding: .utf8)
        symlink(target, path)
        #expect(throws: AgentFileError.self) { try LocalSocketServer.bind(path) }
        unlink(path)
        try Data("not a socket".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: AgentFileError.self) { try LocalSocketServer.bind(path) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "not a socket")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == before)
    }

    @Test("a socket folder others may write is refused")
    func folderOthersMayWrite() throws {
        let fixture = try SocketFixture()
        fixture.server.stop()
        chmod(AtomicFile.parent(of: fixture.paths.localSocket), 0o777)
        #expect(throws: AgentFileError.self) { try LocalSocketServer.bind(fixture.paths.localSocket) }
    }
}

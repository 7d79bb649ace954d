import Foundation
import KontorClient
import KontorCore
import KontorTestSupport
import Logging
import Testing

@testable import KontorAgent

#if canImport(Glibc)
    import Glibc
#endif

let interopPython = ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"]
let notificationServer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
    "Interop/notification_server.py"
).path

/// The built `kontor-agent` ($KONTOR_BIN_DIR, else beside the test bundle): the notifier starts it as the work account.
func agentExecutable() -> String {
    if let dir = ProcessInfo.processInfo.environment["KONTOR_BIN_DIR"] { return dir + "/kontor-agent" }
    var candidate = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<4 where !FileManager.default.fileExists(atPath: candidate.appendingPathComponent("kontor-agent").path) {
        candidate.deleteLastPathComponent()
    }
    return candidate.appendingPathComponent("kontor-agent").path
}

/// Runs `arguments` as `uid` with setpriv, output to `log`.
func startAs(_ uid: UInt32, _ arguments: [String], log: String) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
    process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"] + arguments
    FileManager.default.createFile(atPath: log, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    return process
}

/// A real session bus (`dbus-daemon --session`) at `ROOT/run/user/UID/bus` and a notification server on
/// it (dbus-fast, `Tests/Interop/notification_server.py`), both running as `uid`, as a desktop session does.
final class SessionBus {
    let dir: String
    var path: String { dir + "/bus" }
    var out: String { dir + "/received.jsonl" }
    private var processes: [Process] = []

    struct Received: Decodable {
        var uid: UInt32
        var signature: String
        var app: String
        var replaces: UInt32
        var icon: String
        var summary: String
        var body: String
        var actions: [String]
        var hints: [String: Int]
        var hintTypes: [String: String]
        var expire: Int32
    }

    /// `serve`: also a notification server (`markup`: it reads body markup; `hang`: it never answers).
    init(root: AgentPaths, uid: UInt32, serve: Bool = true, markup: Bool = false, hang: Bool = false) throws {
        dir = root.resolve("/run/user/\(uid)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var parent = URL(fileURLWithPath: dir)
        while parent.path != "/" && parent.path != "/tmp" {
            chmod(parent.path, 0o755)
            parent.deleteLastPathComponent()
        }
        chown(dir, uid, uid)
        processes.append(
            try startAs(
                uid, ["/usr/bin/dbus-daemon", "--session", "--nofork", "--address=unix:path=\(path)", "--print-address"], log: root.resolve("/bus-\(uid).log")))
        try wait(for: root.resolve("/bus-\(uid).log"), containing: "unix:path=")
        guard serve else { return }
        let log = root.resolve("/notifications-\(uid).log")
        let arguments = [interopPython!, "-u", notificationServer, "serve", "--address", "unix:path=\(path)", "--out", out] + (markup ? ["--markup"] : [])
        processes.append(try startAs(uid, arguments + (hang ? ["--hang"] : []), log: log))
        try wait(for: log, containing: "ready")
    }

    /// Waits (real processes: there is no clock to inject) until `file` says `text`.
    private func wait(for file: String, containing text: String) throws {
        for _ in 0..<150 {
            if let content = try? String(contentsOfFile: file, encoding: .utf8), content.contains(text) { return }
            usleep(100_000)
        }
        throw AgentError("\(file) never said \(text): \((try? String(contentsOfFile: file, encoding: .utf8)) ?? "")")
    }

    /// What the notification server received, in order.
    func received() throws -> [Received] {
        guard let text = try? String(contentsOfFile: out, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Received.self, from: Data($0.utf8)) }
    }

    func stop() {
        // SIGKILL: the test runner ignores SIGTERM, and its children inherit that.
        for process in processes.reversed() where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitForExit()
        }
    }

    deinit { stop() }
}

/// A freezer that freezes nothing: the work UID here is `nobody`'s on the host.
struct NoFreezer: Freezer {
    var mechanism: String { "none" }
    func freeze(_ account: WorkAccount, processes: [SystemProcess]) throws {}
    func thaw(_ account: WorkAccount, processes: [SystemProcess]) throws {}
}

/// A device whose recorded work account has the UID of the host's `nobody` (so dbus-daemon, which looks
/// its own UID up, can run as it), with Monday quiet hours from 18:00 UTC.
struct NoticeWorld {
    static let workUID: UInt32 = 65534
    static let quietStart = ISO8601.date(from: "2026-11-30T18:00:00Z")!
    let paths = scratchRoot()
    let clock = SettableClock()
    let account = WorkAccount(name: "work-ada", uid: workUID, gid: workUID, home: "/home/work-ada", createdAt: Date())

    /// The account of a person on this machine, never the work account.
    static var personalUID: UInt32 {
        [1000, 1, 2].first { getpwuid($0) != nil } ?? 1
    }

    init() throws {
        try AccountManager(paths: paths).seedScratchRoot()
        let passwd = try String(contentsOfFile: paths.resolve("/etc/passwd"), encoding: .utf8)
        try (passwd + "work-ada:x:\(Self.workUID):\(Self.workUID):Kontor work container:/home/work-ada:/bin/bash\n").write(
            toFile: paths.resolve("/etc/passwd"), atomically: true, encoding: .utf8)
        for (file, line) in [
            ("/etc/group", "work-ada:x:\(Self.workUID):\n"), ("/etc/shadow", "work-ada:!:19000:0:99999:7:::\n"), ("/etc/gshadow", "work-ada:!::\n"),
        ] {
            let text = try String(contentsOfFile: paths.resolve(file), encoding: .utf8)
            try (text + line).write(toFile: paths.resolve(file), atomically: true, encoding: .utf8)
        }
        try AtomicFile.write(try KontorJSON.encode(ContainerRecord(account: account)), to: paths.containerFile)
        let quiet = QuietHoursPolicy(timeZone: "UTC", weekly: ["monday": ["18:00-07:00"]])
        try AgentStore(paths: paths).save(StoredPolicy(hash: "h", policy: EffectivePolicy(checkinInterval: 60, quietHours: quiet), receivedAt: Date()))
    }

    func notifier(timeout: Double = 5) -> SessionBusNotifier { SessionBusNotifier(paths: paths, executable: agentExecutable(), timeout: timeout) }

    /// A new agent each time, as after a restart: only what is on disk carries over.
    func agent(timeout: Double = 5) -> Agent {
        Agent(
            paths: paths, config: AgentConfig(), transport: HTTP1Transport(), clock: clock.wall, logger: Logger(label: "test"),
            enforcer: Enforcer(paths: paths, rules: ContainerRules(ids: Self.workUID...Self.workUID), freezer: NoFreezer(), deviceZone: .gmt),
            notifier: notifier(timeout: timeout))
    }

    /// Enforces at `offset` seconds from the start of quiet hours.
    func enforce(at offset: Double) throws {
        clock.set(Self.quietStart.addingTimeInterval(offset))
        try agent().enforce()
    }

    func events(_ kind: String) throws -> [String] {
        try AgentStore(paths: paths).state().enforcement.events.filter { $0.kind == kind }.map { $0.detail ?? "" }
    }
}

@Suite(
    "Desktop notices on a real session bus", .serialized,
    .enabled(
        if: isRoot && interopPython != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/dbus-daemon"),
        "needs root, dbus-daemon and KONTOR_INTEROP_PYTHON with dbus-fast"))
struct SessionBusTests {
    @Test("the warnings arrive at T-10 and T-1 (not at T-11, not twice, not after a restart), from the work UID, never on the personal bus")
    func quietHoursWarnings() throws {
        let world = try NoticeWorld()
        let work = try SessionBus(root: world.paths, uid: NoticeWorld.workUID)
        let personal = try SessionBus(root: world.paths, uid: NoticeWorld.personalUID)
        defer {
            work.stop()
            personal.stop()
        }
        try world.enforce(at: -660)
        #expect(try work.received().isEmpty)
        try world.enforce(at: -600)
        try world.enforce(at: -590)
        try world.enforce(at: -120)
        let ten = try work.received()
        try #require(ten.count == 1)
        #expect(ten[0].summary == "Feierabend in 10 minutes — save your work")
        #expect(ten[0].uid == NoticeWorld.workUID)
        #expect(ten[0].signature == "susssasa{sv}i" && ten[0].app == "Kontor" && ten[0].replaces == 0 && ten[0].icon == "" && ten[0].actions.isEmpty)
        #expect(ten[0].hints == ["urgency": 1] && ten[0].hintTypes == ["urgency": "y"] && ten[0].expire == -1)
        try world.enforce(at: -60)
        try world.enforce(at: -30)
        let all = try work.received()
        try #require(all.count == 2)
        #expect(all[1].summary == "Feierabend in 1 minute — save your work" && all[1].hints == ["urgency": 2] && all[1].uid == NoticeWorld.workUID)
        #expect(try world.events("notice.sent") == ["quiet-hours-10min", "quiet-hours-1min"])
        #expect(try personal.received().isEmpty)
    }

    @Test("an admin's lock shows its reason, escaped for a server that reads markup, before the session is frozen")
    func lockNotice() throws {
        let world = try NoticeWorld()
        let work = try SessionBus(root: world.paths, uid: NoticeWorld.workUID, markup: true)
        defer { work.stop() }
        world.clock.set(NoticeWorld.quietStart.addingTimeInterval(-7200))
        let agent = world.agent()
        var state = try agent.store.state()
        let reason = "Laptop gemeldet als <b>gestohlen</b> & gesperrt"
        _ = agent.handle([DeviceCommand(id: "cmd_1", type: "lock", issuedAt: Date(), reason: reason)], state: &state, now: world.clock.wall.now())
        try agent.store.save(state)
        try agent.enforce()
        try world.agent().enforce()
        let received = try work.received()
        try #require(received.count == 1)
        #expect(received[0].summary == "Your work account is being locked by your IT department")
        #expect(received[0].body.hasPrefix("Reason: Laptop gemeldet als &lt;b&gt;gestohlen&lt;/b&gt; &amp; gesperrt\n"))
        #expect(received[0].hints == ["urgency": 2] && received[0].uid == NoticeWorld.workUID)
        #expect(try world.events("notice.sent") == ["container-locked"])
        #expect(try agent.store.state().enforcement.frozen)
    }

    @Test("usage terms past their deadline: the person is told once, before the work container is locked for them")
    func termsNotice() throws {
        let world = try NoticeWorld()
        let work = try SessionBus(root: world.paths, uid: NoticeWorld.workUID)
        defer { work.stop() }
        world.clock.set(NoticeWorld.quietStart.addingTimeInterval(-7200))
        let terms = UsageTerms(
            version: "2026-12", text: "T", undertaking: nil, graceSeconds: 0, publishedAt: NoticeWorld.quietStart.addingTimeInterval(-86_400), publishedBy: nil)
        var policy = EffectivePolicy(checkinInterval: 60, usageTermsVersion: "2026-12")
        policy.terms = terms.requirement(personId: nil, decision: nil)
        try AgentStore(paths: world.paths).save(StoredPolicy(hash: "t", policy: policy, receivedAt: Date()))
        try world.agent().enforce()
        try world.agent().enforce()
        let received = try work.received()
        try #require(received.count == 1)
        #expect(received[0].summary == "New usage terms to accept")
        #expect(received[0].body.contains("version 2026-12") && received[0].uid == NoticeWorld.workUID)
        let state = try AgentStore(paths: world.paths).state().enforcement
        #expect(state.termsLocked && state.frozen)
        #expect(try world.events("notice.sent") == ["terms-pending"])
    }

    @Test("a planned offboarding: the person is told the date once, in the work session")
    func offboardingNotice() throws {
        let world = try NoticeWorld()
        let work = try SessionBus(root: world.paths, uid: NoticeWorld.workUID)
        defer { work.stop() }
        world.clock.set(NoticeWorld.quietStart.addingTimeInterval(-7200))
        var policy = EffectivePolicy(checkinInterval: 60)
        policy.offboardingWipeAt = ISO8601.date(from: "2026-12-24T16:00:00Z")
        try AgentStore(paths: world.paths).save(StoredPolicy(hash: "o", policy: policy, receivedAt: Date()))
        try world.agent().enforce()
        try world.agent().enforce()
        let received = try work.received()
        try #require(received.count == 1)
        #expect(received[0].summary == "Your work account will be removed")
        #expect(received[0].body.contains("2026-12-24") && received[0].uid == NoticeWorld.workUID)
        #expect(try world.events("notice.sent") == ["offboarding-planned"])
    }

    @Test("without a session bus nothing fails: the warning is skipped and recorded once")
    func noSession() throws {
        let world = try NoticeWorld()
        try world.enforce(at: -600)
        try world.enforce(at: -500)
        #expect(try world.events("notice.skipped") == ["quiet-hours-10min: no work session"])
        #expect(try world.events("notice.sent").isEmpty)
        #expect(
            world.notifier().show(DesktopNotice(kind: "k", summary: "s", body: "b"), to: world.account)
                == .noSession("no session bus at \(world.notifier().busPath(world.account))"))
    }

    @Test("a bus that takes the call and never answers: the notifier is stopped after its timeout and the agent goes on")
    func hungServer() throws {
        let world = try NoticeWorld()
        let work = try SessionBus(root: world.paths, uid: NoticeWorld.workUID, hang: true)
        defer { work.stop() }
        let outcome = world.notifier(timeout: 2).show(DesktopNotice(kind: "k", summary: "s", body: "b"), to: world.account)
        guard case .failed(let why) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(why.contains("did not answer") || why.contains("no answer"), "\(why)")
    }

    @Test("a work bus that is a symlink to the personal account's bus: that bus drops the work UID and its server gets nothing")
    func symlinkToPersonalBus() throws {
        let world = try NoticeWorld()
        let personal = try SessionBus(root: world.paths, uid: NoticeWorld.personalUID)
        defer { personal.stop() }
        let workDir = world.paths.resolve("/run/user/\(NoticeWorld.workUID)")
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        chmod(personal.dir, 0o755)
        try FileManager.default.createSymbolicLink(atPath: workDir + "/bus", withDestinationPath: personal.path)
        let outcome = world.notifier().show(DesktopNotice(kind: "k", summary: "s", body: "b"), to: world.account)
        guard case .failed(let why) = outcome else {
            Issue.record("expected a refusal, got \(outcome)")
            return
        }
        // The bus accepts the authentication exchange, then drops a connection whose UID is not its owner's.
        #expect(why.contains("session bus"), "\(why)")
        #expect(try personal.received().isEmpty)
    }

    @Test("the notifier's child refuses to run as root")
    func childRefusesRoot() throws {
        let result = try TimedCommand.run(agentExecutable(), ["notify-internal", "--bus", "/nonexistent"], input: [], timeout: 10)
        #expect(result.status == 1)
        #expect(String(decoding: result.stderr, as: UTF8.self).contains("refusing to run as root"))
    }
}

@Suite(
    "The agent's D-Bus messages against dbus-fast",
    .enabled(if: interopPython != nil, "set KONTOR_INTEROP_PYTHON to a Python with dbus-fast"))
struct DBusReferenceTests {
    struct Case: Encodable {
        var serial: UInt32
        var summary: String
        var body: String
        var urgency: UInt8
        var expire: Int32
    }

    @Test("Notify and Hello are byte for byte what dbus-fast marshals")
    func sameBytes() throws {
        let cases = [
            Case(serial: 2, summary: "Feierabend in 10 minutes — save your work", body: "Quiet hours begin at 18:00 (Europe/Berlin).", urgency: 1, expire: -1),
            Case(serial: 3, summary: "", body: "", urgency: 0, expire: 0),
            Case(serial: 70_000, summary: "Ümläüte 🎉 <b>&</b>", body: String(repeating: "ab\n", count: 333), urgency: 2, expire: 5000),
            Case(serial: 4, summary: "x", body: "yz", urgency: 2, expire: Int32.max),
        ]
        let input = try JSONEncoder().encode(cases)
        let result = try TimedCommand.run(interopPython!, [notificationServer, "marshal"], input: Array(input), timeout: 60)
        #expect(result.status == 0, "\(String(decoding: result.stderr, as: UTF8.self))")
        let lines = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        try #require(lines.count == cases.count + 1)
        for (c, line) in zip(cases, lines) {
            let body = DBusMessage.notifyBody(appName: "Kontor", summary: c.summary, body: c.body, urgency: c.urgency, expireTimeout: c.expire)
            let message = DBusMessage.call(
                serial: c.serial, destination: "org.freedesktop.Notifications", path: "/org/freedesktop/Notifications",
                interface: "org.freedesktop.Notifications", member: "Notify", signature: "susssasa{sv}i", body: body)
            #expect(message == bytes(hex: line), "serial \(c.serial)")
        }
        #expect(bytes(hex: lines[cases.count]) == bytes(hex: DBusMessageTests.hello))
    }
}

@Suite("When the daemon wakes for a warning")
struct NoticeWakeTests {
    @Test("from the stored policy and the injected clock: at T-10 and at T-1, then not until the next quiet period")
    func wakes() throws {
        let world = try NoticeWorld()
        let agent = world.agent()
        world.clock.set(NoticeWorld.quietStart.addingTimeInterval(-900))
        #expect(agent.secondsUntilNextNotice() == 300)
        world.clock.set(NoticeWorld.quietStart.addingTimeInterval(-600))
        #expect(agent.secondsUntilNextNotice() == 540)
        world.clock.set(NoticeWorld.quietStart.addingTimeInterval(60))
        #expect(agent.secondsUntilNextNotice() == nil)
    }
}

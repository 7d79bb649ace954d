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

/// A real process running as `uid`, started with setpriv; killed when the test is done.
final class TestProcess {
    let process = Process()
    var pid: Int32 { process.processIdentifier }

    init(uid: UInt32, gid: UInt32, command: [String] = ["/usr/bin/sleep", "300"]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        // env resets signal dispositions: the test runner ignores SIGTERM, and children would inherit that.
        process.arguments = ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--", "/usr/bin/env", "--default-signal"] + command
        try process.run()
        // Wait until setpriv has become the target program (an exec, so the same pid).
        for _ in 0..<100 where ProcessTable.process(pid)?.executable?.hasSuffix(command[0].split(separator: "/").last.map(String.init) ?? "") != true {
            usleep(20_000)
        }
    }

    var state: Character? { ProcessTable.process(pid)?.state }
    var alive: Bool { kill(pid, 0) == 0 && state != "Z" }

    func stop() {
        kill(pid, SIGCONT)
        kill(pid, SIGKILL)
        process.waitForExit()
    }

    deinit { if process.isRunning { stop() } }
}

let isRoot =
    getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && FileManager.default.isExecutableFile(atPath: "/usr/sbin/useradd")

/// A policy with a work container and quiet hours that are always (or never) in force.
func containerPolicy(alwaysQuiet: Bool, apps: AppPolicy? = nil, allowOverride: Bool = false) -> EffectivePolicy {
    var weekly: [String: [String]] = [:]
    if alwaysQuiet { for d in QuietHoursPolicy.weekdays { weekly[d] = ["all"] } }
    return EffectivePolicy(
        checkinInterval: 60, quietHours: QuietHoursPolicy(timeZone: "UTC", weekly: weekly, allowUserOverride: allowOverride), apps: apps,
        container: ResolvedContainer(account: "work-ada", extraWorkPaths: ["/srv/work/ada"]))
}

func scratchRoot() -> AgentPaths {
    AgentPaths(root: FileManager.default.temporaryDirectory.appendingPathComponent("kontor-enforce-\(UUID().uuidString)").path)
}

@Suite("Enforcement with real accounts and processes", .serialized, .enabled(if: isRoot, "needs root, setpriv and useradd"))
struct EnforcementTests {
    @Test("the work container is a real account with a private home and its work paths")
    func createsContainer() throws {
        let paths = scratchRoot()
        let enforcer = Enforcer(paths: paths, deviceZone: .gmt)
        var state = EnforcementState()
        let report = enforcer.enforce(containerPolicy(alwaysQuiet: false), state: &state, now: Date())
        #expect(report.containerAccount == "work-ada")
        #expect(report.containerState == "active")
        let account = try #require(AccountManager(paths: paths).lookup("work-ada"))
        #expect(account.uid >= 200_000 && account.uid < 1_000_000)
        let home = try FileManager.default.attributesOfItem(atPath: paths.resolve("/home/work-ada"))
        #expect((home[.posixPermissions] as? Int) == 0o700)
        #expect((home[.ownerAccountID] as? Int) == Int(account.uid))
        #expect(FileManager.default.fileExists(atPath: paths.resolve("/srv/work/ada")))
        #expect(state.events.map(\.kind) == ["container.created", "quiet.end"])
        // Idempotent: a second run creates nothing.
        _ = enforcer.enforce(containerPolicy(alwaysQuiet: false), state: &state, now: Date())
        #expect(state.events.filter { $0.kind == "container.created" }.count == 1)
    }

    @Test("quiet hours freeze the container's real processes and refuse logins; afterwards everything resumes", arguments: ["detected", "signals"])
    func freezesAndResumes(mechanism: String) throws {
        let paths = scratchRoot()
        let freezer: any Freezer = mechanism == "signals" ? SignalFreezer() : Freezers.detect(groupPrefix: CgroupFreezer.prefix(for: paths))
        let enforcer = Enforcer(paths: paths, freezer: freezer, deviceZone: .gmt)
        var state = EnforcementState()
        _ = enforcer.enforce(containerPolicy(alwaysQuiet: false), state: &state, now: Date())
        let account = try #require(AccountManager(paths: paths).lookup("work-ada"))
        let created = try #require(try AccountManager(paths: paths).record()?.account)
        defer { freezer.discard(created) }  // after the worker is gone: its cgroup is this root's own
        let worker = try TestProcess(uid: account.uid, gid: account.gid)
        defer { worker.stop() }
        #expect(worker.state == "S")

        let quiet = enforcer.enforce(containerPolicy(alwaysQuiet: true), state: &state, now: Date())
        #expect(quiet.quiet == true)
        #expect(quiet.containerState == "frozen")
        #expect(state.frozen)
        usleep(200_000)
        // Frozen by a cgroup freezer shows as D, stopped by a signal as T.
        #expect(worker.state == "D" || worker.state == "T", "state \(String(describing: worker.state)) with \(freezer.mechanism)")
        #expect(!AccountManager(paths: paths).loginAllowed("work-ada"))
        #expect(state.events.last?.kind == "quiet.begin")

        // A restart of the agent: enforcing the same policy again changes nothing.
        var restarted = state
        _ = enforcer.enforce(containerPolicy(alwaysQuiet: true), state: &restarted, now: Date())
        #expect(restarted.events.count == state.events.count)

        let working = enforcer.enforce(containerPolicy(alwaysQuiet: false), state: &state, now: Date())
        #expect(working.quiet == false)
        usleep(200_000)
        #expect(worker.state == "S")
        #expect(worker.alive)
        #expect(AccountManager(paths: paths).loginAllowed("work-ada"))
        #expect(state.events.last?.kind == "quiet.end")
    }

    @Test("audit mode reports a process that no rule allows and leaves it running")
    func auditReports() throws {
        let paths = scratchRoot()
        let enforcer = Enforcer(paths: paths, deviceZone: .gmt)
        var state = EnforcementState()
        let policy = containerPolicy(alwaysQuiet: false, apps: AppPolicy(mode: "audit", allow: [AppRule(path: "/usr/bin/true")]))
        _ = enforcer.enforce(policy, state: &state, now: Date())
        let account = try #require(AccountManager(paths: paths).lookup("work-ada"))
        let worker = try TestProcess(uid: account.uid, gid: account.gid)
        defer { worker.stop() }
        let report = enforcer.enforce(policy, state: &state, now: Date())
        #expect(report.violations.map(\.pid) == [Int(worker.pid)])
        #expect(report.violations.first?.action == "reported")
        #expect(report.violations.first?.executable.hasSuffix("/sleep") == true)
        #expect(worker.alive)
        // Reported once, not every cycle.
        _ = enforcer.enforce(policy, state: &state, now: Date())
        #expect(state.violations.count == 1)
    }

    @Test("enforce mode terminates a process that no rule allows", arguments: ["sigterm", "ignores-sigterm"])
    func enforceTerminates(kind: String) throws {
        let paths = scratchRoot()
        let enforcer = Enforcer(paths: paths, deviceZone: .gmt)
        var state = EnforcementState()
        let policy = containerPolicy(alwaysQuiet: false, apps: AppPolicy(mode: "enforce", allow: [AppRule(path: "/usr/bin/true")]))
        _ = enforcer.enforce(policy, state: &state, now: Date())
        let account = try #require(AccountManager(paths: paths).lookup("work-ada"))
        let command = kind == "sigterm" ? ["/usr/bin/sleep", "300"] : ["/usr/bin/bash", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
        let worker = try TestProcess(uid: account.uid, gid: account.gid, command: command)
        defer { worker.stop() }
        let report = enforcer.enforce(policy, state: &state, now: Date())
        #expect(report.violations.first?.action == "terminated")
        if kind != "sigterm" {
            // It ignored SIGTERM: the next check kills it.
            usleep(200_000)
            _ = enforcer.enforce(policy, state: &state, now: Date())
        }
        worker.process.waitForExit()
        #expect(!worker.process.isRunning)
    }

    @Test("processes are allowed by path, by SHA-256 of the executable, and by Debian package", arguments: ["path", "sha256", "package"])
    func allowed(kind: String) throws {
        let paths = scratchRoot()
        let sleep = URL(fileURLWithPath: "/usr/bin/sleep").resolvingSymlinksInPath().path
        let rule: AppRule
        switch kind {
        case "path": rule = AppRule(path: "/usr/bin/sleep")
        case "sha256": rule = AppRule(sha256: Bytes.sha256Hex(FileManager.default.contents(atPath: sleep)!))
        default:
            // dpkg's file list for the package, as dpkg writes it.
            try AtomicFile.write(Data("/.\n/usr\n/usr/bin\n\(sleep)\n".utf8), to: paths.resolve("/var/lib/dpkg/info/coreutils.list"), mode: 0o644)
            rule = AppRule(package: "coreutils")
        }
        let policy = containerPolicy(alwaysQuiet: false, apps: AppPolicy(mode: "enforce", allow: [rule]))
        let enforcer = Enforcer(paths: paths, deviceZone: .gmt)
        var state = EnforcementState()
        _ = enforcer.enforce(policy, state: &state, now: Date())
        let account = try #require(AccountManager(paths: paths).lookup("work-ada"))
        let worker = try TestProcess(uid: account.uid, gid: account.gid)
        defer { worker.stop() }
        let report = enforcer.enforce(policy, state: &state, now: Date())
        #expect(report.violations.isEmpty)
        #expect(worker.alive)
    }

    @Test("a user override ends quiet hours early where allowed, and is reported once")
    func userOverride() async throws {
        let paths = scratchRoot()
        let store = AgentStore(paths: paths)
        try store.save(StoredPolicy(hash: "h", policy: containerPolicy(alwaysQuiet: true, allowOverride: true), receivedAt: Date()))
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        let enforcer = Enforcer(paths: paths, deviceZone: .gmt)
        // The freezer's cgroup of this root, made by the freeze (the machine's, outside the scratch root).
        defer { if let account = try? AccountManager(paths: paths).record()?.account { enforcer.freezer.discard(account) } }
        let agent = Agent(paths: paths, config: AgentConfig(), transport: HTTP1Transport(), logger: logger, enforcer: enforcer)
        #expect(try agent.enforce().quiet == true)
        _ = try agent.overrideQuietHours(reason: "customer emergency on site")
        #expect(try agent.enforce().quiet == false)
        let kinds = try store.state().enforcement.events.map(\.kind)
        #expect(kinds.filter { $0 == "quiet.override" }.count == 1)
        #expect(kinds.last == "quiet.end")

        try store.save(StoredPolicy(hash: "h2", policy: containerPolicy(alwaysQuiet: true, allowOverride: false), receivedAt: Date()))
        #expect(throws: AgentError.self) { try agent.overrideQuietHours(reason: "again please") }
    }
}

import Crypto
import Foundation
import KontorCore
import KontorTestSupport
import Synchronization
import Testing

@testable import KontorAgent

#if canImport(Glibc)
    import Glibc
#endif

/// A scratch endpoint the work account and the people on it can walk into (the scratch root is 0755),
/// with the work account created by the agent and, optionally, a personal account `ada` made the way
/// a person's login is made (useradd, a UID in the people's range).
struct Endpoint {
    let paths: AgentPaths
    let enforcer: Enforcer
    var accounts: AccountManager { enforcer.accounts }

    init(rules: ((inout ContainerRules) -> Void)? = nil, freezer: any Freezer = SignalFreezer()) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-boundary-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        paths = AgentPaths(root: root)
        var containerRules = ContainerRules.defaults(for: paths)
        rules?(&containerRules)
        enforcer = Enforcer(paths: paths, rules: containerRules, freezer: freezer, deviceZone: .gmt)
        try enforcer.accounts.seedScratchRoot()
    }

    /// Creates the work container (and the given work paths) the way the daemon does.
    @discardableResult
    func createContainer(paths workPaths: [String] = []) throws -> WorkAccount {
        var state = EnforcementState()
        _ = enforcer.enforce(policy(paths: workPaths), state: &state, now: Date())
        return try #require(accounts.recorded(), "no container: \(state.events)")
    }

    /// A person's own account, with a home the agent did not make.
    func person(_ name: String = "ada", comment: String = "Ada Lovelace") throws -> Account {
        let uid = UInt32.random(in: 30_000...59_000)
        try Command.run("useradd", ["--prefix", paths.root, "-u", String(uid), "--user-group", "--create-home", "--comment", comment, name])
        return try #require(accounts.lookup(name))
    }

    func policy(account: String = "work-ada", paths workPaths: [String] = [], quiet: Bool = false, apps: AppPolicy? = nil) -> EffectivePolicy {
        var weekly: [String: [String]] = [:]
        if quiet { for d in QuietHoursPolicy.weekdays { weekly[d] = ["all"] } }
        return EffectivePolicy(
            checkinInterval: 60, quietHours: QuietHoursPolicy(timeZone: "UTC", weekly: weekly), apps: apps,
            container: ResolvedContainer(account: account, extraWorkPaths: workPaths))
    }

    func write(_ text: String, to path: String, owner: (UInt32, UInt32)? = nil) throws {
        let full = self.paths.resolve(path)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
        if let (uid, gid) = owner { chown(full, uid, gid) }
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: self.paths.resolve(path), encoding: .utf8) }

    func owner(_ path: String) -> UInt32? {
        var info = stat()
        return lstat(self.paths.resolve(path), &info) == 0 ? info.st_uid : nil
    }

    func exists(_ path: String) -> Bool { owner(path) != nil }

    /// A wipe as the agent runs it, with `policy` as a (possibly compromised) server sent it; the verified receipt.
    func wipe(_ policy: EffectivePolicy) throws -> WipeReceipt {
        let wiper = Wiper(paths: paths, accounts: accounts, freezer: SignalFreezer(), clock: .system, hook: .none)
        var journal = try wiper.begin(trigger: "command", commandId: nil, deviceId: "d-test", policy: policy)
        let key = Curve25519.Signing.PrivateKey()
        try wiper.run(&journal, key: key, agentVersion: "test")
        return try #require(journal.receipt?.verified(by: key.publicKey))
    }
}

/// Runs `command` as `uid` and waits for it.
@discardableResult
func runAs(_ uid: UInt32, _ gid: UInt32, _ command: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
    process.arguments = ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--"] + command
    try process.run()
    process.waitForExit()
    return process.terminationStatus
}

/// A freezer that records what it was asked to freeze and freezes nothing.
final class RecordingFreezer: Freezer {
    let frozen = Mutex<[SystemProcess]>([])
    var mechanism: String { "recording" }
    func freeze(_ account: WorkAccount, processes: [SystemProcess]) throws { frozen.withLock { $0 += processes } }
    func thaw(_ account: WorkAccount, processes: [SystemProcess]) throws {}
}

let canBindMount: Bool = {
    guard isRoot else { return false }
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-mount-probe-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: base + "/a", withIntermediateDirectories: true)
    try? FileManager.default.createDirectory(atPath: base + "/b", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: base) }
    guard (try? Command.run("mount", ["--bind", base + "/a", base + "/b"])) != nil else { return false }
    _ = try? Command.run("umount", [base + "/b"])
    return true
}()

@Suite("The work/private boundary on a real endpoint", .serialized, .enabled(if: isRoot, "needs root, setpriv, useradd and userdel"))
struct BoundaryTests {
    // MARK: 1. Creating work folders: no symlink swap redirects root.

    /// Swaps every real folder that appears at argv[1] for a symlink to argv[2], as fast as it can.
    static let racer = """
        import os, sys, stat
        p, target, n = sys.argv[1], sys.argv[2], 0
        while True:
            try:
                if stat.S_ISDIR(os.lstat(p).st_mode):
                    os.rename(p, p + ".moved%d" % n); n += 1
                    os.symlink(target, p)
            except OSError:
                pass
        """

    @Test("a symlink the work user planted where a work folder goes is refused, never followed")
    func plantedSymlink() throws {
        let endpoint = try Endpoint()
        let account = try endpoint.createContainer()
        try endpoint.write("root only", to: "/etc/kontor-secret")
        let link = endpoint.paths.resolve("/home/work-ada/Projects")
        #expect(try runAs(account.uid, account.gid, ["/usr/bin/ln", "-s", endpoint.paths.resolve("/etc"), link]) == 0)
        var state = EnforcementState()
        _ = endpoint.enforcer.enforce(endpoint.policy(paths: ["/home/work-ada/Projects/inbox", "/home/work-ada/Projects"]), state: &state, now: Date())
        #expect(endpoint.owner("/etc/kontor-secret") == 0)
        #expect(endpoint.owner("/etc") == 0)
        #expect(!endpoint.exists("/etc/inbox"))
        let refused = state.events.filter { $0.kind == "container.path-refused" }
        #expect(refused.count == 2)
        #expect(refused.first?.detail?.contains("a symlink") == true, "\(refused)")
        // Reported once while it lasts, not every 10 s.
        _ = endpoint.enforcer.enforce(endpoint.policy(paths: ["/home/work-ada/Projects/inbox", "/home/work-ada/Projects"]), state: &state, now: Date())
        #expect(state.events.filter { $0.kind == "container.path-refused" }.count == 2)
    }

    @Test(
        "a work user racing the creation of a work folder (swapping it for a symlink to a root-owned file) never gets that file",
        arguments: ["/home/work-ada/Projects", "/srv/work/ada/inbox"])
    func symlinkRace(raced: String) throws {
        let endpoint = try Endpoint()
        let parent = raced.hasPrefix("/srv/") ? ["/srv/work/ada"] : []
        let account = try endpoint.createContainer(paths: parent)
        try endpoint.write("root only", to: "/etc/kontor-secret")
        chmod(endpoint.paths.resolve("/etc/kontor-secret"), 0o600)
        let python = URL(fileURLWithPath: "/usr/bin/python3").resolvingSymlinksInPath().path
        let link = endpoint.paths.resolve(raced)
        let attacker = try TestProcess(
            uid: account.uid, gid: account.gid, command: [python, "-c", Self.racer, link, endpoint.paths.resolve("/etc/kontor-secret")])
        defer { attacker.stop() }
        // A slow moment between making the folder and taking hold of it, as on a loaded machine.
        WorkPaths.afterCreate.withLock { $0 = { _ in usleep(20_000) } }
        defer { WorkPaths.afterCreate.withLock { $0 = nil } }
        var state = EnforcementState()
        for _ in 0..<50 {
            // As if the folder had never been made: the agent makes it again, the attacker swaps again.
            unlink(link)
            rmdir(link)
            _ = endpoint.enforcer.enforce(endpoint.policy(paths: parent + [raced]), state: &state, now: Date())
            if endpoint.owner("/etc/kontor-secret") != 0 { break }
        }
        #expect(endpoint.owner("/etc/kontor-secret") == 0, "root chowned the file a symlink pointed to")
        #expect(endpoint.read("/etc/kontor-secret") == "root only")
        #expect(attacker.alive, "the attacker stopped early: the race did not run")
    }

    @Test("folders above the work folder must be root's alone: a world-writable /srv/work or a person's folder is refused for creating and wiping")
    func writableParents() throws {
        let endpoint = try Endpoint()
        let account = try endpoint.createContainer()
        let ada = try endpoint.person()
        // A person made /srv/work/ada before the agent did, and keeps their things in it.
        try endpoint.write("mine", to: "/srv/work/ada/diary.txt", owner: (ada.uid, ada.gid))
        chown(endpoint.paths.resolve("/srv/work/ada"), ada.uid, ada.gid)
        var state = EnforcementState()
        _ = endpoint.enforcer.enforce(endpoint.policy(paths: ["/srv/work/ada"]), state: &state, now: Date())
        #expect(endpoint.owner("/srv/work/ada") == ada.uid, "the agent took over a person's folder")
        #expect(state.events.contains { $0.kind == "container.path-refused" && $0.detail?.contains("owned by UID \(ada.uid)") == true })

        // /srv/work writable by everyone: anyone could swap what is below it.
        chmod(endpoint.paths.resolve("/srv/work"), 0o1777)
        _ = endpoint.enforcer.enforce(endpoint.policy(paths: ["/srv/work/bob"]), state: &state, now: Date())
        #expect(!endpoint.exists("/srv/work/bob"))
        #expect(state.events.contains { $0.detail?.contains("writable by root alone") == true })

        let receipt = try endpoint.wipe(endpoint.policy(paths: ["/srv/work/ada"]))
        #expect(endpoint.read("/srv/work/ada/diary.txt") == "mine")
        #expect(receipt.refused.contains { $0.hasPrefix("/srv/work") && $0.contains("root alone") }, "\(receipt.refused)")
        #expect(receipt.accountRemoved)
        #expect(account.uid != ada.uid)
    }

    // MARK: 2 and 3. Only the account the agent created: never a person's login, never root.

    @Test(
        "a profile naming the person's own login, or an account the agent did not create, adopts nothing, locks nothing, wipes nothing",
        arguments: ["ada", "work-ada"])
    func neverAdopts(name: String) throws {
        let endpoint = try Endpoint()
        // The same comment the agent writes: a look-alike is still not the agent's.
        let existing = try endpoint.person(name, comment: name == "work-ada" ? AccountManager.comment : "Ada Lovelace")
        try endpoint.write("private", to: "/home/\(name)/Documents/letter.odt", owner: (existing.uid, existing.gid))
        let program = try TestProcess(uid: existing.uid, gid: existing.gid)
        defer { program.stop() }

        var state = EnforcementState()
        let report = endpoint.enforcer.enforce(
            endpoint.policy(account: name, paths: ["/home/\(name)/Documents"], quiet: true, apps: AppPolicy(mode: "enforce", allow: [])), state: &state,
            now: Date())
        #expect(report.containerState == "absent")
        #expect(state.events.contains { $0.kind == "container.error" }, "\(state.events)")
        #expect(endpoint.accounts.recorded() == nil)
        usleep(100_000)
        #expect(program.state == "S", "the person's program was stopped")
        #expect(endpoint.accounts.loginAllowed(name))

        let receipt = try endpoint.wipe(endpoint.policy(account: name, paths: ["/home/\(name)/Documents"]))
        #expect(receipt.account == nil)
        #expect(!receipt.accountRemoved)
        #expect(receipt.processesKilled == 0)
        #expect(receipt.removed.isEmpty)
        #expect(endpoint.accounts.lookup(name)?.uid == existing.uid)
        #expect(endpoint.read("/home/\(name)/Documents/letter.odt") == "private")
        #expect(program.alive)
    }

    @Test("accountPattern root: no root process is signalled or frozen and root's login stays open")
    func root() throws {
        let recorder = RecordingFreezer()
        let endpoint = try Endpoint(freezer: recorder)
        let rootProgram = try TestProcess(uid: 0, gid: 0)
        defer { rootProgram.stop() }
        var state = EnforcementState()
        _ = endpoint.enforcer.enforce(endpoint.policy(account: "root", quiet: true), state: &state, now: Date())
        _ = endpoint.enforcer.enforce(endpoint.policy(account: "root", apps: AppPolicy(mode: "enforce", allow: [])), state: &state, now: Date())
        #expect(recorder.frozen.withLock { $0.isEmpty })
        #expect(endpoint.accounts.loginAllowed("root"))
        usleep(100_000)
        #expect(rootProgram.alive)
        #expect(state.events.contains { $0.kind == "container.error" && $0.detail?.contains("reserved prefix") == true })
        // And below the enforcer: nothing acts on UID 0.
        #expect(ProcessTable.processes(ofUID: 0).isEmpty)
        let seen = try #require(ProcessTable.process(rootProgram.pid))
        #expect(!ProcessControl.signal(seen, SIGTERM, onlyUID: 0))
        #expect(rootProgram.alive)
    }

    @Test("the work account gets a UID from the device's range, recorded in the agent's state (0600); another account name later is refused")
    func accountRecord() throws {
        let endpoint = try Endpoint()
        let account = try endpoint.createContainer()
        #expect(endpoint.enforcer.rules.ids.contains(account.uid))
        #expect(endpoint.enforcer.rules.ids.contains(account.gid))
        var info = stat()
        #expect(stat(endpoint.paths.containerFile, &info) == 0 && info.st_mode & 0o777 == 0o600)
        var state = EnforcementState()
        _ = endpoint.enforcer.enforce(endpoint.policy(account: "work-bob"), state: &state, now: Date())
        #expect(endpoint.accounts.lookup("work-bob") == nil)
        #expect(state.events.contains { $0.kind == "container.error" && $0.detail?.contains("wipe the container first") == true })

        // Changed behind the agent's back (another UID in the account database): left alone.
        let passwd = endpoint.paths.resolve("/etc/passwd")
        let text = try String(contentsOfFile: passwd, encoding: .utf8)
        try text.replacingOccurrences(of: "work-ada:x:\(account.uid):", with: "work-ada:x:\(account.uid + 1):").write(
            toFile: passwd, atomically: true, encoding: .utf8)
        guard case .failure(let why) = endpoint.accounts.verified() else {
            Issue.record("a changed account was still used")
            return
        }
        #expect(why.description.contains("changed outside the agent"))

        // The UID handed to someone else as well: nothing of that UID is the agent's any more.
        try (text + "bob:x:\(account.uid):\(account.gid)::/home/bob:/bin/bash\n").write(toFile: passwd, atomically: true, encoding: .utf8)
        #expect(endpoint.accounts.recorded() == nil)
        guard case .failure(let shared) = endpoint.accounts.verified() else {
            Issue.record("a UID shared with another account was still used")
            return
        }
        #expect(shared.description.contains("also bob's"))
    }

    @Test("a crash between useradd and the record: the account is taken up only because the record says it was being created")
    func crashAfterUseradd() throws {
        let endpoint = try Endpoint()
        let account = try endpoint.createContainer()
        // The record as it was just before useradd ran.
        try AtomicFile.write(Data(#"{"creating": "work-ada"}"#.utf8), to: endpoint.paths.containerFile)
        var state = EnforcementState()
        _ = endpoint.enforcer.enforce(endpoint.policy(), state: &state, now: Date())
        #expect(endpoint.accounts.recorded()?.uid == account.uid)
        // Without that record, the same account is someone else's.
        unlink(endpoint.paths.containerFile)
        _ = endpoint.enforcer.enforce(endpoint.policy(), state: &state, now: Date())
        #expect(endpoint.accounts.recorded() == nil)
        #expect(state.events.contains { $0.detail?.contains("never adopts") == true })
    }

    @Test("workAccountIDs overlapping the IDs people get is refused before any account is made")
    func idRangeOverlap() throws {
        let endpoint = try Endpoint(rules: { $0.ids = 59_000...60_999 })
        var state = EnforcementState()
        _ = endpoint.enforcer.enforce(endpoint.policy(), state: &state, now: Date())
        #expect(endpoint.accounts.lookup("work-ada") == nil)
        #expect(state.events.contains { $0.detail?.contains("overlaps the IDs useradd gives people") == true })
    }

    // MARK: 4 and 5. The wipe: never in another home, never across a mount.

    @Test("work paths in other homes and system folders (a compromised server) are refused on the device and named in the receipt")
    func compromisedServer() throws {
        let endpoint = try Endpoint()
        let account = try endpoint.createContainer(paths: ["/srv/work/ada"])
        let ada = try endpoint.person()
        let personal = [
            "/home/ada/Documents/cv.odt", "/home/ada/.ssh/id_ed25519", "/home/shared/plan.txt", "/srv/www/index.html", "/srv/work/team/notes.txt",
        ]
        for path in personal { try endpoint.write("keep \(path)", to: path, owner: path.hasPrefix("/home/ada") ? (ada.uid, ada.gid) : nil) }
        try endpoint.write("work", to: "/srv/work/ada/offer.odt", owner: (account.uid, account.gid))
        let hostile = ["/home/ada/Documents", "/home/ada/.ssh", "/home/shared", "/srv/www", "/srv/work/../../home/ada", "/srv/work/team", "/srv/work/ada"]
        let receipt = try endpoint.wipe(endpoint.policy(paths: hostile))
        for path in personal { #expect(endpoint.read(path) == "keep \(path)", "\(path) was touched") }
        #expect(!endpoint.exists("/srv/work/ada"))
        #expect(!endpoint.exists("/home/work-ada"))
        #expect(receipt.removed.map(\.path) == ["/home/work-ada", "/srv/work/ada"])
        for path in hostile.dropLast() { #expect(receipt.refused.contains { $0.hasPrefix(path + ": ") }, "\(path) not named: \(receipt.refused)") }
    }

    @Test(
        "a personal folder bind-mounted into the work home, or onto a work path, is left alone and named in the receipt",
        .enabled(if: canBindMount, "bind mounts are not allowed here"))
    func bindMounts() throws {
        let endpoint = try Endpoint()
        let account = try endpoint.createContainer(paths: ["/srv/work/ada"])
        let ada = try endpoint.person()
        try endpoint.write("photo", to: "/home/ada/Photos/kid.jpg", owner: (ada.uid, ada.gid))
        try endpoint.write("shared", to: "/home/ada/Shared/contract.pdf", owner: (ada.uid, ada.gid))
        try endpoint.write("work", to: "/home/work-ada/notes.txt", owner: (account.uid, account.gid))
        #expect(try runAs(account.uid, account.gid, ["/usr/bin/mkdir", endpoint.paths.resolve("/home/work-ada/Photos")]) == 0)
        let mounts = [("/home/ada/Photos", "/home/work-ada/Photos"), ("/home/ada/Shared", "/srv/work/ada")]
        for (from, to) in mounts { try Command.run("mount", ["--bind", endpoint.paths.resolve(from), endpoint.paths.resolve(to)]) }
        defer { for (_, to) in mounts { _ = try? Command.run("umount", [endpoint.paths.resolve(to)]) } }

        let receipt = try endpoint.wipe(endpoint.policy(paths: ["/srv/work/ada"]))
        #expect(endpoint.read("/home/ada/Photos/kid.jpg") == "photo")
        #expect(endpoint.read("/home/ada/Shared/contract.pdf") == "shared")
        #expect(!endpoint.exists("/home/work-ada/notes.txt"))
        #expect(receipt.refused.contains("/home/work-ada/Photos: a file system is mounted here; left alone"), "\(receipt.refused)")
        #expect(receipt.refused.contains { $0.hasPrefix("/srv/work/ada: a file system is mounted here") }, "\(receipt.refused)")
        #expect(receipt.accountRemoved)
    }

    // MARK: 6. Processes and programs.

    @Test("a signal reaches only the process that was examined: not one that got its PID since, not one of another UID")
    func pidIdentity() throws {
        let endpoint = try Endpoint()
        let account = try endpoint.createContainer()
        let worker = try TestProcess(uid: account.uid, gid: account.gid)
        defer { worker.stop() }
        let seen = try #require(ProcessTable.process(worker.pid))
        var reused = seen
        reused.startTime -= 1  // the same PID, another process
        #expect(!ProcessControl.signal(reused, SIGTERM, onlyUID: account.uid))
        #expect(!ProcessControl.signal(seen, SIGTERM, onlyUID: account.uid + 1))
        usleep(100_000)
        #expect(worker.alive)
        #expect(ProcessControl.signal(seen, SIGTERM, onlyUID: account.uid))
        worker.process.waitForExit()
        #expect(!worker.process.isRunning)
    }

    @Test("sha256 rules read the program in pieces up to hashLimitMiB and once per version; a larger one is not hashed and the violation says so")
    func hashing() throws {
        let endpoint = try Endpoint()
        let account = try endpoint.createContainer()
        // A 3 MiB program: sleep with zeros after it still runs.
        let program = endpoint.paths.resolve("/opt/big-sleep")
        try FileManager.default.createDirectory(
            atPath: endpoint.paths.resolve("/opt"), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: URL(fileURLWithPath: "/usr/bin/sleep").resolvingSymlinksInPath().path))
        bytes.append(Data(count: 3 << 20))
        try bytes.write(to: URL(fileURLWithPath: program))
        chmod(program, 0o755)
        let expected = Bytes.sha256Hex(bytes)
        let worker = try TestProcess(uid: account.uid, gid: account.gid, command: [program, "300"])
        defer { worker.stop() }
        let process = try #require(ProcessTable.process(worker.pid))

        let hasher = ExecutableHasher(limit: 64 << 20)
        #expect(hasher.hash(process) == .hash(expected))
        #expect(hasher.hash(process) == .hash(expected))
        #expect(hasher.reads == 1, "an unchanged program was read again")
        guard case .unhashable(let why) = ExecutableHasher(limit: 1 << 20).hash(process) else {
            Issue.record("a program over the limit was hashed")
            return
        }
        #expect(why.contains("larger than hashLimitMiB"))

        // Allowed by its hash with room to read it; over the limit it matches no sha256 rule, and is stopped.
        let allow = AppPolicy(mode: "enforce", allow: [AppRule(sha256: expected)])
        var state = EnforcementState()
        _ = endpoint.enforcer.enforce(endpoint.policy(apps: allow), state: &state, now: Date())
        #expect(worker.alive)
        let small = Enforcer(
            paths: endpoint.paths,
            rules: {
                var r = endpoint.enforcer.rules
                r.hashLimit = 1 << 20
                return r
            }(), freezer: SignalFreezer(), deviceZone: .gmt)
        _ = small.enforce(endpoint.policy(apps: allow), state: &state, now: Date())
        #expect(state.events.contains { $0.kind == "app.violation" && $0.detail?.contains("larger than hashLimitMiB") == true }, "\(state.events)")
        worker.process.waitForExit()
        #expect(!worker.process.isRunning)
    }
}

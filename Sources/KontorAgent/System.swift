import CKontorLinux
import Crypto
import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// A process as /proc shows it.
public struct SystemProcess: Sendable, Equatable, Hashable {
    public var pid: Int32
    /// The real UID.
    public var uid: UInt32
    /// Real, effective, saved and file-system UID (the `Uid:` line of /proc/PID/status).
    public var uids: [UInt32]
    /// The executable (/proc/PID/exe), nil when it cannot be read (kernel threads, a race with exit).
    public var executable: String?
    /// Start time in clock ticks since boot: with the pid it names a process even after pid reuse.
    public var startTime: UInt64
    /// The state letter from /proc/PID/stat (R, S, D, T, …).
    public var state: Character

    /// Whether every UID the process holds is `uid`: only such a process is the work account's to act on
    /// (one that ran a set-UID program of another account is left alone).
    public func isEntirely(_ uid: UInt32) -> Bool { uids.count == 4 && uids.allSatisfy { $0 == uid } }
}

/// Reads processes from /proc.
public enum ProcessTable {
    /// Every process all of whose UIDs are `uid` (never any for UID 0).
    public static func processes(ofUID uid: UInt32, proc: String = "/proc") -> [SystemProcess] {
        guard uid != 0, let entries = try? FileManager.default.contentsOfDirectory(atPath: proc) else { return [] }
        var out: [SystemProcess] = []
        for entry in entries {
            guard let pid = Int32(entry), let process = process(pid, proc: proc), process.isEntirely(uid) else { continue }
            out.append(process)
        }
        return out.sorted { $0.pid < $1.pid }
    }

    /// One process, nil when it is gone.
    public static func process(_ pid: Int32, proc: String = "/proc") -> SystemProcess? {
        guard let status = try? String(contentsOfFile: "\(proc)/\(pid)/status", encoding: .utf8),
            let stat = try? String(contentsOfFile: "\(proc)/\(pid)/stat", encoding: .utf8)
        else { return nil }
        var uids: [UInt32] = []
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            uids = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().compactMap { UInt32($0) }
        }
        // The command name may contain spaces and parentheses: fields start after the last ')'.
        guard let uid = uids.first, let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 20, let state = fields[0].first, let start = UInt64(fields[19]) else { return nil }
        let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(proc)/\(pid)/exe")
        return SystemProcess(
            pid: pid, uid: uid, uids: uids, executable: exe.map { $0.hasSuffix(" (deleted)") ? String($0.dropLast(10)) : $0 }, startTime: start, state: state)
    }

    /// Whether `process` still runs as the same process (pid and start time) and holds only `uid`.
    static func stillIs(_ process: SystemProcess, onlyUID uid: UInt32, proc: String = "/proc") -> Bool {
        guard let now = self.process(process.pid, proc: proc) else { return false }
        return now.startTime == process.startTime && now.isEntirely(uid)
    }
}

/// Signals processes through pidfds (`pidfd_open` + `pidfd_send_signal`): a signal reaches the process
/// that was examined or nobody, never another process that got its PID since, and never a process that
/// holds any UID but the work account's.
public enum ProcessControl {
    /// Sends `signal` to `process` if it is still that process and all its UIDs are `uid` (never 0).
    @discardableResult
    public static func signal(_ process: SystemProcess, _ signal: Int32, onlyUID uid: UInt32, proc: String = "/proc") -> Bool {
        guard uid != 0, process.pid > 1 else { return false }
        let fd = kontor_pidfd_open(process.pid)
        guard fd >= 0 else {
            // A kernel before 5.3 has no pidfds: check again right before the signal (a far smaller window).
            guard errno == ENOSYS, ProcessTable.stillIs(process, onlyUID: uid, proc: proc) else { return false }
            return kill(process.pid, signal) == 0
        }
        defer { close(fd) }
        // The descriptor now pins one process; is it still the one that was examined?
        guard ProcessTable.stillIs(process, onlyUID: uid, proc: proc) else { return false }
        return kontor_pidfd_send_signal(fd, signal) == 0
    }
}

/// Runs a system tool and reports failure with its stderr.
enum Command {
    static func find(_ name: String) -> String? {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    /// Runs `name` (a tool found by `find`, or an absolute path).
    @discardableResult
    static func run(_ name: String, _ arguments: [String], package: String = "passwd") throws -> String {
        guard let path = name.hasPrefix("/") ? name : find(name) else { throw AgentError("\(name) is not installed (it comes with the \(package) package)") }
        let (status, stdout, stderr) = try spawn(path, arguments)
        guard status == 0 else {
            let reason = String(decoding: stderr, as: UTF8.self).trimmingWhitespace()
            throw AgentError("\(name) \(arguments.last ?? "") failed (\(status)): \(reason)")
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}

/// A Unix account as the account database shows it.
public struct Account: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    /// The home directory as recorded (not resolved under the root).
    public var home: String
    /// The GECOS field.
    public var comment: String = ""
}

/// The work account, as the agent created it. Recorded in the agent's state (`container.json`) when it
/// is created and held against the account database before every use: this is the only account the agent
/// ever signals, freezes, locks or deletes.
public struct WorkAccount: Codable, Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    /// As recorded in the account database (not resolved under the root).
    public var home: String
    public var createdAt: Date
}

/// What `container.json` holds: the account being created (written before `useradd` runs, so a crash in
/// between is recognised), then the account itself.
struct ContainerRecord: Codable, Sendable, Equatable {
    var creating: String?
    var account: WorkAccount?
    /// Whether the work home is encrypted (ContainerCrypto); nil for a container made before encryption.
    var encryption: ContainerEncryption?
}

/// Creates, checks, locks and removes the work account with the system's own tools (useradd, usermod,
/// userdel), under the agent's root. It never adopts an account it did not create, creates it only with
/// the reserved name prefix and a UID from the device's own range, and refuses every account that has
/// changed since (another UID, another home).
public struct AccountManager: Sendable {
    let paths: AgentPaths
    let rules: ContainerRules
    static let comment = "Kontor work container"

    public init(paths: AgentPaths, rules: ContainerRules? = nil) {
        self.paths = paths
        self.rules = rules ?? .defaults(for: paths)
    }

    /// Arguments that point useradd/usermod at the root.
    private var prefix: [String] { paths.root == "/" ? [] : ["--prefix", paths.root] }

    public func lookup(_ name: String) -> Account? {
        allAccounts().first { $0.name == name }
    }

    /// Every account in the account database.
    public func allAccounts() -> [Account] {
        guard let text = try? String(contentsOfFile: paths.resolve("/etc/passwd"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 7, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return Account(name: String(f[0]), uid: uid, gid: gid, home: String(f[5]), comment: String(f[4]))
        }
    }

    /// The GID of a group, nil when there is none.
    func groupID(_ name: String) -> UInt32? {
        guard let text = try? String(contentsOfFile: paths.resolve("/etc/group"), encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            if f.count >= 3, f[0] == name { return UInt32(f[2]) }
        }
        return nil
    }

    // MARK: the record

    func record() throws -> ContainerRecord? {
        guard let data = try AtomicFile.read(paths.containerFile) else { return nil }
        do {
            return try KontorJSON.decode(ContainerRecord.self, from: data)
        } catch {
            throw AgentFileError(paths.containerFile, "unreadable record of the work account (\(error)); the agent acts on no account until it is fixed")
        }
    }

    /// Notes a work folder encrypted with the container key (the record is what unlock, lock and wipe use).
    func noteEncryptedFolder(_ path: String) throws {
        guard var record = try record(), var encryption = record.encryption, !(encryption.folders ?? []).contains(path) else { return }
        encryption.folders = (encryption.folders ?? []) + [path]
        record.encryption = encryption
        try save(record)
    }

    private func save(_ record: ContainerRecord?) throws {
        guard let record else {
            if unlink(paths.containerFile) != 0 && errno != ENOENT {
                throw AgentFileError(paths.containerFile, "cannot remove: \(String(cString: strerror(errno)))")
            }
            return
        }
        try AtomicFile.write(try KontorJSON.encode(record, pretty: true), to: paths.containerFile, mode: 0o600)
    }

    /// The recorded work account, whatever the account database says now (the wipe still knows its UID
    /// after someone removed the account) — unless another account now has its UID.
    public func recorded() -> WorkAccount? {
        guard let account = (try? record())??.account else { return nil }
        return allAccounts().contains { $0.uid == account.uid && $0.name != account.name } ? nil : account
    }

    /// The recorded work account if the account database still agrees (same name, UID, GID and home) and
    /// its IDs are in the device's range; otherwise why not.
    public func verified() -> Result<WorkAccount, AgentError> {
        let record: ContainerRecord?
        do { record = try self.record() } catch { return .failure(AgentError("\(error)")) }
        guard let account = record?.account else { return .failure(AgentError("no work account has been created on this device")) }
        return verify(account)
    }

    private func verify(_ account: WorkAccount) -> Result<WorkAccount, AgentError> {
        guard let entry = lookup(account.name) else { return .failure(AgentError("the work account \(account.name) is no longer in the account database")) }
        guard entry.uid == account.uid, entry.gid == account.gid, entry.home == account.home else {
            return .failure(
                AgentError(
                    "the account \(account.name) was changed outside the agent (UID \(entry.uid), GID \(entry.gid), home \(entry.home); created as \(account.uid), \(account.gid), \(account.home)); it is left alone"
                ))
        }
        if let problem = idProblem(account.uid, account.gid) { return .failure(AgentError("\(account.name): \(problem)")) }
        if let other = allAccounts().first(where: { $0.uid == account.uid && $0.name != account.name }) {
            return .failure(AgentError("the work account's UID \(account.uid) is also \(other.name)'s; nothing of that UID is touched"))
        }
        return .success(account)
    }

    /// Why these IDs may not be a work account's, or nil.
    func idProblem(_ uid: UInt32, _ gid: UInt32) -> String? {
        guard uid != 0, gid != 0, rules.ids.contains(uid), rules.ids.contains(gid) else {
            return "UID \(uid) / GID \(gid) is outside the work account IDs \(rules.ids.lowerBound)-\(rules.ids.upperBound) (workAccountIDs in agent.yaml)"
        }
        return nil
    }

    /// The range `useradd` gives people on this system (UID_MIN, UID_MAX of login.defs).
    func peoplesIDs() -> ClosedRange<UInt32> {
        var low: UInt32 = 1000
        var high: UInt32 = 60000
        if let text = try? String(contentsOfFile: paths.resolve("/etc/login.defs"), encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard f.count >= 2, let value = UInt32(f[1]) else { continue }
                if f[0] == "UID_MIN" { low = value }
                if f[0] == "UID_MAX" { high = value }
            }
        }
        return low...max(low, high)
    }

    // MARK: creating, locking, removing

    /// The work account named `name`: the recorded one, or created now (home 0700, its own group, a login
    /// shell, IDs from the device's range) when none was created yet. Refuses names without the reserved
    /// prefix, an existing account the agent did not create, a home folder that already exists, and a
    /// second container beside a recorded one. Returns whether it was created.
    public func ensure(_ name: String) throws -> (WorkAccount, Bool) {
        if let problem = WorkBoundary.accountProblem(name) { throw AgentError("refusing the work account: \(problem)") }
        let record = try self.record()
        if let account = record?.account {
            guard account.name == name else {
                throw AgentError(
                    "the policy names the work account \(name), but this device's work container is \(account.name); the agent keeps one container and never renames or adopts accounts: wipe the container first"
                )
            }
            if lookup(name) != nil { return (try verify(account).get(), false) }
            // Removed by someone else: made again below, from the same record.
        }
        if let existing = lookup(name) {
            // A crash between useradd and the record: the account is ours only if it is exactly what we create.
            guard record?.creating == name, existing.comment == Self.comment, idProblem(existing.uid, existing.gid) == nil else {
                throw AgentError(
                    "an account named \(name) (UID \(existing.uid)) already exists and was not created by this agent; the agent never adopts an existing account: remove or rename it, or use another accountPattern"
                )
            }
            let account = WorkAccount(name: name, uid: existing.uid, gid: existing.gid, home: existing.home, createdAt: Date())
            try save(ContainerRecord(account: account, encryption: try ContainerCrypto.resume(existing, paths: paths)))
            return (account, true)
        }
        let people = peoplesIDs()
        guard !people.overlaps(rules.ids) else {
            throw AgentError(
                "workAccountIDs \(rules.ids.lowerBound)-\(rules.ids.upperBound) overlaps the IDs useradd gives people here (\(people.lowerBound)-\(people.upperBound), UID_MIN/UID_MAX in /etc/login.defs); choose another range in agent.yaml"
            )
        }
        let home = "/home/\(name)"
        var info = stat()
        if lstat(paths.resolve(home), &info) == 0 {
            // Only the home of the recorded account (removed by someone else), or the encrypted one the agent
            // made just before a crash (root's, the record says it was creating it), is taken up again.
            let ours = record?.account.map { $0.home == home && info.st_uid == $0.uid } ?? (record?.creating == name && info.st_uid == 0)
            guard ours, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw AgentError("\(home) already exists (owner UID \(info.st_uid)); the agent never takes over a folder it did not create")
            }
        }
        if paths.root != "/" { try seedScratchRoot() }
        try save(ContainerRecord(creating: name, account: nil, encryption: record?.encryption))
        // A new container gets an encrypted home where the file system can; a recorded one keeps what it had
        // (its home made again, with its own key, when someone removed it).
        var recorded = record?.account.map { _ in record?.encryption ?? ContainerEncryption(unavailable: ContainerCrypto.predatesEncryption) }
        if recorded == nil || (recorded?.keyIdentifier != nil && lstat(paths.resolve(home), &info) != 0) {
            recorded = try ContainerCrypto.prepareHome(home, paths: paths)
        }
        let encryption = recorded ?? ContainerEncryption()
        let created = try useradd(name, home: home, encrypted: encryption.keyIdentifier != nil)
        if encryption.keyIdentifier != nil { try ContainerCrypto.finishHome(home, account: created, paths: paths) }
        let account = WorkAccount(name: name, uid: created.uid, gid: created.gid, home: created.home, createdAt: Date())
        try save(ContainerRecord(account: account, encryption: encryption))
        return (account, true)
    }

    /// Runs useradd for the work account (IDs from the device's range; the home made by useradd unless the
    /// agent made it encrypted already) and checks what it made.
    private func useradd(_ name: String, home: String, encrypted: Bool) throws -> Account {
        let low = rules.ids.lowerBound
        let high = rules.ids.upperBound
        // An encrypted home exists already (empty, root's): useradd must not make one, the agent fills it.
        let createHome = encrypted ? ["--no-create-home"] : ["--create-home", "-K", "HOME_MODE=0700"]
        try Command.run(
            "useradd",
            prefix + createHome + [
                "--home-dir", home, "--shell", "/bin/bash", "--comment", Self.comment, "--user-group",
                "-K", "UID_MIN=\(low)", "-K", "UID_MAX=\(high)", "-K", "GID_MIN=\(low)", "-K", "GID_MAX=\(high)", name,
            ])
        guard let created = lookup(name) else { throw AgentError("useradd \(name) reported success but the account is missing") }
        if let problem = idProblem(created.uid, created.gid) {
            _ = try? Command.run("userdel", prefix + [name])
            throw AgentError("useradd gave \(name) \(problem); removed it again")
        }
        return created
    }

    /// Removes the work account and its private group from the account database, and then its record.
    /// Only when the database still shows the account as created; its files are the wipe's business.
    public func remove(_ account: WorkAccount) throws {
        if let entry = lookup(account.name) {
            guard entry.uid == account.uid else {
                throw AgentError("the account \(account.name) now has UID \(entry.uid), not the work account's \(account.uid); it is left alone")
            }
            try Command.run("userdel", prefix + [account.name])
        }
        // userdel leaves the private group behind where login.defs lacks USERGROUPS_ENAB; a later
        // useradd --user-group would then fail.
        if groupID(account.name) == account.gid { try Command.run("groupdel", prefix + [account.name]) }
        try save(nil)
    }

    /// Allows or refuses new logins (account expiry, which every PAM login path honours).
    public func setLoginAllowed(_ account: WorkAccount, _ allowed: Bool) throws {
        guard loginAllowed(account.name) != allowed else { return }
        _ = try verify(account).get()
        try Command.run("usermod", prefix + ["--expiredate", allowed ? "" : "1", account.name])
    }

    /// Whether the account's expiry date lets it log in.
    public func loginAllowed(_ name: String) -> Bool {
        guard let text = try? String(contentsOfFile: paths.resolve("/etc/shadow"), encoding: .utf8) else { return true }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 8, f[0] == name else { continue }
            guard let expire = Int(f[7]) else { return true }
            return expire > Int(Date().timeIntervalSince1970 / 86_400)
        }
        return true
    }

    /// A scratch root needs account databases before useradd can work in it.
    func seedScratchRoot() throws {
        let files: [(String, String, mode_t)] = [
            ("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644), ("/etc/group", "root:x:0:\n", 0o644),
            ("/etc/shadow", "root:*:19000:0:99999:7:::\n", 0o600), ("/etc/gshadow", "root:*::\n", 0o600),
        ]
        for (path, content, mode) in files where !FileManager.default.fileExists(atPath: paths.resolve(path)) {
            try AtomicFile.write(Data(content.utf8), to: paths.resolve(path), mode: mode)
        }
        try AtomicFile.makeDirectory(paths.resolve("/home"))
        chmod(paths.resolve("/home"), 0o755)
    }
}

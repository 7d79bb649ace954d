import Crypto
import Foundation
import KontorCore

#if canImport(Glibc)
import Glibc
#endif

/// A process as /proc shows it.
public struct SystemProcess: Sendable, Equatable, Hashable {
    public var pid: Int32
    public var uid: UInt32
    /// The executable (/proc/PID/exe), nil when it cannot be read (kernel threads, a race with exit).
    public var executable: String?
    /// Start time in clock ticks since boot: with the pid it names a process even after pid reuse.
    public var startTime: UInt64
    /// The state letter from /proc/PID/stat (R, S, D, T, …).
    public var state: Character
}

/// Reads processes from /proc.
public enum ProcessTable {
    /// Every process whose real or effective UID is `uid`.
    public static func processes(ofUID uid: UInt32, proc: String = "/proc") -> [SystemProcess] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: proc) else { return [] }
        var out: [SystemProcess] = []
        for entry in entries {
            guard let pid = Int32(entry), let process = process(pid, proc: proc), process.uid == uid || effectiveUID(pid, proc: proc) == uid else { continue }
            out.append(process)
        }
        return out.sorted { $0.pid < $1.pid }
    }

    /// One process, nil when it is gone.
    public static func process(_ pid: Int32, proc: String = "/proc") -> SystemProcess? {
        guard let status = try? String(contentsOfFile: "\(proc)/\(pid)/status", encoding: .utf8),
            let stat = try? String(contentsOfFile: "\(proc)/\(pid)/stat", encoding: .utf8)
        else { return nil }
        var uid: UInt32?
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            uid = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
        }
        // The command name may contain spaces and parentheses: fields start after the last ')'.
        guard let uid, let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 20, let state = fields[0].first, let start = UInt64(fields[19]) else { return nil }
        let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(proc)/\(pid)/exe")
        return SystemProcess(pid: pid, uid: uid, executable: exe.map { $0.hasSuffix(" (deleted)") ? String($0.dropLast(10)) : $0 }, startTime: start, state: state)
    }

    static func effectiveUID(_ pid: Int32, proc: String) -> UInt32? {
        guard let status = try? String(contentsOfFile: "\(proc)/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            let parts = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            return parts.count > 2 ? UInt32(parts[2]) : nil
        }
        return nil
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

    @discardableResult
    static func run(_ name: String, _ arguments: [String]) throws -> String {
        guard let path = find(name) else { throw AgentError("\(name) is not installed (it comes with the passwd package)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let reason = String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw AgentError("\(name) \(arguments.last ?? "") failed (\(process.terminationStatus)): \(reason)")
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
}

/// Creates and locks the work account with the system's own tools (useradd, usermod), under the agent's root.
public struct AccountManager: Sendable {
    let paths: AgentPaths

    public init(paths: AgentPaths) { self.paths = paths }

    /// Arguments that point useradd/usermod at the root; a scratch root gets UIDs far from real users.
    private var prefix: [String] { paths.root == "/" ? [] : ["--prefix", paths.root] }

    public func lookup(_ name: String) -> Account? {
        guard let text = try? String(contentsOfFile: paths.resolve("/etc/passwd"), encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 7, f[0] == name, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { continue }
            return Account(name: name, uid: uid, gid: gid, home: String(f[5]))
        }
        return nil
    }

    /// Every account in the account database.
    public func allAccounts() -> [Account] {
        guard let text = try? String(contentsOfFile: paths.resolve("/etc/passwd"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 7, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return Account(name: String(f[0]), uid: uid, gid: gid, home: String(f[5]))
        }
    }

    /// Removes the account (and its private group) from the account database; its files are the wipe's business.
    public func remove(_ name: String) throws {
        guard ContainerNames.isValidAccount(name) else { throw AgentError("\"\(name)\" is not a valid account name") }
        guard let account = lookup(name) else { return }
        try Command.run("userdel", prefix + [name])
        // userdel leaves the private group behind where login.defs lacks USERGROUPS_ENAB; a later
        // useradd --user-group would then fail.
        if groupID(name) == account.gid { try Command.run("groupdel", prefix + [name]) }
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

    /// The account, created (home 0700, its own group, a login shell) when missing. Returns whether it was created.
    public func ensure(_ name: String) throws -> (Account, Bool) {
        guard ContainerNames.isValidAccount(name) else { throw AgentError("\"\(name)\" is not a valid account name") }
        if let account = lookup(name) { return (account, false) }
        if paths.root != "/" { try seedScratchRoot() }
        var args = prefix + ["--create-home", "--shell", "/bin/bash", "--comment", "Kontor work container", "--user-group", "-K", "HOME_MODE=0700"]
        if paths.root != "/" {
            // Each scratch root gets its own block of 20 IDs far above real users, so two test
            // endpoints on one machine never share a UID (processes are found by UID in /proc).
            let low = scratchIDBase
            args += ["-K", "UID_MIN=\(low)", "-K", "UID_MAX=\(low + 19)", "-K", "GID_MIN=\(low)", "-K", "GID_MAX=\(low + 19)"]
        }
        try Command.run("useradd", args + [name])
        guard let account = lookup(name) else { throw AgentError("useradd \(name) reported success but the account is missing") }
        return (account, true)
    }

    /// Allows or refuses new logins (account expiry, which every PAM login path honours).
    public func setLoginAllowed(_ name: String, _ allowed: Bool) throws {
        guard loginAllowed(name) != allowed else { return }
        try Command.run("usermod", prefix + ["--expiredate", allowed ? "" : "1", name])
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

    /// 200000 + 20 × (FNV-1a of the root path mod 40000).
    var scratchIDBase: Int {
        var hash: UInt32 = 2_166_136_261
        for byte in paths.root.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return 200_000 + Int(hash % 40_000) * 20
    }

    /// A scratch root needs account databases before useradd can work in it.
    private func seedScratchRoot() throws {
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

/// Stops and resumes every process of the work account, so "frozen" really means nothing runs.
public protocol Freezer: Sendable {
    /// `cgroup-v2`, `cgroup-v1` or `signals`.
    var mechanism: String { get }
    func freeze(account: String, processes: [SystemProcess]) throws
    func thaw(account: String, processes: [SystemProcess]) throws
    /// Forgets the account (after a wipe): removes what the freezer made for it.
    func discard(account: String)
}

extension Freezer {
    public func discard(account: String) {}
}

/// A cgroup freezer: the account's processes move into a Kontor cgroup, which is then frozen. cgroup v2
/// writes `cgroup.freeze` (1/0), the v1 freezer controller `freezer.state` (FROZEN/THAWED).
public struct CgroupFreezer: Freezer {
    let base: String
    let control: String
    let frozen: String
    let thawed: String
    public let mechanism: String

    /// cgroup v2, rooted at `base` (normally /sys/fs/cgroup).
    public static func v2(base: String) -> CgroupFreezer {
        CgroupFreezer(base: base, control: "cgroup.freeze", frozen: "1", thawed: "0", mechanism: "cgroup-v2")
    }

    /// The v1 freezer controller mounted at `base` (normally /sys/fs/cgroup/freezer).
    public static func v1(base: String) -> CgroupFreezer {
        CgroupFreezer(base: base, control: "freezer.state", frozen: "FROZEN", thawed: "THAWED", mechanism: "cgroup-v1")
    }

    func group(_ account: String) -> String { "\(base)/kontor-\(account)" }

    public func freeze(account: String, processes: [SystemProcess]) throws {
        try CgroupFiles.move(processes, into: group(account))
        try CgroupFiles.write(frozen, to: group(account) + "/" + control)
    }

    public func thaw(account: String, processes: [SystemProcess]) throws {
        if FileManager.default.fileExists(atPath: group(account)) { try CgroupFiles.write(thawed, to: group(account) + "/" + control) }
    }

    public func discard(account: String) {
        guard FileManager.default.fileExists(atPath: group(account)) else { return }
        try? CgroupFiles.write(thawed, to: group(account) + "/" + control)
        rmdir(group(account))
    }
}

/// Where no cgroup freezer is writable: SIGSTOP and SIGCONT.
public struct SignalFreezer: Freezer {
    public var mechanism: String { "signals" }

    public func freeze(account: String, processes: [SystemProcess]) throws {
        for p in processes { kill(p.pid, SIGSTOP) }
    }

    public func thaw(account: String, processes: [SystemProcess]) throws {
        for p in processes { kill(p.pid, SIGCONT) }
    }
}

enum CgroupFiles {
    static func write(_ value: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AgentError("\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let ok = value.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
        guard ok else { throw AgentError("\(path): \(String(cString: strerror(errno)))") }
    }

    static func move(_ processes: [SystemProcess], into group: String) throws {
        if !FileManager.default.fileExists(atPath: group) {
            guard mkdir(group, 0o755) == 0 || errno == EEXIST else { throw AgentError("\(group): \(String(cString: strerror(errno)))") }
        }
        for p in processes {
            // A process that exited in the meantime is fine to miss.
            try? write(String(p.pid), to: group + "/cgroup.procs")
        }
    }
}

public enum Freezers {
    /// The best freezer this machine offers: cgroup v2, then the v1 freezer controller, then signals.
    public static func detect(cgroupRoot: String = "/sys/fs/cgroup") -> any Freezer {
        if FileManager.default.fileExists(atPath: cgroupRoot + "/cgroup.controllers"), access(cgroupRoot, W_OK) == 0 {
            return CgroupFreezer.v2(base: cgroupRoot)
        }
        if FileManager.default.fileExists(atPath: cgroupRoot + "/freezer/freezer.state") || FileManager.default.fileExists(atPath: cgroupRoot + "/freezer/cgroup.procs"),
            access(cgroupRoot + "/freezer", W_OK) == 0
        {
            return CgroupFreezer.v1(base: cgroupRoot + "/freezer")
        }
        return SignalFreezer()
    }
}

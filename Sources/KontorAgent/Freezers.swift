import CKontorLinux
import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Stops and resumes every process of the work account, so "frozen" really means nothing runs. Only
/// processes all of whose UIDs are the work account's are touched, each checked again right before.
public protocol Freezer: Sendable {
    /// `cgroup-v2`, `cgroup-v1` or `signals`.
    var mechanism: String { get }
    func freeze(_ account: WorkAccount, processes: [SystemProcess]) throws
    func thaw(_ account: WorkAccount, processes: [SystemProcess]) throws
    /// Forgets the account (after a wipe): removes what the freezer made for it.
    func discard(_ account: WorkAccount)
}

extension Freezer {
    public func discard(_ account: WorkAccount) {}
}

/// A cgroup freezer: the account's processes move into a Kontor cgroup, which is then frozen. cgroup v2
/// writes `cgroup.freeze` (1/0), the v1 freezer controller `freezer.state` (FROZEN/THAWED).
public struct CgroupFreezer: Freezer {
    let base: String
    let control: String
    let frozen: String
    let thawed: String
    public let mechanism: String
    /// What the cgroup's name starts with, before the account's name (see `prefix(for:)`).
    var prefix = "kontor-"

    /// cgroup v2, rooted at `base` (normally /sys/fs/cgroup).
    public static func v2(base: String, prefix: String = "kontor-") -> CgroupFreezer {
        CgroupFreezer(base: base, control: "cgroup.freeze", frozen: "1", thawed: "0", mechanism: "cgroup-v2", prefix: prefix)
    }

    /// The v1 freezer controller mounted at `base` (normally /sys/fs/cgroup/freezer).
    public static func v1(base: String, prefix: String = "kontor-") -> CgroupFreezer {
        CgroupFreezer(base: base, control: "freezer.state", frozen: "FROZEN", thawed: "THAWED", mechanism: "cgroup-v1", prefix: prefix)
    }

    /// `kontor-` on a real system (`kontor-work-ada`); under a scratch root its tag as well, so the test
    /// endpoints on one machine, whose accounts may share a name, never freeze or thaw each other's group.
    public static func prefix(for paths: AgentPaths) -> String {
        paths.scratchTag.map { "kontor-" + String($0, radix: 16) + "-" } ?? "kontor-"
    }

    func group(_ account: WorkAccount) -> String { "\(base)/\(prefix)\(account.name)" }

    public func freeze(_ account: WorkAccount, processes: [SystemProcess]) throws {
        try CgroupFiles.move(processes, of: account, into: group(account))
        try CgroupFiles.write(frozen, to: group(account) + "/" + control)
        waitUntilFrozen(group(account))
    }

    /// The kernel freezes a cgroup's tasks after the write returns (v1 reads FREEZING meanwhile, v2's
    /// `cgroup.events` says `frozen 0`): waits up to half a second for it to finish, so what the agent then
    /// reports as frozen is frozen. Where the state cannot be read, or it takes longer, it goes on (the next
    /// round freezes again).
    func waitUntilFrozen(_ group: String) {
        let (file, done) = control == "freezer.state" ? ("/freezer.state", "FROZEN") : ("/cgroup.events", "frozen 1")
        for _ in 0..<50 {
            guard let state = try? String(contentsOfFile: group + file, encoding: .utf8) else { return }
            if state.contains(done) { return }
            usleep(10_000)
        }
    }

    public func thaw(_ account: WorkAccount, processes: [SystemProcess]) throws {
        if FileManager.default.fileExists(atPath: group(account)) { try CgroupFiles.write(thawed, to: group(account) + "/" + control) }
    }

    public func discard(_ account: WorkAccount) {
        guard FileManager.default.fileExists(atPath: group(account)) else { return }
        try? CgroupFiles.write(thawed, to: group(account) + "/" + control)
        rmdir(group(account))
    }
}

/// Where no cgroup freezer is writable: SIGSTOP and SIGCONT, through pidfds.
public struct SignalFreezer: Freezer {
    public var mechanism: String { "signals" }

    public init() {}

    public func freeze(_ account: WorkAccount, processes: [SystemProcess]) throws {
        for p in processes { ProcessControl.signal(p, SIGSTOP, onlyUID: account.uid) }
    }

    public func thaw(_ account: WorkAccount, processes: [SystemProcess]) throws {
        for p in processes { ProcessControl.signal(p, SIGCONT, onlyUID: account.uid) }
    }
}

public enum Freezers {
    /// The best freezer this machine offers. Under systemd: the work account's own units frozen in place
    /// (`UnitFreezer`), through systemd on the unified hierarchy, through the cgroup v2 files on a hybrid
    /// one; for the rest, and without systemd: cgroup v2, then the v1 freezer controller, then signals.
    /// `groupPrefix` names the freezer's own cgroups (`CgroupFreezer.prefix(for:)`).
    public static func detect(cgroupRoot: String = "/sys/fs/cgroup", systemd: String = "/run/systemd/system", groupPrefix: String = "kontor-")
        -> any Freezer
    {
        let each = perProcess(cgroupRoot: cgroupRoot, groupPrefix: groupPrefix)
        guard FileManager.default.fileExists(atPath: systemd) else { return each }
        // systemd freezes units itself where the unified hierarchy has the freezer (its own test).
        if FileManager.default.fileExists(atPath: cgroupRoot + "/cgroup.controllers"),
            FileManager.default.fileExists(atPath: cgroupRoot + "/init.scope/cgroup.freeze"), let systemctl = Command.find("systemctl")
        {
            return UnitFreezer(
                hierarchy: cgroupRoot, control: .systemd({ verb, unit in try Command.run(systemctl, [verb, unit], package: "systemd") }), fallback: each)
        }
        let unified = cgroupRoot + "/unified"
        if FileManager.default.fileExists(atPath: unified + "/cgroup.controllers"), access(unified, W_OK) == 0 {
            return UnitFreezer(hierarchy: unified, control: .cgroupFile, fallback: each)
        }
        return each
    }

    /// The freezer for single processes: cgroup v2, then the v1 freezer controller, then signals.
    static func perProcess(cgroupRoot: String, groupPrefix: String) -> any Freezer {
        if FileManager.default.fileExists(atPath: cgroupRoot + "/cgroup.controllers"), access(cgroupRoot, W_OK) == 0 {
            return CgroupFreezer.v2(base: cgroupRoot, prefix: groupPrefix)
        }
        if FileManager.default.fileExists(atPath: cgroupRoot + "/freezer/freezer.state")
            || FileManager.default.fileExists(atPath: cgroupRoot + "/freezer/cgroup.procs"),
            access(cgroupRoot + "/freezer", W_OK) == 0
        {
            return CgroupFreezer.v1(base: cgroupRoot + "/freezer", prefix: groupPrefix)
        }
        return SignalFreezer()
    }
}

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Freezes the work account's own systemd units where they are, as systemd itself does: its user
/// manager `user@UID.service` (where a desktop starts the programs) and its login sessions
/// (`session-N.scope`), the children of `user-UID.slice`. Through systemd (`systemctl freeze`) where
/// systemd supports freezing (the unified cgroup hierarchy), else by writing `cgroup.freeze` of the
/// unit's cgroup v2 directory (a hybrid hierarchy, where systemd refuses to freeze units). No process is
/// moved out of its unit.
///
/// A unit is frozen only when every process in it holds only the work UID: a session whose leader runs
/// as root (an SSH or display-manager session worker) or a set-UID program the work user started is
/// never frozen whole; the work account's processes in it, and those outside its slice, go to
/// `fallback` one by one, as everywhere else.
public struct UnitFreezer: Freezer {
    public enum Control: Sendable {
        /// `systemctl freeze|thaw UNIT`.
        case systemd(@Sendable (_ verb: String, _ unit: String) throws -> Void)
        /// Writes `1`/`0` to the unit's `cgroup.freeze`.
        case cgroupFile
    }

    /// The cgroup v2 hierarchy: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid).
    let hierarchy: String
    let control: Control
    let fallback: any Freezer
    let proc: String

    public init(hierarchy: String, control: Control, fallback: any Freezer, proc: String = "/proc") {
        self.hierarchy = hierarchy
        self.control = control
        self.fallback = fallback
        self.proc = proc
    }

    public var mechanism: String {
        switch control {
        case .systemd: "systemd-units+\(fallback.mechanism)"
        case .cgroupFile: "cgroup-v2-units+\(fallback.mechanism)"
        }
    }

    func slice(_ account: WorkAccount) -> String { "\(hierarchy)/user.slice/user-\(account.uid).slice" }

    /// The units in the account's slice that hold its processes and nothing else, with their PIDs.
    func ownUnits(_ account: WorkAccount) -> [(unit: String, pids: [Int32])] {
        guard account.uid != 0, let names = try? FileManager.default.contentsOfDirectory(atPath: slice(account)) else { return [] }
        var out: [(String, [Int32])] = []
        for name in names.sorted() where Self.isUnitName(name) {
            guard let pids = Self.members(slice(account) + "/" + name), !pids.isEmpty else { continue }
            let onlyWork = pids.allSatisfy { pid in ProcessTable.process(pid, proc: proc).map { $0.isEntirely(account.uid) } ?? true }
            if onlyWork { out.append((name, pids)) }
        }
        return out
    }

    public func freeze(_ account: WorkAccount, processes: [SystemProcess]) throws {
        var frozen = Set<Int32>()
        for (unit, pids) in ownUnits(account) {
            if requested(account, unit) != "1" { try set(account, unit, frozen: true) }
            frozen.formUnion(pids)
        }
        try fallback.freeze(account, processes: processes.filter { !frozen.contains($0.pid) })
    }

    public func thaw(_ account: WorkAccount, processes: [SystemProcess]) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: slice(account))) ?? []
        for unit in names.sorted() where Self.isUnitName(unit) && requested(account, unit) == "1" {
            try set(account, unit, frozen: false)
        }
        try fallback.thaw(account, processes: processes)
    }

    public func discard(_ account: WorkAccount) { fallback.discard(account) }

    /// What the unit's `cgroup.freeze` asks for: "1" frozen, "0" not.
    private func requested(_ account: WorkAccount, _ unit: String) -> String? {
        (try? String(contentsOfFile: "\(slice(account))/\(unit)/cgroup.freeze", encoding: .utf8))?.trimmingWhitespace()
    }

    private func set(_ account: WorkAccount, _ unit: String, frozen: Bool) throws {
        switch control {
        case .systemd(let run): try run(frozen ? "freeze" : "thaw", unit)
        case .cgroupFile: try CgroupFiles.write(frozen ? "1" : "0", to: "\(slice(account))/\(unit)/cgroup.freeze")
        }
    }

    /// systemd's own units in a user slice: `user@UID.service`, `session-N.scope`, … (never a path).
    static func isUnitName(_ name: String) -> Bool {
        guard name.hasSuffix(".service") || name.hasSuffix(".scope"), !name.hasPrefix("."), name.count <= 255 else { return false }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "@._-\\".unicodeScalars.contains($0)
        }
    }

    /// Every PID in a cgroup and the cgroups below it; nil when it cannot be read.
    static func members(_ directory: String) -> [Int32]? {
        guard let text = try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8) else { return nil }
        var pids = text.split(separator: "\n").compactMap { Int32($0) }
        for child in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            var info = stat()
            guard lstat(directory + "/" + child, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { continue }
            // A part that cannot be read could hold anyone's process: then the unit is not frozen whole.
            guard let below = members(directory + "/" + child) else { return nil }
            pids += below
        }
        return pids
    }
}

import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Writing a cgroup's control files and moving the work account's processes into it.
enum CgroupFiles {
    static func write(_ value: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw AgentError("\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let ok = value.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
        guard ok else { throw AgentError("\(path): \(String(cString: strerror(errno)))") }
    }

    /// Moves the account's processes into `group`. A PID cannot be pinned for this write, so each is
    /// checked right before (still the same process, only the work UID); one that exited is fine to miss.
    static func move(_ processes: [SystemProcess], of account: WorkAccount, into group: String) throws {
        if !FileManager.default.fileExists(atPath: group) {
            guard mkdir(group, 0o755) == 0 || errno == EEXIST else { throw AgentError("\(group): \(String(cString: strerror(errno)))") }
        }
        for p in processes where ProcessTable.stillIs(p, onlyUID: account.uid) {
            try? write(String(p.pid), to: group + "/cgroup.procs")
        }
    }
}

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Where the agent keeps things. Every path is resolved under `root` (default /), so tests and demos
/// run the whole agent against a scratch tree.
public struct AgentPaths: Sendable, Equatable {
    public let root: String

    public init(root: String = "/") {
        self.root = root.isEmpty ? "/" : root
    }

    /// A short tag of a scratch root (nil for the real one), for what lives outside the root and would
    /// otherwise be shared by every test endpoint on one machine: work account IDs, freezer cgroups.
    public var scratchTag: UInt32? {
        guard root != "/" else { return nil }
        var hash: UInt32 = 2_166_136_261  // FNV-1a
        for byte in root.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return hash
    }

    /// `root` + an absolute path.
    public func resolve(_ absolute: String) -> String {
        root == "/" ? absolute : (root.hasSuffix("/") ? String(root.dropLast()) : root) + absolute
    }

    public var configFile: String { resolve("/etc/kontor/agent.yaml") }
    public var stateDir: String { resolve("/var/lib/kontor/agent") }
    public var keyFile: String { stateDir + "/device.key" }
    public var identityFile: String { stateDir + "/identity.json" }
    public var stateFile: String { stateDir + "/state.json" }
    public var policyFile: String { stateDir + "/policy.json" }
    /// The text of the usage terms the policy names, as fetched from the server.
    public var termsFile: String { stateDir + "/terms.json" }
    /// The work account the agent created (the only one it ever acts on).
    public var containerFile: String { stateDir + "/container.json" }
    /// What is left after a confirmed wipe: which device this was and its receipt (no key, no state).
    public var tombstoneFile: String { stateDir + "/wiped.json" }
    /// The employee's early end of quiet hours (`kontor-agent quiet-hours override`).
    public var overrideFile: String { stateDir + "/override.json" }
    /// The daemon's local socket, in the folder the unit creates (`RuntimeDirectory=kontor-agent`): how the
    /// person at the device asks for status, an override or the usage terms without root.
    public var localSocket: String { resolve("/run/kontor-agent/agent.sock") }
    public var machineIdFile: String { resolve("/etc/machine-id") }
    /// A random stand-in for /etc/machine-id when the root has none (scratch roots).
    public var fallbackMachineIdFile: String { stateDir + "/machine-id" }
}

/// A file-system problem, naming the path.
public struct AgentFileError: Error, CustomStringConvertible {
    public let description: String
    init(_ path: String, _ what: String) { description = "\(path): \(what)" }
    init(description: String) { self.description = description }
}

/// Atomic file writes: a kill -9 at any instant leaves either the old or the new content, never a mix.
public enum AtomicFile {
    /// Writes `data` to a temporary file in the same directory (created with `mode`), fsyncs it,
    /// renames it over `path` and fsyncs the directory.
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws {
        let directory = parent(of: path)
        try makeDirectory(directory)
        let temp = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw AgentFileError(temp, "cannot create: \(String(cString: strerror(errno)))") }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        ok = ok && fchmod(fd, mode) == 0 && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw AgentFileError(path, "cannot write: \(reason)")
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    /// The folder holding `path` (`/a/b` for `/a/b/c`, `/` for `/a`, `` for `a`), as NSString's
    /// `deletingLastPathComponent` gave it.
    static func parent(of path: String) -> String {
        var parts = path.split(separator: "/")
        guard !parts.isEmpty else { return path.hasPrefix("/") ? "/" : "" }
        parts.removeLast()
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : joined
    }

    /// Creates `path` and its parents with mode 0700 if missing.
    public static func makeDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw AgentFileError(path, "exists and is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw AgentFileError(path, "cannot create directory: \(error)")
        }
    }

    /// The file's content, or nil when it does not exist.
    public static func read(_ path: String) throws -> Data? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { throw AgentFileError(path, "cannot read") }
        return data
    }
}

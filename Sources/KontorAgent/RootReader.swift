import CKontorLinux

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Reads files under the agent's root as if that root were `/`: symlinks are followed, but an absolute
/// target or a `..` never leaves the root (like `openat2`'s `RESOLVE_IN_ROOT`, done by hand so it works on
/// any kernel), every step is an `openat` on a descriptor with `O_NOFOLLOW`, at most 40 links are followed
/// (a loop ends there), and reads stop at a byte limit. The files read (sysfs, efivars, apt and dpkg
/// state) belong to root, but nothing in them is trusted: a value that does not parse is "unknown".
struct RootReader: Sendable {
    let root: String
    static let maxLinks = 40
    /// Longer lines are skipped by ``forEachLine(_:limit:_:)``.
    static let maxLine = 64 * 1024

    init(root: String) { self.root = root.isEmpty ? "/" : root }

    init(paths: AgentPaths) { self.init(root: paths.root) }

    /// Opens `path` (absolute, as on the device) with `flags`; -1 with errno set when it cannot.
    func open(_ path: String, _ flags: Int32 = O_RDONLY) -> Int32 {
        var pending = Array(path.split(separator: "/", omittingEmptySubsequences: true).map(String.init).reversed())
        let rootFD = Glibc.open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { return -1 }
        var stack = [rootFD]
        defer { for fd in stack { close(fd) } }
        var links = 0
        while let name = pending.popLast() {
            let dir = stack[stack.count - 1]
            if name == "." { continue }
            if name == ".." {
                if stack.count > 1 { close(stack.removeLast()) }
                continue
            }
            var info = stat()
            guard fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return -1 }
            if (info.st_mode & S_IFMT) == S_IFLNK {
                links += 1
                guard links <= Self.maxLinks, let target = Self.readLink(dir, name) else {
                    errno = ELOOP
                    return -1
                }
                if target.hasPrefix("/") {
                    while stack.count > 1 { close(stack.removeLast()) }
                }
                pending += target.split(separator: "/", omittingEmptySubsequences: true).map(String.init).reversed()
                continue
            }
            if pending.isEmpty {
                let saved = Glibc.openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC)
                return saved
            }
            let next = Glibc.openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else { return -1 }
            stack.append(next)
        }
        // The path named the root itself (or resolved to it).
        return Glibc.openat(stack[stack.count - 1], ".", flags | O_CLOEXEC)
    }

    private static func readLink(_ dir: Int32, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlinkat(dir, name, &buffer, buffer.count)
        guard n > 0, n < buffer.count else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Opens `path` for reading when it is a regular file; -1 otherwise (sysfs and procfs files are regular).
    private func openFile(_ path: String) -> Int32 {
        // O_NONBLOCK: a FIFO put where a file is expected must not hang the agent on open (regular files ignore it).
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { return -1 }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return -1
        }
        return fd
    }

    /// A file time as a date.
    static func date(_ time: timespec) -> Date { Date(timeIntervalSince1970: Double(time.tv_sec) + Double(time.tv_nsec) / 1e9) }

    /// The first `limit` bytes of the file, or nil when it cannot be opened, is not a regular file, or
    /// is longer than `limit` (then nothing is trusted).
    func read(_ path: String, limit: Int = 64 * 1024) -> [UInt8]? {
        let fd = openFile(path)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(limit + 1, 64 * 1024))
        while out.count <= limit {
            let n = Glibc.read(fd, &chunk, min(chunk.count, limit + 1 - out.count))
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { break }
            out += chunk[..<n]
        }
        return out.count > limit ? nil : out
    }

    /// The file as text (invalid UTF-8 repaired), or nil as for ``read(_:limit:)``.
    func text(_ path: String, limit: Int = 64 * 1024) -> String? {
        read(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether something exists at `path` (a dangling link does not).
    func exists(_ path: String) -> Bool {
        let fd = open(path, O_PATH)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    /// The modification time of `path`, or nil.
    func modified(_ path: String) -> Date? {
        let fd = open(path, O_PATH)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return Self.date(info.st_mtim)
    }

    /// An entry of a directory listing: its name, type and modification time (the entry itself, not what a
    /// link points to).
    struct Entry: Equatable {
        var name: String
        var isLink: Bool
        var isFile: Bool
        var modified: Date
    }

    /// The entries of the directory at `path` (without `.` and `..`), at most `limit` of them, or nil when it
    /// cannot be opened.
    func list(_ path: String, limit: Int = 20_000) -> [Entry]? {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0, let dir = fdopendir(fd) else { return nil }
        defer { closedir(dir) }
        var out: [Entry] = []
        while out.count < limit, let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name != ".", name != ".." else { continue }
            var info = stat()
            guard fstatat(dirfd(dir), name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let mode = info.st_mode & S_IFMT
            out.append(
                Entry(
                    name: name, isLink: mode == S_IFLNK, isFile: mode == S_IFREG,
                    modified: Self.date(info.st_mtim)))
        }
        return out
    }

    /// Calls `body` with each line of the file (without its newline), reading 64 KiB at a time, so a large
    /// file (dpkg's status, an archive's package list) is never held whole; lines over 64 KiB are skipped.
    /// Stops after `limit` bytes. A file ending in `.lz4` (apt's compressed lists) is decoded on the way, its
    /// compressed form read whole (at most 64 MiB). False when the file cannot be opened or decoded.
    func forEachLine(_ path: String, limit: Int = 256 * 1024 * 1024, _ body: (Substring) -> Void) -> Bool {
        var lines = LineSplitter()
        if path.hasSuffix(".lz4") {
            guard let compressed = read(path, limit: 64 * 1024 * 1024) else { return false }
            do { try LZ4Frame.decode(compressed, limit: limit) { lines.feed($0, body) } } catch { return false }
            lines.finish(body)
            return true
        }
        let fd = openFile(path)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var total = 0
        while total < limit {
            let n = Glibc.read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            total += n
            lines.feed(chunk[..<n], body)
        }
        lines.finish(body)
        return true
    }
}

/// Cuts bytes arriving in pieces into lines, skipping lines longer than ``RootReader/maxLine``.
struct LineSplitter {
    private var buffer: [UInt8] = []
    private var skipping = false

    mutating func feed(_ chunk: ArraySlice<UInt8>, _ body: (Substring) -> Void) {
        var start = chunk.startIndex
        for i in chunk.indices where chunk[i] == UInt8(ascii: "\n") {
            if !skipping && buffer.count + (i - start) <= RootReader.maxLine {
                buffer += chunk[start..<i]
                body(Substring(String(decoding: buffer, as: UTF8.self)))
            }
            buffer.removeAll(keepingCapacity: true)
            skipping = false
            start = i + 1
        }
        if !skipping { buffer += chunk[start..<chunk.endIndex] }
        if buffer.count > RootReader.maxLine {
            skipping = true
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// The last line, when the input did not end with a newline.
    mutating func finish(_ body: (Substring) -> Void) {
        if !buffer.isEmpty && !skipping { body(Substring(String(decoding: buffer, as: UTF8.self))) }
        buffer.removeAll()
    }
}

extension RootReader {
    /// `text` without leading and trailing ASCII whitespace (sysfs values end with a newline).
    static func trimmed(_ text: some StringProtocol) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        return String(text.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}

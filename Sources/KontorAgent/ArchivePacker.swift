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

/// What was packed: the age file's size and SHA-256, the files in it, and what was left out and why.
struct PackedArchive: Equatable {
    var size: Int64
    var sha256: String
    var files: Int
    var leftOut: [String]
}

/// Packs work folders into one tar stream encrypted to the organisation's age recipients, written to a
/// 0600 file of the agent's own: the plaintext never touches the disk outside the container, and only the
/// holders of the recipients' identities can read the result. Folders are read through descriptors the
/// boundary checks opened; inside them nothing is followed (a symlink is left out, so is anything on another
/// mount, a device or a pipe), and files are opened with `O_NOFOLLOW | O_NONBLOCK` and read only when they
/// are regular files of the work account: a file of another owner there (a hard link to a file the work
/// account could not read, or something root left) is not work data and is left out.
struct ArchivePacker {
    private var encryptor: AgeEncryptor
    private var hasher = SHA256()
    private let out: Int32
    private let path: String
    /// The work account's UID: only its files are read.
    private let owner: UInt32
    private(set) var size: Int64 = 0
    private(set) var files = 0
    private(set) var leftOut: [String] = []
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    /// At most this many left-out entries are named (the count of the rest is added).
    static let namedLeftOut = 50

    /// Packs every `(name in the archive, opened folder)` into `spool` (replaced when it is there: a pack a
    /// crash interrupted starts again).
    static func pack(
        _ folders: [(name: String, dir: OpenedDirectory)], owner: UInt32, recipients: [AgeRecipient], to spool: String
    ) throws -> PackedArchive {
        var packer = try ArchivePacker(recipients: recipients, owner: owner, to: spool)
        do {
            for folder in folders { try packer.add(folder.dir, as: folder.name) }
            return try packer.finish()
        } catch {
            close(packer.out)
            unlink(spool)
            throw error
        }
    }

    private init(recipients: [AgeRecipient], owner: UInt32, to spool: String) throws {
        self.owner = owner
        do { encryptor = try AgeEncryptor(recipients: recipients) } catch { throw AgentError("retention.recipients: \(error)") }
        unlink(spool)
        out = open(spool, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw AgentFileError(spool, "cannot create the archive: \(String(cString: strerror(errno)))") }
        path = spool
        try emit(encryptor.header)
    }

    /// The folder open at `dir` and everything in it, named `name` in the archive.
    private mutating func add(_ dir: OpenedDirectory, as name: String) throws {
        var info = stat()
        guard fstat(dir.fd, &info) == 0 else { throw AgentFileError("/" + name, "cannot read: \(String(cString: strerror(errno)))") }
        try put(TarEntry(name: name, kind: .directory, mode: UInt32(info.st_mode), mtime: Int64(info.st_mtim.tv_sec)))
        let fd = dup(dir.fd)
        guard fd >= 0 else { throw AgentFileError("/" + name, "cannot read: \(String(cString: strerror(errno)))") }
        try addContents(of: fd, as: name, mount: dir.mount, depth: 0)
    }

    /// What is inside the directory open at `fd` (closed at the end).
    private mutating func addContents(of fd: Int32, as name: String, mount: MountPoint, depth: Int) throws {
        guard let dir = fdopendir(fd) else {
            close(fd)
            throw AgentFileError("/" + name, "cannot read: \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        guard depth < 512 else { return note("/\(name): nested more than 512 folders deep; what is below is left out") }
        var entries: [String] = []
        while let entry = readdir(dir) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if entryName != "." && entryName != ".." { entries.append(entryName) }
        }
        for entry in entries.sorted() {
            try addEntry(entry, in: fd, parent: name, mount: mount, depth: depth)
        }
    }

    private mutating func addEntry(_ entry: String, in fd: Int32, parent: String, mount: MountPoint, depth: Int) throws {
        let name = parent + "/" + entry
        var info = stat()
        guard fstatat(fd, entry, &info, AT_SYMLINK_NOFOLLOW) == 0, let here = MountPoint.of(fd, entry) else {
            if errno != ENOENT { note("/\(name): \(String(cString: strerror(errno)))") }
            return
        }
        if mount.isOtherMount(here) { return note("/\(name): another file system is mounted here; left out") }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            let child = openat(fd, entry, WorkPaths.openFlags)
            guard child >= 0 else { return note("/\(name): \(String(cString: strerror(errno)))") }
            try put(TarEntry(name: name, kind: .directory, mode: UInt32(info.st_mode), mtime: Int64(info.st_mtim.tv_sec)))
            try addContents(of: child, as: name, mount: mount, depth: depth + 1)
        case S_IFREG:
            try addFile(entry, in: fd, as: name)
        case S_IFLNK:
            note("/\(name): a symbolic link; not followed, left out")
        default:
            note("/\(name): not a regular file (a device, pipe or socket); left out")
        }
    }

    /// One regular file, read through its own descriptor (checked again after opening).
    private mutating func addFile(_ entry: String, in dirfd: Int32, as name: String) throws {
        let fd = openat(dirfd, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return note("/\(name): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return note("/\(name): changed into something else while archived; left out") }
        guard info.st_uid == owner else { return note("/\(name): owned by UID \(info.st_uid), not the work account; left out") }
        let size = UInt64(info.st_size)
        try put(TarEntry(name: name, kind: .file(size: size), mode: UInt32(info.st_mode), mtime: Int64(info.st_mtim.tv_sec)))
        var remaining = size
        while remaining > 0 {
            let n = read(fd, &buffer, Int(min(UInt64(buffer.count), remaining)))
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw AgentFileError("/" + name, "cannot read: \(String(cString: strerror(errno)))") }
            if n == 0 {
                // Shorter than when it was counted: the header's size is kept, the rest is zeros.
                note("/\(name): shrank while archived; filled with zeros to its first size")
                try emit(encrypted: [UInt8](repeating: 0, count: Int(remaining)))
                break
            }
            try emit(encrypted: buffer[0..<n])
            remaining -= UInt64(n)
        }
        try emit(encrypted: TarWriter.padding(after: size))
        files += 1
    }

    private mutating func put(_ entry: TarEntry) throws {
        do { try emit(encrypted: try TarWriter.header(for: entry)) } catch let error as TarError { throw AgentError("\(error)") }
    }

    private mutating func note(_ text: String) {
        if leftOut.count < Self.namedLeftOut { leftOut.append(text) } else if leftOut.count == Self.namedLeftOut { leftOut.append("… and more left out") }
    }

    private mutating func emit(encrypted plaintext: some Collection<UInt8>) throws {
        try emit(encryptor.update(plaintext))
    }

    /// Writes bytes of the age file, hashing them.
    private mutating func emit(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        hasher.update(data: bytes)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(out, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw AgentFileError(path, "cannot write the archive: \(String(cString: strerror(errno)))") }
            offset += n
        }
        size += Int64(bytes.count)
    }

    private mutating func finish() throws -> PackedArchive {
        try emit(encrypted: TarWriter.end())
        try emit(encryptor.finish())
        guard fsync(out) == 0 else { throw AgentFileError(path, "cannot write the archive: \(String(cString: strerror(errno)))") }
        close(out)
        return PackedArchive(size: size, sha256: Bytes.hex(hasher.finalize()), files: files, leftOut: leftOut)
    }
}

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

/// Whether the work container is encrypted, as recorded when it was created.
struct ContainerEncryption: Codable, Sendable, Equatable {
    /// The kernel's identifier of the container key (hex) when the work home is encrypted.
    var keyIdentifier: String?
    /// Why it is not, when it is not (the file system, the encrypt feature, the kernel).
    var unavailable: String?
    /// The profile's work folders outside the home encrypted with the same key (as on the device).
    var folders: [String]?
}

/// The work home's encryption: a random key per container, kept only in the agent's state (0600, never
/// sent anywhere) and in the kernel while the container is unlocked. Destroying the key is the wipe's
/// cryptographic erase.
enum ContainerCrypto {
    struct StoredKey: Codable {
        var identifier: String
        /// Base64 of the 64 raw bytes.
        var key: String
    }

    static func keyFile(_ paths: AgentPaths) -> String { paths.stateDir + "/container-key.json" }

    static let predatesEncryption = "the work container was made before the agent encrypted containers; it is encrypted when it is made again after a wipe"

    /// The stored key and its identifier; nil when there is none.
    static func load(_ paths: AgentPaths) throws -> (raw: [UInt8], identifier: FSCrypt.KeyIdentifier)? {
        guard let data = try AtomicFile.read(keyFile(paths)) else { return nil }
        guard let stored = try? KontorJSON.decode(StoredKey.self, from: data), let raw = Data(base64Encoded: stored.key), raw.count == FSCrypt.keySize,
            let identifier = FSCrypt.KeyIdentifier(hex: stored.identifier)
        else { throw AgentFileError(keyFile(paths), "is not a container key") }
        return (Array(raw), identifier)
    }

    /// Creates the work home `home` (root-owned, 0700, empty) encrypted with a new key, when its file system
    /// can encrypt; the key is stored before it is used, so a crash leaves nothing unreadable behind.
    static func prepareHome(_ home: String, paths: AgentPaths) throws -> ContainerEncryption {
        let parent = paths.resolve(AtomicFile.parent(of: home))
        let parentFD = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard parentFD >= 0 else { throw AgentFileError(parent, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(parentFD) }
        if case .unavailable(let why) = FSCrypt.capability(of: parentFD, path: AtomicFile.parent(of: home)) { return ContainerEncryption(unavailable: why) }
        let name = String(home.split(separator: "/").last ?? "")
        guard mkdirat(parentFD, name, 0o700) == 0 || errno == EEXIST else {
            throw AgentFileError(home, "cannot create the work home: \(String(cString: strerror(errno)))")
        }
        let homeFD = openat(parentFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard homeFD >= 0 else { throw AgentFileError(home, "cannot open the work home: \(String(cString: strerror(errno)))") }
        defer { close(homeFD) }
        var info = stat()
        guard fstat(homeFD, &info) == 0, info.st_uid == 0 else { throw AgentFileError(home, "is not the folder the agent created (not owned by root)") }
        // A stored key (a retry after a crash) goes into the kernel again; a new one is added as it is made.
        let key: (raw: [UInt8], identifier: FSCrypt.KeyIdentifier)
        if let stored = try load(paths) {
            _ = try FSCrypt.addKey(stored.raw, on: homeFD)
            key = stored
        } else {
            key = try newStoredKey(paths, on: homeFD)
        }
        switch try FSCrypt.policy(of: homeFD) {
        case key.identifier?: break
        case nil: try FSCrypt.setPolicy(on: homeFD, key.identifier)
        case let other?: throw AgentFileError(home, "is encrypted with another key (\(other)) than the container's")
        }
        return ContainerEncryption(keyIdentifier: key.identifier.hex)
    }

    private static func newStoredKey(_ paths: AgentPaths, on fd: Int32) throws -> (raw: [UInt8], identifier: FSCrypt.KeyIdentifier) {
        let raw = FSCrypt.newKey()
        // The identifier is the kernel's to derive: adding the key gives it, and the file is written before
        // anything is encrypted with it.
        let identifier = try FSCrypt.addKey(raw, on: fd)
        let stored = StoredKey(identifier: identifier.hex, key: Data(raw).base64EncodedString())
        try AtomicFile.write(try KontorJSON.encode(stored), to: keyFile(paths), mode: 0o600)
        return (raw, identifier)
    }

    /// Fills the encrypted home from /etc/skel (regular files and folders, through descriptors, never
    /// following a link), as useradd would have, and gives it to the work account.
    static func finishHome(_ home: String, account: Account, paths: AgentPaths) throws {
        let homeFD = open(paths.resolve(home), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard homeFD >= 0 else { throw AgentFileError(home, "cannot open the work home: \(String(cString: strerror(errno)))") }
        defer { close(homeFD) }
        // Filled while still root's (the account cannot touch it yet), then given away: a crash in between
        // leaves a root-owned home that the next start fills (files already there are kept) and gives away.
        let skel = open(paths.resolve("/etc/skel"), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if skel >= 0 {
            defer { close(skel) }
            try copyTree(from: skel, to: homeFD, account: account, depth: 0)
        }
        guard fchown(homeFD, account.uid, account.gid) == 0, fchmod(homeFD, 0o700) == 0 else {
            throw AgentFileError(home, "cannot give the work home to \(account.name): \(String(cString: strerror(errno)))")
        }
    }

    private static func copyTree(from source: Int32, to target: Int32, account: Account, depth: Int) throws {
        guard depth < 8 else { return }
        for (name, isDirectory) in entries(of: source) {
            if isDirectory {
                let from = openat(source, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard from >= 0 else { continue }
                defer { close(from) }
                guard mkdirat(target, name, 0o700) == 0 || errno == EEXIST else { continue }
                let to = openat(target, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard to >= 0 else { continue }
                defer { close(to) }
                fchown(to, account.uid, account.gid)
                try copyTree(from: from, to: to, account: account, depth: depth + 1)
            } else {
                copyFile(name, from: source, to: target, account: account)
            }
        }
    }

    /// The names in the folder `fd` that are regular files (false) or folders (true); links and the rest are skipped.
    private static func entries(of fd: Int32) -> [(String, Bool)] {
        let dupFD = dup(fd)
        guard dupFD >= 0, let dir = fdopendir(dupFD) else { return [] }
        defer { closedir(dir) }
        var out: [(String, Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard name != ".", name != ".." else { continue }
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: out.append((name, true))
            case S_IFREG: out.append((name, false))
            default: continue
            }
        }
        return out
    }

    private static func copyFile(_ name: String, from source: Int32, to target: Int32, account: Account) {
        let input = openat(source, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard input >= 0 else { return }
        defer { close(input) }
        let output = openat(target, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard output >= 0 else { return }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = read(input, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            guard write(output, buffer, n) == n else { break }
        }
        var info = stat()
        if fstat(input, &info) == 0 { fchmod(output, info.st_mode & 0o777) }
        fchown(output, account.uid, account.gid)
    }

    /// After a crash between useradd and the record: whether the home the agent made is encrypted with the
    /// stored key (then it is given to the account and filled, if that had not happened yet).
    static func resume(_ account: Account, paths: AgentPaths) throws -> ContainerEncryption {
        let fd = open(paths.resolve(account.home), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return ContainerEncryption(unavailable: "the work home \(account.home) is missing") }
        defer { close(fd) }
        guard let key = try load(paths), try FSCrypt.policy(of: fd) == key.identifier else {
            if case .unavailable(let why) = FSCrypt.capability(of: fd, path: account.home) { return ContainerEncryption(unavailable: why) }
            return ContainerEncryption(unavailable: "the work home was created without encryption")
        }
        var info = stat()
        if fstat(fd, &info) == 0, info.st_uid == 0 { try finishHome(account.home, account: account, paths: paths) }
        return ContainerEncryption(keyIdentifier: key.identifier.hex)
    }

    /// Puts the container key into the kernel when it is not there (after a boot), on the file system of the
    /// home and of every encrypted work folder; nothing when the container is not encrypted. Throws when the
    /// key the container needs is gone.
    static func ensureUnlocked(_ encryption: ContainerEncryption?, home: String, paths: AgentPaths) throws {
        guard let wanted = encryption?.keyIdentifier, let identifier = FSCrypt.KeyIdentifier(hex: wanted) else { return }
        for folder in [home] + (encryption?.folders ?? []) {
            let fd = open(paths.resolve(folder), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else {
                // A work folder someone removed is made again (encrypted) by the enforcement; the home must be there.
                if folder == home || errno != ENOENT { throw AgentFileError(folder, "cannot open: \(String(cString: strerror(errno)))") }
                continue
            }
            defer { close(fd) }
            if FSCrypt.keyPresent(identifier, on: fd) == true { continue }
            guard let key = try load(paths), key.identifier == identifier else {
                throw AgentFileError(keyFile(paths), "the work container's key \(wanted) is missing; its files cannot be read")
            }
            _ = try FSCrypt.addKey(key.raw, on: fd)
        }
    }

    /// Encrypts a work folder outside the home with the container key, when it is new (empty, no policy) and
    /// its file system can; true when it is encrypted with the key (now or before). A folder that holds files
    /// already stays as it is (fscrypt encrypts only empty folders) and the wipe can only delete it.
    static func encryptFolder(_ dir: OpenedDirectory, path: String, encryption: ContainerEncryption, paths: AgentPaths) throws -> Bool {
        guard let wanted = encryption.keyIdentifier, let key = try load(paths), key.identifier.hex == wanted else { return false }
        if let existing = try FSCrypt.policy(of: dir.fd) {
            guard existing == key.identifier else { throw AgentFileError(path, "is encrypted with another key (\(existing)) than the container's") }
            return true
        }
        guard case .available = FSCrypt.capability(of: dir.fd, path: path), isEmpty(dir.fd) else { return false }
        _ = try FSCrypt.addKey(key.raw, on: dir.fd)
        try FSCrypt.setPolicy(on: dir.fd, key.identifier)
        return true
    }

    /// Whether the folder holds nothing at all (read through a descriptor of its own, not `fd`'s position).
    private static func isEmpty(_ fd: Int32) -> Bool {
        let own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard own >= 0, let dir = fdopendir(own) else { return false }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { return false }
        }
        return true
    }

    /// Folders on each file system that holds the container's encrypted folders (the parents of the home and
    /// of the work folders, one per file system): the key is removed through these, never through an
    /// encrypted folder itself (that would keep it busy).
    private static func keyHolders(_ encryption: ContainerEncryption?, home: String, paths: AgentPaths) -> [String] {
        var devices = Set<UInt64>()
        var holders: [String] = []
        for folder in [home] + (encryption?.folders ?? []) {
            let parent = AtomicFile.parent(of: folder)
            var info = stat()
            guard lstat(paths.resolve(parent), &info) == 0, devices.insert(UInt64(info.st_dev)).inserted else { continue }
            holders.append(parent)
        }
        return holders
    }

    /// Removes the key from every file system that holds it; the weakest result counts (files still busy
    /// anywhere means busy).
    private static func removeEverywhere(_ identifier: FSCrypt.KeyIdentifier, _ encryption: ContainerEncryption?, home: String, paths: AgentPaths) throws
        -> FSCrypt.Removal
    {
        var result = FSCrypt.Removal.removed
        for holder in keyHolders(encryption, home: home, paths: paths) {
            let fd = open(paths.resolve(holder), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            let removal = try FSCrypt.removeKey(identifier, on: fd)
            if removal != .removed { result = removal }
        }
        return result
    }

    /// Takes the key out of the kernel (the container is locked) and keeps its stored copy for the unlock.
    /// Repeated while the lock lasts: files that were still open when it was first removed are evicted
    /// once they are closed.
    static func lockKey(_ encryption: ContainerEncryption?, home: String, paths: AgentPaths) throws -> FSCrypt.Removal? {
        guard let hex = encryption?.keyIdentifier, let identifier = FSCrypt.KeyIdentifier(hex: hex) else { return nil }
        return try removeEverywhere(identifier, encryption, home: home, paths: paths)
    }

    /// The cryptographic erase: the key leaves the kernel (the file system of `home`) and its only copy is
    /// overwritten and removed. Safe to repeat (a resumed wipe): what is gone already counts as done.
    static func destroyKey(_ encryption: ContainerEncryption?, home: String, paths: AgentPaths) throws -> FSCrypt.Removal? {
        guard let hex = encryption?.keyIdentifier, let identifier = FSCrypt.KeyIdentifier(hex: hex) else { return nil }
        // The folders may be gone already (a resumed wipe): their parents are what the key is removed through.
        let removal = try removeEverywhere(identifier, encryption, home: home, paths: paths)
        try shred(keyFile(paths))
        return removal
    }

    /// Overwrites the file with zeros (synced) and removes it; nothing when it is not there.
    static func shred(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            guard errno == ENOENT else { throw AgentFileError(path, "cannot open to destroy: \(String(cString: strerror(errno)))") }
            return
        }
        var info = stat()
        if fstat(fd, &info) == 0, info.st_size > 0 {
            let zeros = [UInt8](repeating: 0, count: Int(info.st_size))
            _ = pwrite(fd, zeros, zeros.count, 0)
            fsync(fd)
        }
        close(fd)
        guard unlink(path) == 0 || errno == ENOENT else { throw AgentFileError(path, "cannot remove: \(String(cString: strerror(errno)))") }
        let dir = open(AtomicFile.parent(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}

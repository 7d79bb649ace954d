import CKontorLinux
import KontorCore
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Where a work path belongs: below the work home (which the work account owns), or below one of the
/// device's work roots (`workRoots` in agent.yaml, which root owns).
struct WorkRoot: Equatable {
    var path: String
    var isHome: Bool

    /// The root `path` lies in for `account`, or nil when it lies in none (then it is not work data).
    static func of(_ path: String, account: WorkAccount, rules: ContainerRules) -> WorkRoot? {
        if WorkBoundary.isAtOrBelow(path, account.home) { return WorkRoot(path: account.home, isHome: true) }
        return rules.workRoots.first { WorkBoundary.isBelow(path, $0) }.map { WorkRoot(path: $0, isHome: false) }
    }
}

/// Refused by the boundary: names the folder and why.
struct BoundaryError: Error, CustomStringConvertible {
    let description: String
    init(_ path: String, _ why: String) { description = "\(path): \(why)" }
}

/// A directory reached component by component, and its parent (to remove it by name).
final class OpenedDirectory {
    let fd: Int32
    let parent: Int32
    let leaf: String
    let mount: MountPoint

    init(fd: Int32, parent: Int32, leaf: String, mount: MountPoint) {
        self.fd = fd
        self.parent = parent
        self.leaf = leaf
        self.mount = mount
    }

    deinit {
        close(fd)
        if parent >= 0 { close(parent) }
    }
}

/// Which mount a file is on, from statx (the mount ID tells a bind mount from the file system it shows,
/// which `st_dev` cannot).
struct MountPoint: Equatable {
    var id: UInt64?
    var device: UInt64
    var isRoot: Bool

    /// `name` in the directory `dirfd` ("" for `dirfd` itself), without following a symlink.
    static func of(_ dirfd: Int32, _ name: String) -> MountPoint? {
        var id: UInt64 = 0
        var hasID: Int32 = 0
        var isRoot: Int32 = 0
        var info = stat()
        let statted = name.isEmpty ? fstat(dirfd, &info) : fstatat(dirfd, name, &info, AT_SYMLINK_NOFOLLOW)
        guard statted == 0 else { return nil }
        guard kontor_statx_mount(dirfd, name, &id, &hasID, &isRoot) == 0 else {
            return MountPoint(id: nil, device: UInt64(info.st_dev), isRoot: false)
        }
        return MountPoint(id: hasID != 0 ? id : nil, device: UInt64(info.st_dev), isRoot: isRoot != 0)
    }

    /// Whether `child` is on another mount than this directory: a mount root, another mount ID, another device.
    func isOtherMount(_ child: MountPoint) -> Bool {
        if child.isRoot || child.device != device { return true }
        if let mine = id, let theirs = child.id { return mine != theirs }
        return false
    }
}

/// Opens and creates work folders one component at a time from the agent's root, with `openat` and
/// `O_NOFOLLOW | O_DIRECTORY` at every step and `mkdirat` + `fchown` on the opened descriptor, so no
/// symlink or rename swapped in by anyone can make root act on another file. Every folder above the
/// work-owned part must belong to root and be writable by root alone; every folder in the work-owned
/// part must belong to the work account and not be a mount point.
enum WorkPaths {
    static let openFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
    /// Called between creating a folder and taking hold of it: tests widen that moment, as a loaded
    /// machine would, so a racing work user has every chance.
    static let afterCreate = Mutex<(@Sendable (String) -> Void)?>(nil)

    /// Opens `path` (as on the device) within `root`; with `create`, makes what is missing (root-owned 0755
    /// up to the work root, work-owned 0700 below it). nil when it does not exist and `create` is false.
    static func open(_ path: String, in root: WorkRoot, account: WorkAccount, paths: AgentPaths, create: Bool) throws -> OpenedDirectory? {
        if let problem = WorkBoundary.plainPathProblem(path) { throw BoundaryError(path, problem) }
        guard root.isHome ? WorkBoundary.isAtOrBelow(path, root.path) : WorkBoundary.isBelow(path, root.path) else {
            throw BoundaryError(path, "not in \(root.path)")
        }
        let components = path.dropFirst().split(separator: "/").map(String.init)
        let rootDepth = root.path.dropFirst().split(separator: "/").count
        var current = Glibc.open(paths.root, openFlags & ~O_NOFOLLOW)
        guard current >= 0 else { throw BoundaryError(paths.root, "cannot open the agent's root: \(String(cString: strerror(errno)))") }
        guard var mount = MountPoint.of(current, "") else { throw BoundaryError(paths.root, "cannot read: \(String(cString: strerror(errno)))") }
        var parent: Int32 = -1
        var shown = ""
        defer {
            // On any way out but success both are handed on (set to -1 below).
            if current >= 0 { close(current) }
            if parent >= 0 { close(parent) }
        }
        for (index, name) in components.enumerated() {
            let workOwned = index + 1 > rootDepth || (index + 1 == rootDepth && root.isHome)
            shown += "/" + name
            do {
                let mayCreate = create && !(root.isHome && index + 1 <= rootDepth)
                guard let fd = try descend(current, name, shown: shown, create: mayCreate, workOwned: workOwned, account: account) else {
                    if create { throw Refusal("missing (the work home is made by useradd)") }
                    return nil
                }
                let here: MountPoint
                do { here = try check(fd, workOwned: workOwned, under: mount, account: account) } catch {
                    close(fd)
                    throw error
                }
                if parent >= 0 { close(parent) }
                (parent, current, mount) = (current, fd, here)
            } catch let refusal as Refusal {
                throw BoundaryError(shown, refusal.why)
            }
        }
        let opened = OpenedDirectory(fd: current, parent: parent, leaf: components.last ?? "", mount: mount)
        (current, parent) = (-1, -1)
        return opened
    }

    /// Why one step of a walk was refused.
    private struct Refusal: Error {
        let why: String
        init(_ why: String) { self.why = why }
    }

    /// Opens `name` in the directory `dirfd` without following a symlink; with `create`, makes it when it is
    /// missing and gives it to its owner through the opened descriptor. nil when it is missing and `create`
    /// is false.
    private static func descend(_ dirfd: Int32, _ name: String, shown: String, create: Bool, workOwned: Bool, account: WorkAccount) throws -> Int32? {
        let fd = openat(dirfd, name, openFlags)
        if fd >= 0 { return fd }
        let error = errno
        if error == ELOOP || error == ENOTDIR { throw Refusal("a symlink or not a folder; the agent never follows one") }
        guard error == ENOENT else { throw Refusal(String(cString: strerror(error))) }
        guard create else { return nil }
        if mkdirat(dirfd, name, workOwned ? 0o700 : 0o755) != 0 && errno != EEXIST { throw Refusal("cannot create: \(String(cString: strerror(errno)))") }
        afterCreate.withLock { $0 }?(shown)
        let made = openat(dirfd, name, openFlags)
        guard made >= 0 else { throw Refusal("cannot open what was just created: \(String(cString: strerror(errno)))") }
        var info = stat()
        // Root made it: give it to its owner through the descriptor, whatever is at the path by now.
        if fstat(made, &info) == 0, info.st_uid == 0 {
            let ok = workOwned ? fchown(made, account.uid, account.gid) == 0 && fchmod(made, 0o700) == 0 : fchmod(made, 0o755) == 0
            if !ok {
                let reason = String(cString: strerror(errno))
                close(made)
                throw Refusal("cannot set its owner: \(reason)")
            }
        }
        return made
    }

    /// Checks the folder open at `fd`: in the work-owned part it belongs to the work account and is no mount
    /// point; above it, it belongs to root and is writable by root alone. Returns its mount.
    private static func check(_ fd: Int32, workOwned: Bool, under parent: MountPoint, account: WorkAccount) throws -> MountPoint {
        var info = stat()
        guard fstat(fd, &info) == 0, let here = MountPoint.of(fd, "") else { throw Refusal("cannot read: \(String(cString: strerror(errno)))") }
        if workOwned {
            guard !parent.isOtherMount(here) else { throw Refusal("a file system is mounted here; left alone") }
            guard info.st_uid == account.uid else { throw Refusal("owned by UID \(info.st_uid), not by the work account (UID \(account.uid)); left alone") }
        } else {
            guard info.st_uid == 0, info.st_mode & 0o022 == 0 else {
                throw Refusal(
                    "owned by UID \(info.st_uid) with mode \(String(info.st_mode & 0o7777, radix: 8)); a folder above the work folder must belong to root and be writable by root alone"
                )
            }
        }
        return here
    }

    /// Creates the work path `path` for `account` (owned by it, 0700), within the device's roots.
    @discardableResult
    static func ensure(_ path: String, account: WorkAccount, rules: ContainerRules, paths: AgentPaths, otherHomes: [String]) throws -> OpenedDirectory? {
        if let problem = WipePlanner.problem(with: path, account: account, rules: rules, otherHomes: otherHomes) { throw BoundaryError(path, problem) }
        guard let root = WorkRoot.of(path, account: account, rules: rules) else { throw BoundaryError(path, "outside the work roots") }
        return try open(path, in: root, account: account, paths: paths, create: true)
    }
}

/// Counts and removes file trees through directory descriptors: never following a symlink (it is removed
/// as a link), never entering another mount (a personal folder bind-mounted into the work home is left
/// alone and named).
enum FileTree {
    struct Walk {
        var files = 0
        var bytes: Int64 = 0
        var errors: [String] = []
        /// Mount points inside the tree, left alone.
        var leftAlone: [String] = []
    }

    /// Walks what is inside the directory `dir` (shown as `display`); with `remove`, unlinks every file and
    /// removes every directory after its contents. `dir` stays open.
    static func walk(_ dir: OpenedDirectory, display: String, remove: Bool) -> Walk {
        var result = Walk()
        let fd = dup(dir.fd)
        guard fd >= 0 else {
            result.errors.append("\(display): \(String(cString: strerror(errno)))")
            return result
        }
        walkDirectory(fd, display: display, mount: dir.mount, remove: remove, depth: 0, into: &result)
        return result
    }

    /// Walks the directory open at `fd` (and closes it).
    private static func walkDirectory(_ fd: Int32, display: String, mount: MountPoint, remove: Bool, depth: Int, into result: inout Walk) {
        guard let dir = fdopendir(fd) else {
            result.errors.append("\(display): \(String(cString: strerror(errno)))")
            close(fd)
            return
        }
        defer { closedir(dir) }
        guard depth < 512 else {
            result.errors.append("\(display): nested more than 512 directories deep")
            return
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        for name in names {
            let child = display + "/" + name
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, let childMount = MountPoint.of(fd, name) else {
                if errno != ENOENT { result.errors.append("\(child): \(String(cString: strerror(errno)))") }
                continue
            }
            if mount.isOtherMount(childMount) {
                result.leftAlone.append("\(child): a file system is mounted here; left alone")
                continue
            }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                let childFD = openat(fd, name, WorkPaths.openFlags)
                guard childFD >= 0 else {
                    result.errors.append("\(child): \(String(cString: strerror(errno)))")
                    continue
                }
                walkDirectory(childFD, display: child, mount: mount, remove: remove, depth: depth + 1, into: &result)
                if remove, unlinkat(fd, name, AT_REMOVEDIR) != 0, errno != ENOENT, errno != ENOTEMPTY || result.leftAlone.isEmpty {
                    result.errors.append("\(child): \(String(cString: strerror(errno)))")
                }
            } else {
                result.files += 1
                result.bytes += Int64(st.st_size)
                if remove, unlinkat(fd, name, 0) != 0, errno != ENOENT { result.errors.append("\(child): \(String(cString: strerror(errno)))") }
            }
        }
    }
}

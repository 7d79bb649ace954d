import Crypto
import Foundation
import KontorCore

#if canImport(Glibc)
import Glibc
#endif

/// The steps of a wipe, in order. After each one the journal on disk says it is done, so a crash or a
/// power cut at any point resumes at the next step and the wipe still ends with exactly one receipt.
public enum WipeStep: String, Codable, Sendable, CaseIterable {
    /// The journal is written: from here on the wipe will finish, whatever happens.
    case journaled
    /// Logins refused, the container's processes frozen.
    case frozen
    /// Every process of the work account killed (also those that ignore SIGTERM).
    case killed
    /// Files and bytes of every work path counted, for the receipt.
    case measured
    /// The first work path removed (the crash test's "in the middle of deleting").
    case deletedFirstPath
    /// Every work path removed.
    case deleted
    /// The work account removed.
    case accountRemoved
    /// Cached policies and the container's enforcement state dropped.
    case cleaned
    /// The receipt built and signed with the device key.
    case signed
    /// The server confirmed the receipt (the agent then destroys its key and state).
    case confirmed
}

/// What the agent has durably recorded about a wipe in progress.
public struct WipeJournal: Codable, Sendable, Equatable {
    /// The receipt's ID.
    public var id: String
    /// `command`, `offline` or `revoked`.
    public var trigger: String
    public var commandId: String?
    public var deviceId: String
    public var startedAt: Date
    public var account: String?
    public var uid: UInt32?
    /// The paths to remove, as on the device (not resolved under the agent root).
    public var targets: [String]
    /// Paths left alone, and why.
    public var refused: [String]
    public var measured: [RemovedPath] = []
    public var steps: [WipeStep] = []
    public var processesKilled = 0
    public var accountRemoved = false
    public var finishedAt: Date?
    public var receipt: SignedReceipt?
    /// Whether the server was told (best effort) that the wipe command was received.
    public var acknowledged = false

    public func done(_ step: WipeStep) -> Bool { steps.contains(step) }
}

/// A simulated crash, thrown by a test's wipe hook.
public struct SimulatedCrash: Error, CustomStringConvertible {
    public let step: WipeStep
    public init(_ step: WipeStep) { self.step = step }
    public var description: String { "simulated crash after \(step.rawValue)" }
}

/// Called after every step is recorded; tests crash the wipe there. `fromEnvironment` reads
/// `KONTOR_AGENT_TEST_CRASH_AFTER=<step>` and kills the process with SIGKILL there (end-to-end tests only).
public struct WipeHook: Sendable {
    let after: @Sendable (WipeStep) throws -> Void

    public init(_ after: @escaping @Sendable (WipeStep) throws -> Void) { self.after = after }

    public static let none = WipeHook { _ in }

    public static func fromEnvironment() -> WipeHook {
        guard let wanted = ProcessInfo.processInfo.environment["KONTOR_AGENT_TEST_CRASH_AFTER"].flatMap(WipeStep.init(rawValue:)) else { return .none }
        return WipeHook { step in
            if step == wanted { kill(getpid(), SIGKILL) }
        }
    }
}

/// Decides what a wipe may remove. Only the container's home and the policy's work paths, and only
/// where they really are work data: under the allowed roots (after resolving symlinked parents), not
/// another account's home or a parent of one, and the home only when the work account owns it.
enum WipePlanner {
    static func plan(account: Account?, workPaths: [String], paths: AgentPaths, otherHomes: [String]) -> (targets: [String], refused: [String]) {
        var targets: [String] = []
        var refused: [String] = []
        var candidates: [(String, Bool)] = []
        if let account { candidates.append((account.home, true)) }
        for path in workPaths { candidates.append((path, false)) }
        for (raw, isHome) in candidates {
            let path = normalise(raw)
            if let problem = problem(with: path, isHome: isHome, account: account, paths: paths, otherHomes: otherHomes) {
                refused.append("\(raw): \(problem)")
            } else if !targets.contains(path) {
                targets.append(path)
            }
        }
        return (targets, refused)
    }

    static func normalise(_ path: String) -> String {
        var out = path
        while out.count > 1 && out.hasSuffix("/") { out.removeLast() }
        return out
    }

    static func problem(with path: String, isHome: Bool, account: Account?, paths: AgentPaths, otherHomes: [String]) -> String? {
        guard path.hasPrefix("/"), !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            return "not a plain absolute path"
        }
        guard let root = ProfileValidator.allowedWorkRoots.first(where: { path.hasPrefix($0) }), path.count > root.count else {
            return "outside the roots work data may live in (\(ProfileValidator.allowedWorkRoots.joined(separator: ", ")))"
        }
        for home in otherHomes.map(normalise) where home != account.map({ normalise($0.home) }) {
            if home == path || home.hasPrefix(path + "/") { return "it is, or holds, the home of another account (\(home))" }
        }
        // A symlinked parent must not lead out of the allowed roots (e.g. /srv/work -> /home/ada).
        let parent = (path as NSString).deletingLastPathComponent
        let resolvedRoot = realPath(paths.resolve(String(root.dropLast()))) ?? paths.resolve(String(root.dropLast()))
        if let resolvedParent = realPath(paths.resolve(parent)) {
            guard resolvedParent == resolvedRoot || resolvedParent.hasPrefix(resolvedRoot + "/") else {
                return "its parent resolves to \(resolvedParent), outside \(root)"
            }
        }
        if isHome, let account {
            var info = stat()
            if lstat(paths.resolve(path), &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFDIR else { return "the home is not a directory" }
                guard info.st_uid == account.uid else { return "the home is owned by UID \(info.st_uid), not by the work account" }
            }
        }
        return nil
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// Counts and removes file trees without following symlinks and without crossing into other file
/// systems (a personal disk mounted inside a work folder is left alone, and reported).
enum FileTree {
    struct Walk {
        var files = 0
        var bytes: Int64 = 0
        var errors: [String] = []
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Walks `path` depth first; with `remove`, unlinks every file and removes every directory after its
    /// contents. Works relative to open directory descriptors (openat, fstatat, unlinkat with
    /// O_NOFOLLOW), so a symlink swapped in during the walk is removed as a link and never followed.
    static func walk(_ path: String, remove: Bool) -> Walk {
        var result = Walk()
        var info = stat()
        guard lstat(path, &info) == 0 else { return result }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            result.files = 1
            result.bytes = Int64(info.st_size)
            if remove, unlink(path) != 0, errno != ENOENT { result.errors.append("\(path): \(String(cString: strerror(errno)))") }
            return result
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            result.errors.append("\(path): \(String(cString: strerror(errno)))")
            return result
        }
        walkDirectory(fd, display: path, device: info.st_dev, remove: remove, depth: 0, into: &result)
        if remove, rmdir(path) != 0, errno != ENOENT { result.errors.append("\(path): \(String(cString: strerror(errno)))") }
        return result
    }

    /// Walks the directory open at `fd` (and closes it).
    private static func walkDirectory(_ fd: Int32, display: String, device: dev_t, remove: Bool, depth: Int, into result: inout Walk) {
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
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno != ENOENT { result.errors.append("\(child): \(String(cString: strerror(errno)))") }
                continue
            }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                guard st.st_dev == device else {
                    result.errors.append("\(child): another file system is mounted here; left alone")
                    continue
                }
                let childFD = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard childFD >= 0 else {
                    result.errors.append("\(child): \(String(cString: strerror(errno)))")
                    continue
                }
                walkDirectory(childFD, display: child, device: device, remove: remove, depth: depth + 1, into: &result)
                if remove, unlinkat(fd, name, AT_REMOVEDIR) != 0, errno != ENOENT {
                    result.errors.append("\(child): \(String(cString: strerror(errno)))")
                }
            } else {
                result.files += 1
                result.bytes += Int64(st.st_size)
                if remove, unlinkat(fd, name, 0) != 0, errno != ENOENT { result.errors.append("\(child): \(String(cString: strerror(errno)))") }
            }
        }
    }

    /// Removes `path` completely, repeating when something was written into it meanwhile. Returns what
    /// could not be removed.
    static func removeAll(_ path: String, passes: Int = 5) -> [String] {
        var errors: [String] = []
        for _ in 0..<passes {
            errors = walk(path, remove: true).errors
            if !exists(path) { return [] }
        }
        return errors.isEmpty ? ["\(path): still present after \(passes) passes"] : Array(errors.prefix(10))
    }
}

/// Runs the journaled wipe of the work container.
struct Wiper: Sendable {
    let paths: AgentPaths
    let accounts: AccountManager
    let freezer: any Freezer
    let clock: WallClock
    let hook: WipeHook

    var journalFile: String { Self.journalFile(paths) }

    static func journalFile(_ paths: AgentPaths) -> String { paths.stateDir + "/wipe.json" }

    static func readJournal(_ paths: AgentPaths) throws -> WipeJournal? {
        let journalFile = journalFile(paths)
        guard let data = try AtomicFile.read(journalFile) else { return nil }
        do {
            return try KontorJSON.decode(WipeJournal.self, from: data)
        } catch {
            throw AgentFileError(journalFile, "unreadable wipe journal (\(error)); it was written atomically, so the file was edited or the disk is failing")
        }
    }

    func journal() throws -> WipeJournal? { try Self.readJournal(paths) }

    func save(_ journal: WipeJournal) throws {
        try AtomicFile.write(try KontorJSON.encode(journal, pretty: true), to: journalFile, mode: 0o600)
    }

    func record(_ step: WipeStep, _ journal: inout WipeJournal) throws {
        if !journal.done(step) { journal.steps.append(step) }
        try save(journal)
        try hook.after(step)
    }

    /// Plans the wipe and writes its journal; from here on it will complete. Returns the existing journal when one is there.
    func begin(trigger: String, commandId: String?, deviceId: String, policy: EffectivePolicy?, knownAccount: String?) throws -> WipeJournal {
        if let existing = try journal() { return existing }
        let name = policy?.container?.account ?? knownAccount
        let account = name.flatMap { accounts.lookup($0) }
        let otherHomes = accounts.allAccounts().filter { $0.name != name }.map(\.home)
        let (targets, refused) = WipePlanner.plan(account: account, workPaths: policy?.container?.extraWorkPaths ?? [], paths: paths, otherHomes: otherHomes)
        var journal = WipeJournal(
            id: IdentifierGenerator.uuidV7(now: clock.now()), trigger: trigger, commandId: commandId, deviceId: deviceId, startedAt: clock.now(),
            account: name, uid: account?.uid, targets: targets, refused: refused)
        try record(.journaled, &journal)
        return journal
    }

    /// Carries the wipe on from wherever the journal says it stopped, up to a signed receipt.
    func run(_ journal: inout WipeJournal, key: Curve25519.Signing.PrivateKey, agentVersion: String) throws {
        let account = journal.account.flatMap { accounts.lookup($0) }
        if !journal.done(.frozen) {
            if let account {
                try? accounts.setLoginAllowed(account.name, false)
                try? freezer.freeze(account: account.name, processes: ProcessTable.processes(ofUID: account.uid))
            }
            try record(.frozen, &journal)
        }
        if !journal.done(.killed) {
            if let uid = journal.uid, let name = journal.account {
                journal.processesKilled += killAll(uid: uid, account: name)
            }
            try record(.killed, &journal)
        }
        if !journal.done(.measured) {
            journal.measured = journal.targets.map { target in
                let resolved = paths.resolve(target)
                let walk = FileTree.walk(resolved, remove: false)
                return RemovedPath(path: target, files: walk.files, bytes: walk.bytes, existed: FileTree.exists(resolved))
            }
            try record(.measured, &journal)
        }
        if !journal.done(.deleted) {
            // Anything the account still runs (a process started between the steps) dies first.
            if let uid = journal.uid, let name = journal.account { journal.processesKilled += killAll(uid: uid, account: name) }
            for (i, target) in journal.targets.enumerated() {
                let leftovers = FileTree.removeAll(paths.resolve(target))
                for problem in leftovers where !journal.refused.contains(problem) { journal.refused.append("could not remove \(problem)") }
                if i == 0 { try record(.deletedFirstPath, &journal) }
            }
            try record(.deleted, &journal)
        }
        if !journal.done(.accountRemoved) {
            if let name = journal.account, accounts.lookup(name) != nil {
                try accounts.remove(name)
                freezer.discard(account: name)
            }
            journal.accountRemoved = journal.account != nil && journal.account.flatMap { accounts.lookup($0) } == nil
            try record(.accountRemoved, &journal)
        }
        if !journal.done(.cleaned) {
            for file in [paths.policyFile, paths.stateDir + "/override.json"] where FileTree.exists(file) { unlink(file) }
            try record(.cleaned, &journal)
        }
        if !journal.done(.signed) {
            let finished = clock.now()
            journal.finishedAt = finished
            let receipt = WipeReceipt(
                id: journal.id, deviceId: journal.deviceId, trigger: journal.trigger, commandId: journal.commandId, account: journal.account,
                accountRemoved: journal.accountRemoved, processesKilled: journal.processesKilled, removed: journal.measured, refused: journal.refused,
                startedAt: journal.startedAt, finishedAt: finished, agentVersion: agentVersion)
            journal.receipt = try SignedReceipt.sign(receipt, key: key)
            try record(.signed, &journal)
        }
    }

    /// SIGKILLs every process of `uid` until none is left (thawing, so frozen ones die too); returns how many.
    private func killAll(uid: UInt32, account: String) -> Int {
        var killed = Set<String>()
        for _ in 0..<100 {
            // A killed child of ours stays a zombie until reaped: it runs nothing, so it does not count.
            let processes = ProcessTable.processes(ofUID: uid).filter { $0.state != "Z" }
            if processes.isEmpty { break }
            for p in processes where p.pid != getpid() {
                kill(p.pid, SIGKILL)
                killed.insert("\(p.pid):\(p.startTime)")
            }
            try? freezer.thaw(account: account, processes: processes)
            usleep(20_000)
        }
        return killed.count
    }
}

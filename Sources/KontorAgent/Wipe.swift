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

/// The steps of a wipe, in order. After each one the journal on disk says it is done, so a crash or a
/// power cut at any point resumes at the next step and the wipe still ends with exactly one receipt.
public enum WipeStep: String, Codable, Sendable, CaseIterable {
    /// The journal is written: from here on the wipe will finish, whatever happens.
    case journaled
    /// Logins refused, the container's processes frozen.
    case frozen
    /// Every process of the work account killed (also those that ignore SIGTERM).
    case killed
    /// The profile's retained paths packed into an archive encrypted to the organisation (or noted why not).
    case archived
    /// The server accepted the archive's first chunk (the crash test's "in the middle of uploading").
    case uploadStarted
    /// The server confirmed the whole archive, or the wipe gave up on it (timeout, `bestEffort`, refused).
    case uploaded
    /// Files and bytes of every work path counted, for the receipt.
    case measured
    /// The container key out of the kernel and its only copy destroyed (a cryptographic erase), or noted
    /// why there was none.
    case keyDestroyed
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
    /// `cryptoErase+delete` or `delete`, and why not the first (for the receipt).
    public var method: String?
    public var methodNote: String?
    /// The archive of retained data made before the key is destroyed (the profile's `retention`).
    public var archive: WipeArchive?

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

/// Decides what a wipe may remove: the work account's home and the policy's work paths, and only where
/// they are work data by the device's own rules (`WorkBoundary`, agent.yaml's `workRoots`): a plain
/// absolute path at or below the work home or below a work root, never another account's home, a folder
/// in one or a folder holding one. What is on disk is checked again when each path is opened
/// (`WorkPaths.open`: no symlinks, owners, mounts).
enum WipePlanner {
    static func plan(account: WorkAccount?, workPaths: [String], rules: ContainerRules, otherHomes: [String]) -> (targets: [String], refused: [String]) {
        var targets: [String] = []
        var refused: [String] = []
        guard let account else {
            return ([], workPaths.map { "\($0): no work account was created on this device, so nothing here is its work data" })
        }
        for path in [account.home] + workPaths {
            if let problem = problem(with: path, account: account, rules: rules, otherHomes: otherHomes) {
                refused.append("\(path): \(problem)")
            } else if !targets.contains(path) {
                targets.append(path)
            }
        }
        return (targets, refused)
    }

    /// Why `path` is not the work account's data, or nil.
    static func problem(with path: String, account: WorkAccount, rules: ContainerRules, otherHomes: [String]) -> String? {
        if let problem = WorkBoundary.plainPathProblem(path) { return "not a plain absolute path (\(problem))" }
        guard WorkRoot.of(path, account: account, rules: rules) != nil else {
            let roots = ([account.home] + rules.workRoots.map { $0 + "/…" }).joined(separator: ", ")
            return "outside the work home and the work roots this device allows (\(roots))"
        }
        for home in otherHomes where home != "/" && home != account.home && WorkBoundary.plainPathProblem(home) == nil {
            if WorkBoundary.isAtOrBelow(path, home) { return "it is, or is inside, the home of another account (\(home))" }
            if WorkBoundary.isBelow(home, path) { return "it holds the home of another account (\(home))" }
        }
        return nil
    }
}

/// Runs the journaled wipe of the work container.
struct Wiper: Sendable {
    let paths: AgentPaths
    let accounts: AccountManager
    let freezer: any Freezer
    let clock: WallClock
    let hook: WipeHook

    var rules: ContainerRules { accounts.rules }
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

    /// Plans the wipe and writes its journal; from here on it will complete. Returns the existing journal
    /// when one is there. The account is the one the agent recorded when it created it, whatever the
    /// policy names; the paths are the policy's, as far as the device's own rules allow.
    func begin(trigger: String, commandId: String?, deviceId: String, policy: EffectivePolicy?) throws -> WipeJournal {
        if let existing = try journal() { return existing }
        let account = accounts.recorded()
        let otherHomes = accounts.allAccounts().filter { $0.uid != account?.uid }.map(\.home)
        let (targets, refused) = WipePlanner.plan(account: account, workPaths: policy?.container?.extraWorkPaths ?? [], rules: rules, otherHomes: otherHomes)
        var journal = WipeJournal(
            id: IdentifierGenerator.uuidV7(now: clock.now()), trigger: trigger, commandId: commandId, deviceId: deviceId, startedAt: clock.now(),
            account: account?.name, uid: account?.uid, targets: targets, refused: refused)
        journal.archive = Self.archivePlan(policy?.retention, trigger: trigger, startedAt: journal.startedAt)
        try record(.journaled, &journal)
        return journal
    }

    /// Opens a planned target through the boundary checks; nil when it is not there.
    func open(_ target: String, _ account: WorkAccount) throws -> OpenedDirectory? {
        guard let root = WorkRoot.of(target, account: account, rules: rules) else {
            throw BoundaryError(target, "outside the work home and the work roots this device allows")
        }
        return try WorkPaths.open(target, in: root, account: account, paths: paths, create: false)
    }

    /// Carries the wipe on from wherever the journal says it stopped, up to a signed receipt. It stops
    /// before the key is destroyed while a packed archive waits for its upload (the caller uploads it and
    /// runs the wipe again), until the retention's deadline.
    func run(_ journal: inout WipeJournal, key: Curve25519.Signing.PrivateKey, agentVersion: String) throws {
        // Only the account the agent created, with the UID it was created with.
        let account = accounts.recorded().flatMap { $0.uid == journal.uid && $0.name == journal.account ? $0 : nil }
        if !journal.done(.frozen) {
            freeze(account)
            try record(.frozen, &journal)
        }
        if !journal.done(.killed) {
            if let account { journal.processesKilled += killAll(account) }
            try record(.killed, &journal)
        }
        if !journal.done(.archived) {
            pack(&journal, account)
            try record(.archived, &journal)
        }
        if !journal.done(.uploaded) {
            if mustWaitForUpload(&journal) { return }
            dropSpool(journal)
            try record(.uploaded, &journal)
        }
        if !journal.done(.measured) {
            measure(&journal, account)
            try record(.measured, &journal)
        }
        if !journal.done(.keyDestroyed) {
            destroyKey(&journal, account)
            try record(.keyDestroyed, &journal)
        }
        if !journal.done(.deleted) {
            try delete(&journal, account)
            try record(.deleted, &journal)
        }
        if !journal.done(.accountRemoved) {
            removeAccount(&journal, account)
            try record(.accountRemoved, &journal)
        }
        if !journal.done(.cleaned) {
            for file in [paths.policyFile, paths.stateDir + "/override.json", Self.spoolFile(paths)] where fileExists(file) { unlink(file) }
            try record(.cleaned, &journal)
        }
        if !journal.done(.signed) {
            try sign(&journal, key: key, agentVersion: agentVersion)
            try record(.signed, &journal)
        }
    }

    /// Refuses logins and freezes the account's programs (best effort: the kill step follows).
    private func freeze(_ account: WorkAccount?) {
        guard let account, case .success(let verified) = accounts.verified() else { return }
        try? accounts.setLoginAllowed(verified, false)
        try? freezer.freeze(verified, processes: ProcessTable.processes(ofUID: account.uid))
    }

    /// Counts files and bytes of every target for the receipt; a target the boundary refuses is named instead.
    private func measure(_ journal: inout WipeJournal, _ account: WorkAccount?) {
        journal.measured = []
        for target in journal.targets {
            guard let account else {
                journal.refused.append("\(target): the work account's record is gone; left alone")
                continue
            }
            do {
                guard let dir = try open(target, account) else {
                    journal.measured.append(RemovedPath(path: target, files: 0, bytes: 0, existed: false))
                    continue
                }
                let walk = FileTree.walk(dir, display: target, remove: false)
                journal.measured.append(RemovedPath(path: target, files: walk.files, bytes: walk.bytes, existed: true))
            } catch {
                journal.refused.append("\(error)")
            }
        }
    }

    /// The cryptographic erase of an encrypted container: the key leaves the kernel and its only copy is
    /// destroyed, so what the deletion leaves on the disk is ciphertext no key opens. Anything that stops it
    /// is noted and the wipe goes on by deletion.
    private func destroyKey(_ journal: inout WipeJournal, _ account: WorkAccount?) {
        let encryption = (try? accounts.record())??.encryption
        guard encryption?.keyIdentifier != nil, let home = account?.home ?? journal.account.map({ "/home/\($0)" }) else {
            journal.method = "delete"
            journal.methodNote = encryption?.unavailable ?? (account == nil ? "no work container" : ContainerCrypto.predatesEncryption)
            return
        }
        do {
            let removal = try ContainerCrypto.destroyKey(encryption, home: home, paths: paths)
            journal.method = "cryptoErase+delete"
            var notes: [String] = []
            if removal == .filesBusy { notes.append("files were still open when the key was removed; their data left the kernel when they closed") }
            let plain = journal.targets.filter { !WorkBoundary.isAtOrBelow($0, home) && !(encryption?.folders ?? []).contains($0) }
            if !plain.isEmpty { notes.append("not encrypted, so deleted only: " + plain.joined(separator: ", ")) }
            journal.methodNote = notes.isEmpty ? nil : notes.joined(separator: "; ")
        } catch {
            journal.method = "delete"
            journal.methodNote = "the container key could not be destroyed: \(error)"
        }
    }

    /// Removes every measured target; what is left alone or cannot be removed goes into the receipt.
    private func delete(_ journal: inout WipeJournal, _ account: WorkAccount?) throws {
        // Anything the account still runs (a process started between the steps) dies first.
        if let account { journal.processesKilled += killAll(account) }
        for (i, target) in journal.measured.map(\.path).enumerated() {
            if let account {
                for problem in removeAll(target, account) where !journal.refused.contains(problem) { journal.refused.append(problem) }
            }
            if i == 0 { try record(.deletedFirstPath, &journal) }
        }
        if !journal.done(.deletedFirstPath) { try record(.deletedFirstPath, &journal) }
    }

    /// Removes the account (only as created) and what the freezer made for it.
    private func removeAccount(_ journal: inout WipeJournal, _ account: WorkAccount?) {
        if let account {
            do {
                try accounts.remove(account)
                freezer.discard(account)
            } catch {
                journal.refused.append("the account \(account.name) was not removed: \(error)")
            }
        }
        journal.accountRemoved = journal.account.map { accounts.lookup($0) == nil } ?? false
    }

    /// Builds the receipt and signs it with the device key.
    private func sign(_ journal: inout WipeJournal, key: Curve25519.Signing.PrivateKey, agentVersion: String) throws {
        let finished = clock.now()
        journal.finishedAt = finished
        let receipt = WipeReceipt(
            id: journal.id, deviceId: journal.deviceId, trigger: journal.trigger, commandId: journal.commandId, account: journal.account,
            accountRemoved: journal.accountRemoved, processesKilled: journal.processesKilled, removed: journal.measured, refused: journal.refused,
            startedAt: journal.startedAt, finishedAt: finished, agentVersion: agentVersion, method: journal.method, methodNote: journal.methodNote,
            archive: journal.archive?.uploaded == true ? journal.archive?.summary : nil, archiveFailed: journal.archive?.failed)
        journal.receipt = try SignedReceipt.sign(receipt, key: key)
    }

    /// Removes `target` completely (re-opened through the boundary checks on every pass), repeating when
    /// something was written into it meanwhile. Returns what was left alone or could not be removed.
    func removeAll(_ target: String, _ account: WorkAccount, passes: Int = 5) -> [String] {
        var problems: [String] = []
        for _ in 0..<passes {
            let dir: OpenedDirectory
            do {
                guard let opened = try open(target, account) else { return problems }
                dir = opened
            } catch {
                return problems + ["\(error)"]
            }
            let walk = FileTree.walk(dir, display: target, remove: true)
            problems = walk.leftAlone
            if unlinkat(dir.parent, dir.leaf, AT_REMOVEDIR) == 0 || errno == ENOENT { return problems }
            // A mount inside stays, and so does every folder above it: nothing more to do.
            if !walk.leftAlone.isEmpty { return problems }
            problems += walk.errors.prefix(10).map { "could not remove \($0)" }
        }
        return problems.isEmpty ? ["could not remove \(target): still present after \(passes) passes"] : problems
    }

    /// SIGKILLs every process of the work account until none is left (thawing, so frozen ones die too);
    /// returns how many. Each signal goes through a pidfd to the process that was examined.
    private func killAll(_ account: WorkAccount) -> Int {
        var killed = Set<String>()
        for _ in 0..<100 {
            // A killed child of ours stays a zombie until reaped: it runs nothing, so it does not count.
            let processes = ProcessTable.processes(ofUID: account.uid).filter { $0.state != "Z" }
            if processes.isEmpty { break }
            for p in processes where p.pid != getpid() {
                if ProcessControl.signal(p, SIGKILL, onlyUID: account.uid) { killed.insert("\(p.pid):\(p.startTime)") }
            }
            try? freezer.thaw(account, processes: processes)
            usleep(20_000)
        }
        return killed.count
    }

    private func fileExists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }
}

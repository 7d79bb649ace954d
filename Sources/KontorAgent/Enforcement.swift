import CKontorLinux
import Crypto
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

/// An employee's early end of quiet hours, written by `kontor-agent quiet-hours override` to its own
/// file so the daemon never overwrites it.
public struct QuietOverride: Codable, Sendable, Equatable {
    public var until: Date
    public var reason: String
    public var createdAt: Date
    /// Who asked, as the local socket knew them (`ada (UID 1000)`); nil in overrides written before it.
    public var requestedBy: String?
}

/// What enforcement remembers between runs (part of the agent state).
public struct EnforcementState: Codable, Sendable, Equatable {
    /// The work account the agent created and manages.
    public var account: String?
    /// Whether the container is frozen now (quiet hours).
    public var frozen = false
    public var lastQuiet: Bool?
    public var lastQuietReason: String?
    /// The override already reported, by creation time.
    public var reportedOverride: Date?
    /// Events not yet sent to the server, oldest first (bounded).
    public var events: [DeviceEvent] = []
    /// Violations not yet sent (bounded).
    public var violations: [AppViolation] = []
    /// Processes already reported, `pid:starttime`, so each is reported once.
    public var seenViolations: [String] = []
    /// Processes sent SIGTERM, killed for good if still there next time.
    public var terminating: [String] = []
    /// Locked by an admin's `lock` command until `unlock`.
    public var adminLocked = false
    /// Locked by the offline dead-man switch until the next successful check-in.
    public var offlineLocked = false
    /// Locked because the usage terms the policy names are not accepted and their grace period is over.
    public var termsLocked = false
    /// The encrypted container's key is out of the kernel (locked, or quiet hours that ask for it).
    public var keyLocked = false
    /// The problems of the last enforcement (`kind: detail`): each is reported once while it lasts.
    public var problems: [String] = []
    /// Desktop notices queued for the work session and the occurrences already shown (`Notices.swift`).
    public var notices = NoticeLedger()

    public init() {}

    // Every field may be missing: a state file written by an older agent still loads.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        account = try c.decodeIfPresent(String.self, forKey: .account)
        frozen = try c.decodeIfPresent(Bool.self, forKey: .frozen) ?? false
        lastQuiet = try c.decodeIfPresent(Bool.self, forKey: .lastQuiet)
        lastQuietReason = try c.decodeIfPresent(String.self, forKey: .lastQuietReason)
        reportedOverride = try c.decodeIfPresent(Date.self, forKey: .reportedOverride)
        events = try c.decodeIfPresent([DeviceEvent].self, forKey: .events) ?? []
        violations = try c.decodeIfPresent([AppViolation].self, forKey: .violations) ?? []
        seenViolations = try c.decodeIfPresent([String].self, forKey: .seenViolations) ?? []
        terminating = try c.decodeIfPresent([String].self, forKey: .terminating) ?? []
        adminLocked = try c.decodeIfPresent(Bool.self, forKey: .adminLocked) ?? false
        offlineLocked = try c.decodeIfPresent(Bool.self, forKey: .offlineLocked) ?? false
        termsLocked = try c.decodeIfPresent(Bool.self, forKey: .termsLocked) ?? false
        keyLocked = try c.decodeIfPresent(Bool.self, forKey: .keyLocked) ?? false
        problems = try c.decodeIfPresent([String].self, forKey: .problems) ?? []
        notices = try c.decodeIfPresent(NoticeLedger.self, forKey: .notices) ?? NoticeLedger()
    }

    /// Reports the problems of this enforcement that were not there the last time (a problem that lasts
    /// is one event, not one every 10 s).
    mutating func report(_ current: [DeviceEvent]) {
        let keys = current.map { "\($0.kind): \($0.detail ?? "")" }
        for (event, key) in zip(current, keys) where !problems.contains(key) { add(event) }
        problems = keys
    }

    mutating func add(_ event: DeviceEvent) {
        // A problem that repeats every few seconds is reported once until something else happens.
        if event.kind.hasSuffix(".error"), let last = events.last, last.kind == event.kind, last.detail == event.detail { return }
        var event = event
        // Its own ID, so a check-in sent again after a lost reply stores it once.
        if event.id == nil { event.id = UUID().uuidString.lowercased() }
        events.append(event)
        if events.count > 100 { events.removeFirst(events.count - 100) }
    }
}

/// Applies the last verified policy to the device: creates the work container, freezes it during quiet
/// hours and locks its logins, and checks its processes against the app allowlist. Whatever the policy
/// says, it acts only on the work account it created itself (`AccountManager`), on files only through
/// `WorkPaths`, and on processes only through `ProcessControl`.
public struct Enforcer: Sendable {
    let paths: AgentPaths
    let accounts: AccountManager
    let freezer: any Freezer
    let deviceZone: ZoneInfo?
    let hasher: ExecutableHasher

    /// `freezer` defaults to the best this machine offers (`Freezers.detect`), its cgroups named for `paths`.
    public init(paths: AgentPaths, rules: ContainerRules? = nil, freezer: (any Freezer)? = nil, deviceZone: ZoneInfo? = .current) {
        self.paths = paths
        let rules = rules ?? .defaults(for: paths)
        self.accounts = AccountManager(paths: paths, rules: rules)
        self.freezer = freezer ?? Freezers.detect(groupPrefix: CgroupFreezer.prefix(for: paths))
        self.deviceZone = deviceZone
        self.hasher = ExecutableHasher(limit: rules.hashLimit)
    }

    public var rules: ContainerRules { accounts.rules }

    public var overrideFile: String { paths.stateDir + "/override.json" }

    public func currentOverride() -> QuietOverride? {
        guard let data = try? AtomicFile.read(overrideFile) else { return nil }
        return try? KontorJSON.decode(QuietOverride.self, from: data)
    }

    /// Brings the device in line with `policy` at `now`; returns what to report.
    public func enforce(_ policy: EffectivePolicy?, state: inout EnforcementState, now: Date) -> ComplianceReport {
        var report = ComplianceReport()
        guard let policy else { return report }
        var problems: [DeviceEvent] = []
        let account = container(policy.container, state: &state, problems: &problems, now: now)
        report.containerAccount = account?.name ?? policy.container?.account
        report.containerState = account == nil ? "absent" : "active"
        if account != nil {
            let encryption = (try? accounts.record())??.encryption ?? ContainerEncryption(unavailable: ContainerCrypto.predatesEncryption)
            report.cryptoErase = encryption.keyIdentifier != nil ? "available" : "unavailable"
            report.cryptoEraseReason = encryption.unavailable
        }
        termsLock(policy.terms, state: &state, now: now)
        let quiet = quietHours(policy.quietHours, state: &state, now: now)
        report.quiet = quiet?.quiet ?? false
        report.quietReason = quiet?.reason
        if let account {
            // The key goes into the kernel before the programs thaw, and out of it after they froze.
            let locked = state.adminLocked || state.offlineLocked || state.termsLocked
            let lockKey = locked || (quiet?.quiet == true && policy.quietHours?.lockContainerKey == true)
            if !lockKey { report.containerKey = containerKey(account, lock: false, state: &state, problems: &problems, now: now) }
            do {
                if let frozen = try freezeOrRelease(account, quiet: quiet?.quiet == true, state: &state) {
                    report.containerState = frozen
                } else {
                    checkApps(policy.apps, account: account, processes: ProcessTable.processes(ofUID: account.uid), state: &state, now: now)
                }
            } catch {
                problems.append(DeviceEvent(at: now, kind: "quiet.error", detail: "\(error)"))
            }
            if lockKey { report.containerKey = containerKey(account, lock: true, state: &state, problems: &problems, now: now) }
        }
        state.report(problems)
        report.violations = Array(state.violations.suffix(50))
        return report
    }

    /// The work account the agent created (or creates now), never another, and the work folders the
    /// device allows; nil when there is none to govern.
    private func container(_ container: ResolvedContainer?, state: inout EnforcementState, problems: inout [DeviceEvent], now: Date) -> WorkAccount? {
        guard let container else {
            if case .success(let recorded) = accounts.verified() { return recorded }
            return nil
        }
        do {
            let (account, created) = try accounts.ensure(container.account)
            if created { state.add(DeviceEvent(at: now, kind: "container.created", detail: "\(account.name) (UID \(account.uid))")) }
            state.account = account.name
            let otherHomes = accounts.allAccounts().filter { $0.uid != account.uid }.map(\.home)
            let encryption = try accounts.record()?.encryption
            for path in container.extraWorkPaths {
                do {
                    let dir = try WorkPaths.ensure(path, account: account, rules: rules, paths: paths, otherHomes: otherHomes)
                    // A work folder outside the home is encrypted with the container key too, where it can be.
                    if let dir, let encryption, encryption.keyIdentifier != nil, WorkRoot.of(path, account: account, rules: rules)?.isHome == false,
                        !(encryption.folders ?? []).contains(path)
                    {
                        if try ContainerCrypto.encryptFolder(dir, path: path, encryption: encryption, paths: paths) {
                            try accounts.noteEncryptedFolder(path)
                        } else {
                            problems.append(
                                DeviceEvent(
                                    at: now, kind: "container.path-unencrypted",
                                    detail: "\(path): not encrypted (it held files already, or its file system cannot); a wipe can only delete it"))
                        }
                    }
                } catch {
                    problems.append(DeviceEvent(at: now, kind: "container.path-refused", detail: "\(error)"))
                }
            }
            return account
        } catch {
            problems.append(DeviceEvent(at: now, kind: "container.error", detail: "\(error)"))
            // The container the agent did create stays governed (quiet hours, locks, the allowlist).
            if case .success(let recorded) = accounts.verified() { return recorded }
            return nil
        }
    }

    /// Takes the encrypted container's key out of the kernel while the container is locked (its files are
    /// ciphertext then), and puts it back otherwise (also after a boot, when the kernel has none); each
    /// change is an event. Returns the key's state for the report; nil when the container is not encrypted.
    private func containerKey(_ account: WorkAccount, lock: Bool, state: inout EnforcementState, problems: inout [DeviceEvent], now: Date) -> String? {
        guard let encryption = (try? accounts.record())??.encryption, encryption.keyIdentifier != nil else { return nil }
        do {
            guard lock else {
                try ContainerCrypto.ensureUnlocked(encryption, home: account.home, paths: paths)
                if state.keyLocked { state.add(DeviceEvent(at: now, kind: "container.key-loaded", detail: "the work files open again")) }
                state.keyLocked = false
                return "loaded"
            }
            let removal = try ContainerCrypto.lockKey(encryption, home: account.home, paths: paths)
            if !state.keyLocked {
                state.add(DeviceEvent(at: now, kind: "container.key-locked", detail: "the container key left the kernel: the work files are ciphertext"))
            }
            state.keyLocked = true
            return removal == .filesBusy ? "lockedFilesBusy" : "locked"
        } catch {
            problems.append(DeviceEvent(at: now, kind: "container.key-error", detail: "\(error)"))
            return nil
        }
    }

    /// Locks the container once the terms' grace period is over without an acceptance, and opens it again
    /// when the server reports one; each change is an event.
    private func termsLock(_ terms: TermsRequirement?, state: inout EnforcementState, now: Date) {
        let locks = terms?.locks(at: now) ?? false
        guard locks != state.termsLocked else { return }
        state.termsLocked = locks
        let version = terms?.version ?? "-"
        let why = terms?.decision == .declined ? "usage terms \(version) declined" : "usage terms \(version) not accepted"
        state.add(DeviceEvent(at: now, kind: locks ? "container.locked" : "container.unlocked", detail: locks ? why : "usage terms \(version)"))
    }

    /// Whether quiet hours are in force now (the employee's override counted), reporting overrides and
    /// changes once.
    private func quietHours(_ policy: QuietHoursPolicy?, state: inout EnforcementState, now: Date) -> QuietState? {
        let override = currentOverride()
        if let override, state.reportedOverride != override.createdAt {
            state.add(
                DeviceEvent(
                    at: override.createdAt, kind: "quiet.override",
                    detail: "until \(ISO8601.string(from: override.until)): \(override.reason)\(override.requestedBy.map { " (asked by \($0))" } ?? "")"))
            state.reportedOverride = override.createdAt
        }
        let quiet = policy?.evaluate(at: now, deviceZone: deviceZone, overrideUntil: override?.until)
        if let quiet, quiet.quiet != state.lastQuiet {
            state.add(DeviceEvent(at: now, kind: quiet.quiet ? "quiet.begin" : "quiet.end", detail: quiet.reason))
        }
        state.lastQuiet = quiet?.quiet
        state.lastQuietReason = quiet?.reason
        return quiet
    }

    /// Freezes the container and refuses its logins in quiet hours or while locked (returns `frozen` or
    /// `locked`); otherwise thaws it and opens its logins again (returns nil).
    private func freezeOrRelease(_ account: WorkAccount, quiet: Bool, state: inout EnforcementState) throws -> String? {
        let processes = ProcessTable.processes(ofUID: account.uid)
        let locked = state.adminLocked || state.offlineLocked || state.termsLocked
        guard quiet || locked else {
            if state.frozen { try freezer.thaw(account, processes: processes) }
            state.frozen = false
            try accounts.setLoginAllowed(account, true)
            return nil
        }
        try accounts.setLoginAllowed(account, false)
        // Freeze every time: a process that slipped in since is frozen too.
        try freezer.freeze(account, processes: processes)
        state.frozen = true
        return locked ? "locked" : "frozen"
    }

    // MARK: the allowlist

    func checkApps(_ apps: AppPolicy?, account: WorkAccount, processes: [SystemProcess], state: inout EnforcementState, now: Date) {
        guard let apps else { return }
        let enforce = apps.mode == "enforce"
        // Escalate: what ignored SIGTERM last time is killed now (if it is still that very process).
        for key in state.terminating {
            let parts = key.split(separator: ":")
            if parts.count == 2, let pid = Int32(parts[0]), let start = UInt64(parts[1]), let p = ProcessTable.process(pid), p.startTime == start {
                ProcessControl.signal(p, SIGKILL, onlyUID: account.uid)
            }
        }
        state.terminating = []
        let matcher = AppMatcher(rules: apps.allow ?? [], paths: paths, hasher: hasher)
        for process in processes {
            guard let exe = process.executable else { continue }
            let verdict = matcher.verdict(exe, process: process)
            guard !verdict.allowed else { continue }
            let key = "\(process.pid):\(process.startTime)"
            var action = "reported"
            if enforce {
                // Through a pidfd, to the process that was matched: not to one that got its PID since.
                action = ProcessControl.signal(process, SIGTERM, onlyUID: account.uid) ? "terminated" : "gone"
                if action == "terminated" { state.terminating.append(key) }
            }
            guard !state.seenViolations.contains(key) else { continue }
            state.seenViolations.append(key)
            if state.seenViolations.count > 1000 { state.seenViolations.removeFirst(state.seenViolations.count - 1000) }
            let violation = AppViolation(executable: exe, pid: Int(process.pid), action: action, at: now)
            state.violations.append(violation)
            if state.violations.count > 50 { state.violations.removeFirst(state.violations.count - 50) }
            let note = verdict.note.map { "; \($0)" } ?? ""
            state.add(DeviceEvent(at: now, kind: "app.violation", detail: "\(exe) (pid \(process.pid), \(action)\(note))"))
        }
    }
}

/// Decides whether an executable is on the allowlist: by path, by SHA-256 of the file, or by the Debian
/// package that installed it (dpkg's file lists).
struct AppMatcher {
    let rules: [AppRule]
    let paths: AgentPaths
    let hasher: ExecutableHasher

    struct Verdict {
        var allowed: Bool
        /// Why a sha256 rule could not be checked (too large, unreadable), for the violation's detail.
        var note: String?
    }

    func allows(_ executable: String, process: SystemProcess) -> Bool { verdict(executable, process: process).allowed }

    func verdict(_ executable: String, process: SystemProcess) -> Verdict {
        let candidates = Self.aliases(executable)
        var hashed: ExecutableHasher.Outcome?
        for rule in rules {
            if let path = rule.path {
                let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: paths.resolve(path))) ?? path
                if candidates.contains(path) || candidates.contains(resolved) || candidates.contains(URL(fileURLWithPath: path).resolvingSymlinksInPath().path)
                {
                    return Verdict(allowed: true)
                }
            }
            if let hash = rule.sha256 {
                // Hashed once per process, whatever the number of rules.
                if hashed == nil { hashed = hasher.hash(process) }
                if case .hash(let actual) = hashed, actual == hash { return Verdict(allowed: true) }
            }
            if let package = rule.package, packageFiles(package).contains(where: { candidates.contains($0) }) { return Verdict(allowed: true) }
        }
        switch hashed {
        case .unhashable(let why): return Verdict(allowed: false, note: why)
        default: return Verdict(allowed: false)
        }
    }

    /// /bin and /usr/bin (and sbin) are the same directories on merged-/usr systems.
    static func aliases(_ path: String) -> Set<String> {
        var out: Set<String> = [path]
        for (a, b) in [("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/usr/lib/", "/lib/")] {
            if path.hasPrefix(a) { out.insert(b + path.dropFirst(a.count)) }
            if path.hasPrefix(b) { out.insert(a + path.dropFirst(b.count)) }
        }
        return out
    }

    /// The files dpkg records for a package (any architecture).
    func packageFiles(_ package: String) -> Set<String> {
        let info = paths.resolve("/var/lib/dpkg/info")
        var out = Set<String>()
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: info)) ?? []).filter {
            $0 == "\(package).list" || ($0.hasPrefix("\(package):") && $0.hasSuffix(".list"))
        }
        for name in names {
            guard let text = try? String(contentsOfFile: "\(info)/\(name)", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") { out.insert(String(line)) }
        }
        return out
    }
}

/// SHA-256 of a running program for `sha256` allowlist rules. Read through the process's own
/// /proc/PID/exe (the file it runs, even if the path now names another), in 1 MiB pieces, never past
/// `limit` bytes and never on FUSE (a work user's FUSE daemon could block the root agent's read); cached
/// by device, inode, size and change times, so an unchanged program is read once.
final class ExecutableHasher: Sendable {
    enum Outcome: Equatable {
        case hash(String)
        case unhashable(String)
    }

    struct Key: Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var modifiedNanos: Int
        var changed: Int64
        var changedNanos: Int
    }

    let limit: Int64
    private let cache = Mutex<[Key: String]>([:])
    /// Files read whole so far (for tests: a cached program is not read again).
    private let readCount = Mutex(0)
    static let fuseMagic: Int64 = 0x6573_5546
    static let cacheSize = 512

    init(limit: Int64) { self.limit = limit }

    var reads: Int { readCount.withLock { $0 } }

    func hash(_ process: SystemProcess, proc: String = "/proc") -> Outcome {
        let fd = open("\(proc)/\(process.pid)/exe", O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .unhashable("its program cannot be read (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        guard kontor_fs_type(fd) != Self.fuseMagic else { return .unhashable("its program is on a FUSE file system, which is never hashed") }
        var before = stat()
        guard fstat(fd, &before) == 0, (before.st_mode & S_IFMT) == S_IFREG else { return .unhashable("its program is not a regular file") }
        guard Int64(before.st_size) <= limit else {
            return .unhashable("its program (\(before.st_size >> 20) MiB) is larger than hashLimitMiB (\(limit >> 20)); not hashed")
        }
        let key = Self.key(before)
        if let known = cache.withLock({ $0[key] }) { return .hash(known) }
        var digest = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total: Int64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return .unhashable("reading its program failed (\(String(cString: strerror(errno))))") }
            if n == 0 { break }
            total += Int64(n)
            guard total <= limit else { return .unhashable("its program grew past hashLimitMiB while it was read; not hashed") }
            buffer.withUnsafeBytes { digest.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
        }
        readCount.withLock { $0 += 1 }
        let hex = Bytes.hex(Array(digest.finalize()))
        var after = stat()
        // Changed while it was read: the hash is right for no version; do not remember it.
        if fstat(fd, &after) == 0, Self.key(after) == key {
            cache.withLock { cache in
                if cache.count >= Self.cacheSize { cache.removeAll(keepingCapacity: true) }
                cache[key] = hex
            }
        }
        return .hash(hex)
    }

    static func key(_ s: stat) -> Key {
        Key(
            device: UInt64(s.st_dev), inode: UInt64(s.st_ino), size: Int64(s.st_size), modified: Int64(s.st_mtim.tv_sec), modifiedNanos: s.st_mtim.tv_nsec,
            changed: Int64(s.st_ctim.tv_sec), changedNanos: s.st_ctim.tv_nsec)
    }
}

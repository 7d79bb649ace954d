import Crypto
import Foundation
import KontorCore

#if canImport(Glibc)
import Glibc
#endif

/// An employee's early end of quiet hours, written by `kontor-agent quiet-hours override` to its own
/// file so the daemon never overwrites it.
public struct QuietOverride: Codable, Sendable, Equatable {
    public var until: Date
    public var reason: String
    public var createdAt: Date
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
    }

    mutating func add(_ event: DeviceEvent) {
        // A problem that repeats every few seconds is reported once until something else happens.
        if event.kind.hasSuffix(".error"), let last = events.last, last.kind == event.kind, last.detail == event.detail { return }
        events.append(event)
        if events.count > 100 { events.removeFirst(events.count - 100) }
    }
}

/// Applies the last verified policy to the device: creates the work container, freezes it during quiet
/// hours and locks its logins, and checks its processes against the app allowlist.
public struct Enforcer: Sendable {
    let paths: AgentPaths
    let accounts: AccountManager
    let freezer: any Freezer
    let deviceZone: TimeZone?

    public init(paths: AgentPaths, freezer: any Freezer = Freezers.detect(), deviceZone: TimeZone? = .current) {
        self.paths = paths
        self.accounts = AccountManager(paths: paths)
        self.freezer = freezer
        self.deviceZone = deviceZone
    }

    public var overrideFile: String { paths.stateDir + "/override.json" }

    public func currentOverride() -> QuietOverride? {
        guard let data = try? AtomicFile.read(overrideFile) else { return nil }
        return try? KontorJSON.decode(QuietOverride.self, from: data)
    }

    /// Brings the device in line with `policy` at `now`; returns what to report.
    public func enforce(_ policy: EffectivePolicy?, state: inout EnforcementState, now: Date) -> ComplianceReport {
        var report = ComplianceReport()
        guard let policy else { return report }

        // The container.
        var account: Account?
        if let container = policy.container {
            do {
                let (found, created) = try accounts.ensure(container.account)
                account = found
                if created { state.add(DeviceEvent(at: now, kind: "container.created", detail: container.account)) }
                state.account = container.account
                for path in container.extraWorkPaths { try ensureWorkPath(path, owner: found) }
            } catch {
                state.add(DeviceEvent(at: now, kind: "container.error", detail: "\(error)"))
            }
        }
        report.containerAccount = policy.container?.account
        report.containerState = account == nil ? "absent" : "active"

        // Quiet hours.
        let override = currentOverride()
        if let override, state.reportedOverride != override.createdAt {
            state.add(DeviceEvent(at: override.createdAt, kind: "quiet.override", detail: "until \(ISO8601.string(from: override.until)): \(override.reason)"))
            state.reportedOverride = override.createdAt
        }
        let quiet = policy.quietHours?.evaluate(at: now, deviceZone: deviceZone, overrideUntil: override?.until)
        report.quiet = quiet?.quiet ?? false
        report.quietReason = quiet?.reason
        if let quiet, quiet.quiet != state.lastQuiet {
            state.add(DeviceEvent(at: now, kind: quiet.quiet ? "quiet.begin" : "quiet.end", detail: quiet.reason))
        }
        state.lastQuiet = quiet?.quiet
        state.lastQuietReason = quiet?.reason
        if let account {
            let processes = ProcessTable.processes(ofUID: account.uid)
            let locked = state.adminLocked || state.offlineLocked
            do {
                if quiet?.quiet == true || locked {
                    try accounts.setLoginAllowed(account.name, false)
                    // Freeze every time: a process that slipped in since is frozen too.
                    try freezer.freeze(account: account.name, processes: processes)
                    state.frozen = true
                    report.containerState = locked ? "locked" : "frozen"
                } else {
                    if state.frozen { try freezer.thaw(account: account.name, processes: processes) }
                    state.frozen = false
                    try accounts.setLoginAllowed(account.name, true)
                    checkApps(policy.apps, processes: ProcessTable.processes(ofUID: account.uid), state: &state, now: now)
                }
            } catch {
                state.add(DeviceEvent(at: now, kind: "quiet.error", detail: "\(error)"))
            }
        }
        report.violations = Array(state.violations.suffix(50))
        return report
    }

    /// Creates an extra work directory owned by the work account, under the root.
    private func ensureWorkPath(_ path: String, owner: Account) throws {
        guard ProfileValidator.allowedWorkRoots.contains(where: { path.hasPrefix($0) }), !path.contains("..") else { return }
        let resolved = paths.resolve(path)
        if !FileManager.default.fileExists(atPath: resolved) {
            try FileManager.default.createDirectory(atPath: resolved, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            chown(resolved, owner.uid, owner.gid)
        }
    }

    // MARK: the allowlist

    func checkApps(_ apps: AppPolicy?, processes: [SystemProcess], state: inout EnforcementState, now: Date) {
        guard let apps else { return }
        let enforce = apps.mode == "enforce"
        // Escalate: what ignored SIGTERM last time is killed now.
        for key in state.terminating {
            let parts = key.split(separator: ":")
            if parts.count == 2, let pid = Int32(parts[0]), let start = UInt64(parts[1]), let p = ProcessTable.process(pid), p.startTime == start {
                kill(pid, SIGKILL)
            }
        }
        state.terminating = []
        let matcher = AppMatcher(rules: apps.allow ?? [], paths: paths)
        for process in processes {
            guard let exe = process.executable, !matcher.allows(exe, pid: process.pid) else { continue }
            let key = "\(process.pid):\(process.startTime)"
            if enforce {
                kill(process.pid, SIGTERM)
                state.terminating.append(key)
            }
            guard !state.seenViolations.contains(key) else { continue }
            state.seenViolations.append(key)
            if state.seenViolations.count > 1000 { state.seenViolations.removeFirst(state.seenViolations.count - 1000) }
            let violation = AppViolation(executable: exe, pid: Int(process.pid), action: enforce ? "terminated" : "reported", at: now)
            state.violations.append(violation)
            if state.violations.count > 50 { state.violations.removeFirst(state.violations.count - 50) }
            state.add(DeviceEvent(at: now, kind: "app.violation", detail: "\(exe) (pid \(process.pid), \(violation.action))"))
        }
    }
}

/// Decides whether an executable is on the allowlist: by path, by SHA-256 of the file, or by the Debian
/// package that installed it (dpkg's file lists).
struct AppMatcher {
    let rules: [AppRule]
    let paths: AgentPaths

    func allows(_ executable: String, pid: Int32) -> Bool {
        let candidates = Self.aliases(executable)
        for rule in rules {
            if let path = rule.path {
                let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: paths.resolve(path))) ?? path
                if candidates.contains(path) || candidates.contains(resolved) || candidates.contains(URL(fileURLWithPath: path).resolvingSymlinksInPath().path) { return true }
            }
            if let hash = rule.sha256, let data = FileManager.default.contents(atPath: "/proc/\(pid)/exe") ?? FileManager.default.contents(atPath: executable),
                Bytes.sha256Hex(data) == hash
            {
                return true
            }
            if let package = rule.package, packageFiles(package).contains(where: { candidates.contains($0) }) { return true }
        }
        return false
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
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: info)) ?? []).filter { $0 == "\(package).list" || ($0.hasPrefix("\(package):") && $0.hasSuffix(".list")) }
        for name in names {
            guard let text = try? String(contentsOfFile: "\(info)/\(name)", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") { out.insert(String(line)) }
        }
        return out
    }
}

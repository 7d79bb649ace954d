import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What `kontor-agent status` shows the employee and the admin alike.
public struct AgentStatusReport: Codable, Sendable {
    public var enrolled: Bool
    public var server: String?
    public var deviceId: String?
    public var enrolledAt: Date?
    public var lastCheckin: Date?
    public var lastAttempt: Date?
    public var lastError: String?
    public var policyHash: String?
    public var policyReceivedAt: Date?
    /// Plain-language list of what the agent enforces right now.
    public var enforcing: [String]
    /// Actions queued for this device and not yet done.
    public var pendingActions: [String]
    /// Problems waiting to be reported to the server.
    public var pendingReports: [String]
    /// Exactly what this agent sends to the server.
    public var dataSent: [String]
    /// The wipe in progress (its last completed step), if any.
    public var wipeInProgress: String?
    /// Set after a confirmed wipe: the device ID that was, and the receipt.
    public var wiped: WipedDevice?
    /// The device's security posture as read now (the unit's hardening as last measured by the service).
    public var posture: DevicePosture?
    /// What the policy requires of the posture, and which of it this device does not meet.
    public var postureRequired: PosturePolicy?
    public var postureFailures: [String]?
    /// Quiet hours now (the person's override counted): in force or not, why, and when that changes next.
    public var quietHours: QuietState?
    /// Whether the person may end quiet hours early (`kontor-agent quiet-hours override`).
    public var quietOverrideAllowed: Bool?
    /// Why the work container is locked now; empty when it is not.
    public var locks: [String]?
    /// `personal` when the policy says this is the person's own device (no posture is collected).
    public var ownership: Ownership?
    /// Set in the view for anyone but root: what only an administrator needs was left out (`redactedForPerson`).
    public var redacted: Bool?

    /// Reads everything from disk; needs no network.
    public static func read(_ store: AgentStore) throws -> AgentStatusReport {
        let identity = try store.identity()
        let state = try store.state()
        let policy = (try? store.policy()) ?? nil
        var enforcing: [String] = []
        var pending: [String] = []
        if identity != nil { (enforcing, pending) = describeEnforcement(store, state: state, policy: policy?.policy) }
        let journal = try? Wiper.readJournal(store.paths)
        if let journal {
            pending.insert("finish wiping the work container (last step done: \(journal.steps.last?.rawValue ?? "none")) and send the receipt", at: 0)
        }
        let wiped = (try? AtomicFile.read(store.paths.tombstoneFile)).flatMap { $0 }.flatMap { try? KontorJSON.decode(WipedDevice.self, from: $0) }
        var report = AgentStatusReport(
            enrolled: identity != nil, server: identity?.server, deviceId: identity?.deviceId, enrolledAt: identity?.enrolledAt,
            lastCheckin: state.lastCheckin, lastAttempt: state.lastAttempt, lastError: state.lastError, policyHash: policy?.hash,
            policyReceivedAt: policy?.receivedAt, enforcing: enforcing, pendingActions: pending, pendingReports: state.pendingReports,
            dataSent: FactsCollector.transparency, wipeInProgress: journal.map { $0.steps.last?.rawValue ?? "journaled" }, wiped: wiped)
        report.ownership = policy?.policy.ownership
        if report.ownership == .personal {
            // The person's own device: its posture is not read at all.
            report.dataSent = FactsCollector.transparencyPersonal
        } else {
            let posture = PostureCollector.read(
                RootReader(paths: store.paths),
                hardening: state.lastFacts?.posture?.unitHardening ?? UnitHardening(detail: "measured by the service at its next check-in"))
            let required = policy?.policy.posture
            report.posture = posture
            report.postureRequired = required
            report.postureFailures = required.map { PostureCompliance.failures($0, posture.summary, now: Date()) }
        }
        if identity != nil { report.describeQuietAndLocks(store, state: state, policy: policy?.policy, now: Date()) }
        return report
    }

    /// Quiet hours as they are now, with the person's override counted, and the reasons for a lock.
    mutating func describeQuietAndLocks(_ store: AgentStore, state: AgentState, policy: EffectivePolicy?, now: Date) {
        if let quiet = policy?.quietHours {
            quietHours = quiet.evaluate(at: now, deviceZone: .current, overrideUntil: Self.override(store.paths)?.until)
            quietOverrideAllowed = quiet.allowUserOverride
        }
        var reasons: [String] = []
        if state.enforcement.adminLocked { reasons.append("locked by your organisation (a lock command); it ends with their unlock") }
        if state.enforcement.offlineLocked {
            reasons.append("locked because this device has not reached the server for too long; it ends at the next check-in")
        }
        if state.enforcement.termsLocked, let terms = policy?.terms {
            reasons.append(
                "locked because usage terms \(terms.version) are \(terms.decision == .declined ? "declined" : "not accepted"); read them with kontor-agent terms show, accept with kontor-agent terms accept \(terms.version); it opens at the next check-in after that"
            )
        }
        locks = reasons
    }

    /// The employee's early end of quiet hours, if one was written.
    static func override(_ paths: AgentPaths) -> QuietOverride? {
        (try? AtomicFile.read(paths.overrideFile)).flatMap { $0 }.flatMap { try? KontorJSON.decode(QuietOverride.self, from: $0) }
    }

    /// The view for the enrolled person and the work account: what is managed, what is sent, quiet hours and
    /// locks, but not what only an administrator needs and what may name the agent's files: the text of the
    /// last error and of the problems waiting to be reported (only that there are some), and a wipe's signed
    /// receipt (its ID stays). The report holds no key, token or signature otherwise.
    public func redactedForPerson() -> AgentStatusReport {
        var view = self
        view.redacted = true
        if lastError != nil { view.lastError = "the last attempt to reach the server failed; an administrator sees why with sudo kontor-agent status" }
        view.pendingReports = pendingReports.map { _ in "a problem to report (details for root)" }
        view.wiped?.receipt = nil
        return view
    }

    /// What the agent enforces on this enrolled device, and what it still has to report, in plain words.
    /// Whether the work home is encrypted, as the last report said.
    static func cryptoEraseLine(_ compliance: ComplianceReport?) -> String? {
        guard let compliance, compliance.cryptoErase != nil else { return nil }
        let locked = compliance.containerKey?.hasPrefix("locked") == true ? "; the key is out of the kernel while the container is locked" : ""
        return compliance.cryptoErase == "available"
            ? "the work home is encrypted with a key only this agent holds; a wipe destroys the key (cryptographic erase)" + locked
            : "the work home is not encrypted (\(compliance.cryptoEraseReason ?? "unknown why")); a wipe can only delete its files"
    }

    static func describeEnforcement(_ store: AgentStore, state: AgentState, policy p: EffectivePolicy?) -> (enforcing: [String], pending: [String]) {
        var enforcing: [String] = []
        let schedule = PollSchedule()
        enforcing.append(
            "checks in with the server every \(p?.checkinInterval ?? state.checkinInterval) seconds (±\(Int(schedule.jitter * 100)) %; ±\(Int(schedule.backoffJitter * 100)) % on retries after a failure)"
        )
        if let p {
            if let c = p.container {
                let st = state.compliance?.containerState ?? "not created yet"
                let created =
                    AccountManager(paths: store.paths).recorded().map {
                        " created by this agent with UID \($0.uid) on \(ISO8601.string(from: $0.createdAt))"
                    } ?? ""
                enforcing.append(
                    "work container: the account \(c.account)\(created) (\(st)); the company manages only this account\(c.extraWorkPaths.isEmpty ? "" : " and \(c.extraWorkPaths.joined(separator: ", "))"), never another account, a person's home or anything outside the work folders this device allows (/etc/kontor/agent.yaml)"
                )
                if let line = cryptoEraseLine(state.compliance) { enforcing.append(line) }
            }
            if let q = p.quietHours {
                let now = q.evaluate(at: Date(), deviceZone: .current, overrideUntil: override(store.paths)?.until)
                var line =
                    "quiet hours (Feierabend) in \(now.timeZone): \(now.quiet ? "in force now (\(now.reason)) — the work container is frozen" : "not in force now")"
                if let next = now.nextTransition { line += "; next change \(ISO8601.string(from: next))" }
                if q.allowUserOverride { line += "; you may end them early with `kontor-agent quiet-hours override --reason ...`" }
                enforcing.append(line)
            }
            if let t = p.terms {
                let answer =
                    t.decision == .accepted
                    ? "accepted"
                    : "\(t.decision == .declined ? "declined" : "not answered yet"); the work container locks from \(ISO8601.string(from: t.deadline)) until they are accepted (kontor-agent terms show)"
                enforcing.append("usage terms \(t.version): \(answer)")
            }
            if let wipeAt = p.offboardingWipeAt {
                enforcing.append(
                    "your organisation is offboarding you: the work account and its data are removed from this device from \(ISO8601.string(from: wipeAt)) on; your personal account is not affected"
                )
            }
            if let a = p.apps {
                enforcing.append(
                    "app allowlist (\(a.mode ?? "audit")): \(a.allow?.count ?? 0) rules; other programs in the work container are \(a.mode == "enforce" ? "stopped and reported" : "reported")"
                )
            }
            if let o = p.offline {
                var parts: [String] = []
                if let h = o.lockAfter { parts.append("locked after \(h) h") }
                if let d = o.wipeAfter { parts.append("wiped after \(d) days") }
                if !parts.isEmpty { enforcing.append("without contact to the server the work container is \(parts.joined(separator: " and "))") }
            }
        } else {
            enforcing.append("no policy received yet: nothing else is managed on this device")
        }
        if state.enforcement.adminLocked { enforcing.append("the work container is LOCKED by your organisation (logins refused, programs frozen)") }
        if state.enforcement.offlineLocked { enforcing.append("the work container is LOCKED because this device has not reached the server for too long") }
        if state.enforcement.termsLocked {
            enforcing.append("the work container is LOCKED until you accept the usage terms: kontor-agent terms show, then kontor-agent terms accept VERSION")
        }
        let pending = state.enforcement.events.map { "report \($0.kind)" } + state.pendingAcks.map { "report command \($0.id) \($0.state.rawValue)" }
        return (enforcing, pending)
    }

    /// The human-readable form.
    public func text(now: Date) -> String {
        func when(_ date: Date?) -> String {
            guard let date else { return "never" }
            let ago = Int(now.timeIntervalSince(date))
            let relative = ago < 120 ? "\(ago) s ago" : ago < 7200 ? "\(ago / 60) min ago" : ago < 172_800 ? "\(ago / 3600) h ago" : "\(ago / 86_400) days ago"
            return "\(ISO8601.string(from: date)) (\(relative))"
        }
        var lines: [String] = []
        guard enrolled else {
            if let wiped {
                lines.append("This device was device \(wiped.deviceId). Its work container was wiped at \(when(wiped.wipedAt)) (\(wiped.trigger));")
                lines.append("the server confirmed receipt \(wiped.receiptId) and revoked the device. Its key and state are destroyed.")
                lines.append("")
            }
            lines.append("This device is not enrolled with Kontor. Nothing is managed and nothing is sent.")
            lines.append("To enroll: sudo kontor-agent enroll --server URL --token TOKEN")
            return lines.joined(separator: "\n")
        }
        lines.append("Kontor agent \(agentVersion)")
        lines.append("  server:         \(server ?? "-")")
        lines.append("  device ID:      \(deviceId ?? "-")   (enrolled \(when(enrolledAt)))")
        lines.append("  last check-in:  \(when(lastCheckin))")
        if let lastError { lines.append("  last error:     \(lastError)   (at \(when(lastAttempt)))") }
        if ownership == .personal {
            lines.append("  ownership:      personal device (only the work container is managed; no posture is collected)")
        } else if policyHash != nil {
            lines.append("  ownership:      company device")
        }
        lines.append("  policy:         \(policyHash ?? "none yet")\(policyReceivedAt.map { "   (received \(when($0)))" } ?? "")")
        lines.append("")
        lines.append("Enforced on this device right now:")
        for item in enforcing { lines.append("  - \(item)") }
        if let posture {
            lines.append("")
            lines += Self.postureLines(posture, required: postureRequired, failures: postureFailures ?? [], now: now)
        }
        lines.append("")
        lines.append("Pending actions: \(pendingActions.isEmpty ? "none" : pendingActions.joined(separator: ", "))")
        if !pendingReports.isEmpty { lines.append("Problems to report at the next check-in: \(pendingReports.count)") }
        lines.append("")
        lines.append("What this agent sends to the server (nothing else leaves this device):")
        for item in dataSent { lines.append("  - \(item)") }
        if redacted == true {
            lines.append("")
            lines.append("(Shown to you as the person at this device. Root also sees the details of errors: sudo kontor-agent status.)")
        }
        return lines.joined(separator: "\n")
    }
}

import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A notice waiting to be shown, under the key of its occurrence (`quiet-hours-10min@2026-11-30T17:00:00Z`,
/// `container-locked@COMMAND`, `terms-pending@VERSION`).
public struct PendingNotice: Codable, Sendable, Equatable {
    public var key: String
    public var notice: DesktopNotice
}

/// The notices queued and the occurrences already handled, kept in the agent's state so that a restart
/// neither loses a queued notice nor shows one twice.
public struct NoticeLedger: Codable, Sendable, Equatable {
    public var pending: [PendingNotice] = []
    /// Keys of the occurrences shown or skipped, newest last (bounded).
    public var done: [String] = []

    public init() {}

    /// Queues a notice once per occurrence.
    mutating func queue(_ notice: DesktopNotice, key: String) {
        guard !done.contains(key), !pending.contains(where: { $0.key == key }) else { return }
        pending.append(PendingNotice(key: key, notice: notice))
        if pending.count > 20 { pending.removeFirst(pending.count - 20) }
    }

    mutating func finish(_ key: String) {
        pending.removeAll { $0.key == key }
        done.append(key)
        if done.count > 64 { done.removeFirst(done.count - 64) }
    }
}

/// The warnings before quiet hours begin: 10 minutes and 1 minute before. Pure: the time is passed in.
public enum QuietWarnings {
    /// Seconds before the start of quiet hours that each warning is due.
    static let leads: [Double] = [600, 60]

    /// The warning due at `now` and the key of its occurrence: the 10-minute one from 10 minutes to just
    /// over 1 minute before quiet hours begin, the 1-minute one in the last minute.
    public static func due(_ policy: QuietHoursPolicy?, now: Date, deviceZone: ZoneInfo?, overrideUntil: Date? = nil) -> PendingNotice? {
        guard let policy else { return nil }
        let state = policy.evaluate(at: now, deviceZone: deviceZone, overrideUntil: overrideUntil)
        // Not quiet now, so the next transition is where quiet hours begin.
        guard !state.quiet, let start = state.nextTransition else { return nil }
        let left = start.timeIntervalSince(now)
        guard left > 0, left <= leads[0] else { return nil }
        let kind = left <= leads[1] ? "quiet-hours-1min" : "quiet-hours-10min"
        let minutes = Int((left / 60).rounded(.up))
        let zone = policy.zone(deviceZone: deviceZone)
        let local = ((Int(start.timeIntervalSince1970) + zone.secondsFromGMT(for: start)) % 86_400 + 86_400) % 86_400 / 60
        let at = "\((local / 60).padded(2)):\((local % 60).padded(2))"
        let notice = DesktopNotice(
            kind: kind, summary: "Feierabend in \(minutes) minute\(minutes == 1 ? "" : "s") — save your work",
            body: "Quiet hours begin at \(at) (\(policy.zoneName(deviceZone: deviceZone))). The work account's programs are paused then until work hours.",
            urgency: kind == "quiet-hours-1min" ? 2 : 1)
        return PendingNotice(key: "\(kind)@\(ISO8601.string(from: start))", notice: notice)
    }

    /// The next instant after `now` a warning becomes due, so the daemon wakes then.
    public static func next(_ policy: QuietHoursPolicy?, after now: Date, deviceZone: ZoneInfo?, overrideUntil: Date? = nil) -> Date? {
        guard let policy else { return nil }
        let state = policy.evaluate(at: now, deviceZone: deviceZone, overrideUntil: overrideUntil)
        guard !state.quiet, let start = state.nextTransition else { return nil }
        return leads.map { start.addingTimeInterval(-$0) }.filter { $0 > now }.min()
    }
}

extension DesktopNotice {
    /// The container was locked by an admin's `lock` command.
    static func locked(reason: String?) -> DesktopNotice {
        let why = reason.map { $0.trimmingWhitespace() }.flatMap { $0.isEmpty ? nil : $0 }
        return DesktopNotice(
            kind: "container-locked", summary: "Your work account is being locked by your IT department",
            body:
                "\(why.map { "Reason: \($0)\n" } ?? "")Your work programs are paused and the work account cannot log in until it is unlocked. Your personal account is not affected.",
            urgency: 2)
    }

    /// The person is being offboarded: the work account and its data go on `wipeAt`.
    static func offboardingPlanned(wipeAt: Date, zone: ZoneInfo?) -> DesktopNotice {
        DesktopNotice(
            kind: "offboarding-planned", summary: "Your work account will be removed",
            body:
                "Your organisation plans to remove the work account and its data from this device on \(WallClockResolver.localDate(of: wipeAt, in: zone ?? .gmt)). Save what your organisation needs to where it belongs before then. Your personal account is not affected."
        )
    }

    /// A usage-terms version to accept (`kontor-agent terms show`).
    static func termsPending(version: String, deadline: Date?, zone: ZoneInfo?) -> DesktopNotice {
        let by = deadline.map { " by \(WallClockResolver.localDate(of: $0, in: zone ?? .gmt))" } ?? ""
        return DesktopNotice(
            kind: "terms-pending", summary: "New usage terms to accept",
            body: "Please read and accept version \(version) of your organisation's usage terms\(by): run `kontor-agent terms show`.")
    }
}

extension Agent {
    /// Queues the quiet-hours warning due now, then shows every queued notice in the work session and
    /// records each as a `notice.sent` event (`notice.skipped` without a session, `notice.error` when
    /// it failed). Runs before enforcement, so a lock's notice is shown before the session is frozen.
    func deliverNotices(_ policy: EffectivePolicy?, state: inout EnforcementState, now: Date) {
        if !state.adminLocked, !state.offlineLocked,
            let due = QuietWarnings.due(policy?.quietHours, now: now, deviceZone: enforcer.deviceZone, overrideUntil: enforcer.currentOverride()?.until)
        {
            state.notices.queue(due.notice, key: due.key)
        }
        // Usage terms to answer: once per version, before the enforcement that may lock the container for them.
        if let terms = policy?.terms, terms.decision != .accepted {
            state.notices.queue(
                .termsPending(version: terms.version, deadline: terms.deadline, zone: enforcer.deviceZone), key: "terms-pending@\(terms.version)")
        }
        // A planned offboarding: once per date, while it is ahead.
        if let wipeAt = policy?.offboardingWipeAt, wipeAt > now {
            state.notices.queue(.offboardingPlanned(wipeAt: wipeAt, zone: enforcer.deviceZone), key: "offboarding@\(ISO8601.string(from: wipeAt))")
        }
        guard !state.notices.pending.isEmpty else { return }
        // Only the work account the agent created, as the account database still has it.
        let account = try? enforcer.accounts.verified().get()
        for pending in state.notices.pending {
            let kind = pending.notice.kind
            let outcome: NoticeOutcome
            if let account {
                // A frozen session cannot answer; the notifier would only wait for its timeout.
                outcome = state.frozen ? .noSession("the work session is paused") : notifier.show(pending.notice, to: account)
            } else {
                outcome = .noSession("there is no work account")
            }
            state.notices.finish(pending.key)
            switch outcome {
            case .sent:
                state.add(DeviceEvent(at: now, kind: "notice.sent", detail: kind))
            case .noSession(let why):
                logger.debug("notice not shown: no work session", metadata: ["notice": "\(kind)", "reason": "\(why)"])
                state.add(DeviceEvent(at: now, kind: "notice.skipped", detail: "\(kind): no work session"))
            case .failed(let why):
                logger.warning("notice not shown", metadata: ["notice": "\(kind)", "reason": "\(why)"])
                state.add(DeviceEvent(at: now, kind: "notice.error", detail: "\(kind): \(why)"))
            }
        }
    }

    /// Seconds until the next quiet-hours warning is due, so the daemon wakes for it; nil when none is.
    func secondsUntilNextNotice() -> Double? {
        guard let quiet = (try? store.policy())??.policy.quietHours else { return nil }
        let now = clock.now()
        let next = QuietWarnings.next(quiet, after: now, deviceZone: enforcer.deviceZone, overrideUntil: enforcer.currentOverride()?.until)
        return next.map { max(0.05, $0.timeIntervalSince(now)) }
    }
}

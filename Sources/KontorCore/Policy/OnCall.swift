#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Who is on call: the persons whose quiet hours have an on-call exemption at an instant, as an after-hours
/// bot or a phone calendar asks for them. Pure: the server supplies each person's effective quiet hours.
public enum OnCallRoster {
    /// A person as the roster needs them.
    public struct Member: Sendable, Equatable {
        public var email: String
        public var displayName: String
        public var phone: String?
        /// The person's effective quiet hours (exemptions already narrowed to them); nil when none apply.
        public var quietHours: QuietHoursPolicy?

        public init(email: String, displayName: String, phone: String?, quietHours: QuietHoursPolicy?) {
            self.email = email
            self.displayName = displayName
            self.phone = phone
            self.quietHours = quietHours
        }
    }

    /// One person on call, and the on-call period that covers the instant asked about.
    public struct Entry: Codable, Sendable, Equatable {
        public var email: String
        public var displayName: String
        public var phone: String?
        public var reason: String?
        public var from: Date
        public var until: Date
        public var timeZone: String
    }

    /// The members on call at `instant`, by the end of their period, then email.
    public static func onCall(_ members: [Member], at instant: Date) -> [Entry] {
        members.compactMap { member -> Entry? in
            guard let quiet = member.quietHours, let period = quiet.onCallPeriod(containing: instant) else { return nil }
            return Entry(
                email: member.email, displayName: member.displayName, phone: member.phone, reason: period.reason, from: period.start,
                until: period.end, timeZone: quiet.zoneName(deviceZone: nil))
        }.sorted { ($0.until, $0.email) < ($1.until, $1.email) }
    }

    /// Every on-call period of the members that overlaps `from..<to`.
    public static func periods(_ members: [Member], from: Date, to: Date) -> [Entry] {
        members.flatMap { member -> [Entry] in
            guard let quiet = member.quietHours else { return [] }
            return quiet.onCallPeriods(from: from, to: to).map {
                Entry(
                    email: member.email, displayName: member.displayName, phone: member.phone, reason: $0.reason, from: $0.start, until: $0.end,
                    timeZone: quiet.zoneName(deviceZone: nil))
            }
        }.sorted { ($0.from, $0.email) < ($1.from, $1.email) }
    }
}

/// The answer to "who is on call at `at`", as the API sends it and `kontorctl oncall` reads it.
public struct OnCallAnswer: Codable, Sendable {
    public var at: Date
    public var group: String?
    /// Whether the group's quiet hours are in force at `at` (for everyone not on call), and until when.
    public var quietHours: QuietState?
    public var onCall: [OnCallRoster.Entry]

    public init(at: Date, group: String?, quietHours: QuietState?, onCall: [OnCallRoster.Entry]) {
        self.at = at
        self.group = group
        self.quietHours = quietHours
        self.onCall = onCall
    }
}

/// A stretch of time with why it is there (a quiet period, an on-call period).
public struct TimePeriod: Codable, Sendable, Equatable {
    public var start: Date
    public var end: Date
    public var reason: String?

    public init(start: Date, end: Date, reason: String?) {
        self.start = start
        self.end = end
        self.reason = reason
    }
}

extension QuietHoursPolicy {
    /// The on-call range (whole local days in the policy's zone) that covers `instant`, if any.
    public func onCallPeriod(containing instant: Date, deviceZone: ZoneInfo? = nil) -> TimePeriod? {
        onCallPeriods(from: instant, to: instant.addingTimeInterval(1), deviceZone: deviceZone).first { $0.start <= instant && instant < $0.end }
    }

    /// The on-call ranges that overlap `from..<to`, as instants.
    public func onCallPeriods(from: Date, to: Date, deviceZone: ZoneInfo? = nil) -> [TimePeriod] {
        let zone = zone(deviceZone: deviceZone)
        return onCall.map { range in
            TimePeriod(
                start: WallClockResolver.instant(range.from, minutes: 0, in: zone),
                end: WallClockResolver.instant(range.until.adding(days: 1), minutes: 0, in: zone), reason: range.reason)
        }.filter { $0.start < to && $0.end > from }.sorted { $0.start < $1.start }
    }

    /// The quiet periods that overlap `from..<to`, as the device would enforce them (holidays, extra days,
    /// on-call exemptions and DST included), each with the reason in force at its start; found by walking
    /// the same transitions ``evaluate(at:deviceZone:overrideUntil:)`` reports. At most `limit` periods.
    public func quietPeriods(from: Date, to: Date, deviceZone: ZoneInfo? = nil, limit: Int = 1000) -> [TimePeriod] {
        var periods: [TimePeriod] = []
        var t = from
        while t < to, periods.count < limit {
            let state = evaluate(at: t, deviceZone: deviceZone)
            // No change within the two weeks evaluate looks ahead: look again from there.
            let next = state.nextTransition ?? t.addingTimeInterval(14 * 86_400)
            if state.quiet {
                if let last = periods.last, last.end == t {
                    periods[periods.count - 1].end = next
                } else {
                    periods.append(TimePeriod(start: t, end: next, reason: state.reason))
                }
            }
            t = next
        }
        // The first period may have begun before `from`: find its real start.
        if let first = periods.first, first.start == from, evaluate(at: from.addingTimeInterval(-1), deviceZone: deviceZone).quiet {
            periods[0].start = start(ofQuietBefore: from, deviceZone: deviceZone)
        }
        return periods
    }

    /// The start of the quiet period that is in force just before `instant` (looking back at most 15 days).
    private func start(ofQuietBefore instant: Date, deviceZone: ZoneInfo?) -> Date {
        var t = instant.addingTimeInterval(-15 * 86_400)
        var start = t
        while t < instant {
            let state = evaluate(at: t, deviceZone: deviceZone)
            let next = min(state.nextTransition ?? instant, instant)
            if !state.quiet { start = next }
            t = next
        }
        return start
    }
}

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Quiet hours as one device enforces them: the profile's rules with the exemptions already
/// narrowed to the device's person (other people's on-call plans never reach a device).
public struct QuietHoursPolicy: Codable, Sendable, Equatable {
    public var timeZone: String?
    public var weekly: [String: [String]]
    public var holidayRegion: String?
    public var extraDates: [LocalDate]
    public var onCall: [OnCall]
    public var allowUserOverride: Bool
    /// Whether the encrypted work container's key leaves the kernel during quiet hours (its files are then
    /// ciphertext, not only frozen); nil means no.
    public var lockContainerKey: Bool?

    public init(
        timeZone: String? = nil, weekly: [String: [String]] = [:], holidayRegion: String? = nil, extraDates: [LocalDate] = [], onCall: [OnCall] = [],
        allowUserOverride: Bool = false
    ) {
        self.timeZone = timeZone
        self.weekly = weekly
        self.holidayRegion = holidayRegion
        self.extraDates = extraDates
        self.onCall = onCall
        self.allowUserOverride = allowUserOverride
    }

    /// A date range (inclusive, local days) during which this device's person is on call.
    public struct OnCall: Codable, Sendable, Equatable {
        public var from: LocalDate
        public var until: LocalDate
        public var reason: String?

        public init(from: LocalDate, until: LocalDate, reason: String?) {
            self.from = from
            self.until = until
            self.reason = reason
        }
    }

    /// The weekday keys, Monday first (ISO order).
    public static let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
}

/// A quiet window within a day: minutes from local midnight; `end <= start` means it ends the next day.
public struct QuietWindow: Sendable, Equatable {
    public var start: Int
    public var end: Int

    /// Parses `HH:MM-HH:MM` (24:00 allowed as an end) or `all`.
    public init?(_ text: String) {
        let trimmed = text.trimmingSpaces().lowercased()
        if trimmed == "all" || trimmed == "all-day" {
            self.start = 0
            self.end = 1440
            return
        }
        let parts = trimmed.split(separator: "-")
        guard parts.count == 2, let s = Self.minutes(parts[0], allow24: false), let e = Self.minutes(parts[1], allow24: true), s != e else { return nil }
        self.start = s
        self.end = e
    }

    static func minutes(_ text: Substring, allow24: Bool) -> Int? {
        let hm = text.split(separator: ":")
        guard hm.count == 2, hm[0].count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...59).contains(m) else { return nil }
        if h == 24 && m == 0 && allow24 { return 1440 }
        guard (0...23).contains(h) else { return nil }
        return h * 60 + m
    }
}

/// Whether an instant is quiet, why, and when that changes.
public struct QuietState: Codable, Sendable, Equatable {
    public var quiet: Bool
    /// `window monday 18:00-07:00`, `holiday Fronleichnam`, `extra quiet day`, `on call`, `user override`,
    /// or `working hours`.
    public var reason: String
    /// The next instant the answer flips, nil when it never does within two weeks.
    public var nextTransition: Date?
    /// The zone the rules were read in.
    public var timeZone: String

    public init(quiet: Bool, reason: String, nextTransition: Date?, timeZone: String) {
        self.quiet = quiet
        self.reason = reason
        self.nextTransition = nextTransition
        self.timeZone = timeZone
    }
}

extension QuietHoursPolicy {
    private struct Span {
        var start: Date
        var end: Date
        var reason: String
    }

    /// The zone the rules are read in: the policy's, else the device's, else UTC.
    public func zone(deviceZone: ZoneInfo?) -> ZoneInfo {
        if let id = timeZone, let zone = ZoneInfo(identifier: id) { return zone }
        return deviceZone ?? ZoneInfo(identifier: "UTC")!
    }

    /// The name of that zone as people read it: the policy's `timeZone` as written, else the device's
    /// zone, else `UTC` — Foundation on Linux names UTC `GMT`, which is not what the docs or a profile say.
    public func zoneName(deviceZone: ZoneInfo?) -> String {
        if let id = timeZone, ZoneInfo(identifier: id) != nil { return id }
        guard let deviceZone, deviceZone.identifier != "GMT" else { return "UTC" }
        return deviceZone.identifier
    }

    /// Evaluates the rules at `instant`. `overrideUntil` is an employee's early end of quiet hours.
    /// The one function server (kontorctl profiles eval) and agent both use.
    public func evaluate(at instant: Date, deviceZone: ZoneInfo? = nil, overrideUntil: Date? = nil) -> QuietState {
        let zone = zone(deviceZone: deviceZone)
        let today = WallClockResolver.localDate(of: instant, in: zone)
        let quiet = quietSpans(from: today.adding(days: -2), to: today.adding(days: 15), zone: zone)
        let exempt = onCallSpans(from: today.adding(days: -2), to: today.adding(days: 15), zone: zone)
        var overrides: [Span] = []
        if let overrideUntil, allowUserOverride, overrideUntil > instant {
            overrides.append(Span(start: .distantPast, end: overrideUntil, reason: "user override"))
        }

        func state(at t: Date) -> (Bool, String) {
            if let o = overrides.first(where: { $0.start <= t && t < $0.end }) { return (false, o.reason) }
            if let e = exempt.first(where: { $0.start <= t && t < $0.end }) { return (false, e.reason) }
            if let q = quiet.first(where: { $0.start <= t && t < $0.end }) { return (true, q.reason) }
            return (false, "working hours")
        }
        let (now, reason) = state(at: instant)
        var boundaries = Set<Date>()
        for s in quiet + exempt + overrides {
            boundaries.insert(s.start)
            boundaries.insert(s.end)
        }
        let horizon = instant.addingTimeInterval(14 * 86_400)
        let next = boundaries.filter { $0 > instant && $0 <= horizon }.sorted().first { state(at: $0).0 != now }
        return QuietState(quiet: now, reason: reason, nextTransition: next, timeZone: zoneName(deviceZone: deviceZone))
    }

    /// The end of the quiet period containing `instant` (windows that touch are one period), for an override.
    public func endOfQuietPeriod(containing instant: Date, deviceZone: ZoneInfo? = nil) -> Date? {
        let state = evaluate(at: instant, deviceZone: deviceZone)
        guard state.quiet else { return nil }
        return state.nextTransition ?? instant.addingTimeInterval(14 * 86_400)
    }

    private func quietSpans(from first: LocalDate, to last: LocalDate, zone: ZoneInfo) -> [Span] {
        var spans: [Span] = []
        let extra = Set(extraDates)
        var day = first
        while day <= last {
            let dayStart = WallClockResolver.instant(day, minutes: 0, in: zone)
            let dayEnd = WallClockResolver.instant(day.adding(days: 1), minutes: 0, in: zone)
            if let region = holidayRegion,
                let holiday = try? HolidayCalendar.holiday(region: region, year: day.year, month: day.month, day: day.day)
            {
                spans.append(Span(start: dayStart, end: dayEnd, reason: "holiday \(holiday.name)"))
            }
            if extra.contains(day) { spans.append(Span(start: dayStart, end: dayEnd, reason: "extra quiet day \(day)")) }
            let name = Self.weekdays[day.isoWeekday - 1]
            for text in weekly[name] ?? [] {
                guard let window = QuietWindow(text) else { continue }
                let start = WallClockResolver.instant(day, minutes: window.start, in: zone)
                let end =
                    window.end > window.start
                    ? WallClockResolver.instant(day, minutes: window.end, in: zone)
                    : WallClockResolver.instant(day.adding(days: 1), minutes: window.end, in: zone)
                if end > start { spans.append(Span(start: start, end: end, reason: "quiet window \(name) \(text)")) }
            }
            day = day.adding(days: 1)
        }
        return spans.sorted { $0.start < $1.start }
    }

    private func onCallSpans(from first: LocalDate, to last: LocalDate, zone: ZoneInfo) -> [Span] {
        onCall.compactMap { range in
            guard range.until >= first, range.from <= last else { return nil }
            let start = WallClockResolver.instant(range.from, minutes: 0, in: zone)
            let end = WallClockResolver.instant(range.until.adding(days: 1), minutes: 0, in: zone)
            return Span(start: start, end: end, reason: "on call\(range.reason.map { ": \($0)" } ?? "")")
        }
    }
}

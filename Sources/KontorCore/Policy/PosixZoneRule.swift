/// A POSIX TZ rule such as `CET-1CEST,M3.5.0,M10.5.0/3`, as a TZif footer gives it for the instants
/// after the file's last transition (POSIX.1-2017 section 8.3, with RFC 8536's extensions: times from
/// -167 to 167 hours).
struct PosixZoneRule: Sendable, Equatable {
    /// Seconds east of UTC outside daylight saving time.
    var standardOffset: Int
    var daylight: Daylight?

    struct Daylight: Sendable, Equatable {
        var offset: Int
        var start: Day
        var startTime: Int
        var end: Day
        var endTime: Int
    }

    /// The day of a year a change happens on.
    enum Day: Sendable, Equatable {
        /// `Jn`: 1…365, February 29 never counted.
        case julian(Int)
        /// `n`: 0…365, February 29 counted.
        case zeroBased(Int)
        /// `Mm.w.d`: weekday d (0 = Sunday) of week w (5 = the last) of month m.
        case monthWeek(month: Int, week: Int, weekday: Int)

        /// Days from 1970-01-01 to this day in `year`.
        func daysSinceEpoch(in year: Int) -> Int {
            let january1 = LocalDate(year: year, month: 1, day: 1).daysSinceEpoch
            switch self {
            case .julian(let n): return january1 + n - 1 + (LocalDate.isLeap(year) && n >= 60 ? 1 : 0)
            case .zeroBased(let n): return january1 + n
            case .monthWeek(let month, let week, let weekday):
                let first = LocalDate(year: year, month: month, day: 1)
                var day = 1 + (weekday - first.isoWeekday % 7 + 7) % 7 + (week - 1) * 7
                while day > LocalDate.daysIn(year: year, month: month) { day -= 7 }
                return first.daysSinceEpoch + day - 1
            }
        }
    }

    /// The offset in force at `t` (seconds since 1970).
    func offset(at t: Int64) -> Int {
        guard daylight != nil else { return standardOffset }
        let year = LocalDate(daysSinceEpoch: Int((t + Int64(standardOffset)).floorDiv(86_400))).year
        return changes(years: (year - 1)...(year + 1)).last { $0.at <= t }?.offset ?? standardOffset
    }

    /// The first instant after `t` at which the offset changes.
    func nextTransition(after t: Int64) -> Int64? {
        guard daylight != nil else { return nil }
        let year = LocalDate(daysSinceEpoch: Int((t + Int64(standardOffset)).floorDiv(86_400))).year
        return changes(years: year...(year + 2)).map(\.at).first { $0 > t && offset(at: $0) != offset(at: $0 - 1) }
    }

    /// The starts and ends of daylight saving time in `years`, in time order (a start and the previous
    /// year's end at the same instant stay in that order, so a zone on daylight time all year stays on it).
    private func changes(years: ClosedRange<Int>) -> [(at: Int64, offset: Int)] {
        guard let daylight else { return [] }
        var out: [(at: Int64, offset: Int)] = []
        for year in years {
            let start = Int64(daylight.start.daysSinceEpoch(in: year) * 86_400 + daylight.startTime - standardOffset)
            let end = Int64(daylight.end.daysSinceEpoch(in: year) * 86_400 + daylight.endTime - daylight.offset)
            out.append((start, daylight.offset))
            out.append((end, standardOffset))
        }
        return out.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
    }
}

extension PosixZoneRule {
    /// Parses `std offset [dst [offset] [,start[/time],end[/time]]]`; nil when it is not such a rule.
    init?(_ text: String) {
        var scanner = RuleScanner(Array(text.utf8))
        guard scanner.name(), let standard = scanner.offset(maxHours: 24) else { return nil }
        standardOffset = -standard
        guard !scanner.atEnd else { return }
        guard scanner.name() else { return nil }
        var daylightOffset = standardOffset + 3600
        if !scanner.atEnd, scanner.peek != UInt8(ascii: ",") {
            guard let parsed = scanner.offset(maxHours: 24) else { return nil }
            daylightOffset = -parsed
        }
        // No dates: the US rules, as glibc assumes.
        var start = Day.monthWeek(month: 3, week: 2, weekday: 0)
        var end = Day.monthWeek(month: 11, week: 1, weekday: 0)
        var startTime = 7200
        var endTime = 7200
        if !scanner.atEnd {
            guard scanner.take(","), let s = scanner.day() else { return nil }
            start = s
            if scanner.take("/") {
                guard let t = scanner.offset(maxHours: 167) else { return nil }
                startTime = t
            }
            guard scanner.take(","), let e = scanner.day() else { return nil }
            end = e
            if scanner.take("/") {
                guard let t = scanner.offset(maxHours: 167) else { return nil }
                endTime = t
            }
            guard scanner.atEnd else { return nil }
        }
        daylight = Daylight(offset: daylightOffset, start: start, startTime: startTime, end: end, endTime: endTime)
    }
}

/// Reads the parts of a POSIX TZ rule.
private struct RuleScanner {
    let bytes: [UInt8]
    var at = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { at == bytes.count }
    var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

    mutating func take(_ character: Unicode.Scalar) -> Bool {
        guard peek == UInt8(ascii: character) else { return false }
        at += 1
        return true
    }

    /// `<+0330>` or three or more letters.
    mutating func name() -> Bool {
        if take("<") {
            guard let close = bytes[at...].firstIndex(of: UInt8(ascii: ">")), close - at >= 3 else { return false }
            at = close + 1
            return true
        }
        let start = at
        while let c = peek, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) { at += 1 }
        return at - start >= 3
    }

    mutating func number(max: Int) -> Int? {
        let start = at
        var value = 0
        while let c = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c), at - start < 3 {
            value = value * 10 + Int(c - UInt8(ascii: "0"))
            at += 1
        }
        return at > start && value <= max ? value : nil
    }

    /// `[+-]hh[:mm[:ss]]` in seconds (as written: POSIX offsets count west of UTC).
    mutating func offset(maxHours: Int) -> Int? {
        let sign = take("-") ? -1 : 1
        if sign == 1 { _ = take("+") }
        guard let hours = number(max: maxHours) else { return nil }
        var seconds = hours * 3600
        if take(":") {
            guard let minutes = number(max: 59) else { return nil }
            seconds += minutes * 60
            if take(":") {
                guard let s = number(max: 59) else { return nil }
                seconds += s
            }
        }
        return sign * seconds
    }

    mutating func day() -> PosixZoneRule.Day? {
        if take("J") { return number(max: 365).flatMap { $0 >= 1 ? .julian($0) : nil } }
        if take("M") {
            guard let month = number(max: 12), month >= 1, take("."), let week = number(max: 5), week >= 1, take("."), let weekday = number(max: 6) else {
                return nil
            }
            return .monthWeek(month: month, week: week, weekday: weekday)
        }
        return number(max: 365).map { .zeroBased($0) }
    }
}

extension Int64 {
    /// Division rounding towards minus infinity.
    fileprivate func floorDiv(_ divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}

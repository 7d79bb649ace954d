#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A calendar day without a time zone (proleptic Gregorian), with exact integer arithmetic.
public struct LocalDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`; nil unless it is a real calendar day.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), d >= 1, d <= LocalDate.daysIn(year: y, month: m)
        else { return nil }
        self.init(year: y, month: m, day: d)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = LocalDate(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected a date YYYY-MM-DD, found \"\(text)\""))
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String { "\(year.padded(4))-\(month.padded(2))-\(day.padded(2))" }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    public var daysSinceEpoch: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The day `days` after 1970-01-01.
    public init(daysSinceEpoch days: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d)
    }

    public func adding(days: Int) -> LocalDate { LocalDate(daysSinceEpoch: daysSinceEpoch + days) }

    /// ISO weekday: 1 = Monday … 7 = Sunday.
    public var isoWeekday: Int {
        let w = (daysSinceEpoch + 3) % 7  // 1970-01-01 was a Thursday
        return (w < 0 ? w + 7 : w) + 1
    }

    public static func < (a: LocalDate, b: LocalDate) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }
}

/// Turning wall-clock times into instants in an IANA zone, with Kontor's DST rules:
/// a wall time that does not exist that day (the spring gap) happens at the first instant after the
/// gap; one that occurs twice (the autumn overlap) happens at its first occurrence.
public enum WallClockResolver {
    /// The instant at which `date` `minutes` (0…1440; 1440 = the next midnight) happens in `zone`.
    public static func instant(_ date: LocalDate, minutes: Int, in zone: ZoneInfo) -> Date {
        let wall = Double(date.daysSinceEpoch * 86_400 + minutes * 60)
        // Offsets in force around that wall time; a valid reading t satisfies offset(t) == o.
        let probes = [wall - 2 * 86_400, wall - 86_400, wall, wall + 86_400, wall + 2 * 86_400]
        var offsets = Set<Int>()
        for p in probes { offsets.insert(zone.secondsFromGMT(for: Date(timeIntervalSince1970: p))) }
        var valid: [Double] = []
        for o in offsets {
            let t = wall - Double(o)
            if zone.secondsFromGMT(for: Date(timeIntervalSince1970: t)) == o { valid.append(t) }
        }
        if let first = valid.min() { return Date(timeIntervalSince1970: first) }
        // In a gap: the transition instant lies in (wall - maxOffset, wall - minOffset].
        let low = wall - Double(offsets.max() ?? 0) - 1
        if let transition = zone.nextTransition(after: Date(timeIntervalSince1970: low)),
            transition.timeIntervalSince1970 <= wall - Double(offsets.min() ?? 0)
        {
            return transition
        }
        return Date(timeIntervalSince1970: wall - Double(zone.secondsFromGMT(for: Date(timeIntervalSince1970: wall))))
    }

    /// The local calendar day of `instant` in `zone`.
    public static func localDate(of instant: Date, in zone: ZoneInfo) -> LocalDate {
        let seconds = Int(instant.timeIntervalSince1970.rounded(.down)) + zone.secondsFromGMT(for: instant)
        return LocalDate(daysSinceEpoch: Int((Double(seconds) / 86_400).rounded(.down)))
    }
}

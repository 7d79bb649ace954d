#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A public holiday: a whole day that counts as a quiet day.
public struct Holiday: Codable, Sendable, Equatable, Hashable {
    /// YYYY-MM-DD
    public var date: String
    /// The local name, e.g. "Fronleichnam", "Tag der Deutschen Einheit", "Nationalfeiertag", "Bundesfeier".
    public var name: String

    /// A holiday on `date` (YYYY-MM-DD) called `name`.
    public init(date: String, name: String) {
        self.date = date
        self.name = name
    }
}

/// Why a holiday lookup could not be answered.
public enum HolidayError: Error, Equatable, CustomStringConvertible {
    case unknownRegion(String)
    case unsupportedYear(Int)

    /// A message for people, naming what would have been accepted.
    public var description: String {
        switch self {
        case .unknownRegion(let region):
            "unknown holiday region \"\(region)\"; known regions: \(HolidayCalendar.regions.joined(separator: ", "))"
        case .unsupportedYear(let year):
            "unsupported holiday year \(year); supported years: "
                + "\(HolidayCalendar.supportedYears.lowerBound)...\(HolidayCalendar.supportedYears.upperBound)"
        }
    }
}

/// Public holidays for every German state, Austria and Switzerland, for any year.
///
/// Only statutory days are modelled. Switzerland has just four national days; the many
/// cantonal ones (Karfreitag, Ostermontag, Berchtoldstag, …) are deliberately not included.
/// The German rules are today's state laws plus their recent start years; older history
/// (e.g. Buß- und Bettag nationwide before 1995, 17 June in West Germany until 1990) is not reconstructed.
public enum HolidayCalendar {
    /// Every supported region code: "DE" (nationwide days only), "DE-BW", "DE-BY", "DE-BE", "DE-BB", "DE-HB", "DE-HH", "DE-HE", "DE-MV", "DE-NI", "DE-NW", "DE-RP", "DE-SL", "DE-SN", "DE-ST", "DE-SH", "DE-TH", "AT", "CH".
    public static let regions: [String] = [
        "DE", "DE-BW", "DE-BY", "DE-BE", "DE-BB", "DE-HB", "DE-HH", "DE-HE", "DE-MV",
        "DE-NI", "DE-NW", "DE-RP", "DE-SL", "DE-SN", "DE-ST", "DE-SH", "DE-TH", "AT", "CH",
    ]

    /// Beyond this range the rules above are guesses about the past or the future.
    static let supportedYears: ClosedRange<Int> = 1900...2200

    /// The holidays of `region` in `year`, sorted by date, each date at most once (if two fall on the same day, join names with " / ").
    /// Throws HolidayError.unknownRegion(region) for an unknown code and HolidayError.unsupportedYear(year) outside 1900...2200.
    public static func holidays(region: String, year: Int) throws -> [Holiday] {
        guard regions.contains(region) else { throw HolidayError.unknownRegion(region) }
        guard supportedYears.contains(year) else { throw HolidayError.unsupportedYear(year) }

        let days: [(day: Int, name: String)]
        switch region {
        case "AT": days = austria(year: year)
        case "CH": days = switzerland(year: year)
        case "DE": days = germany(state: nil, year: year)
        default: days = germany(state: String(region.dropFirst("DE-".count)), year: year)
        }

        // Ascension can fall on 1 May (e.g. 2008); the day is still one quiet day, so merge rather than repeat.
        var namesByDay: [Int: [String]] = [:]
        for entry in days {
            namesByDay[entry.day, default: []].append(entry.name)
        }
        return namesByDay.keys.sorted().map { day in
            Holiday(date: isoDate(dayNumber: day), name: (namesByDay[day] ?? []).joined(separator: " / "))
        }
    }

    /// The holiday on that calendar day in `region`, if any (year/month/day as integers).
    public static func holiday(region: String, year: Int, month: Int, day: Int) throws -> Holiday? {
        let all = try holidays(region: region, year: year)
        // An impossible date such as 2027-02-30 matches no holiday instead of rolling over into March.
        return all.first { $0.date == isoDate(year: year, month: month, day: day) }
    }

    /// Easter Sunday (Gregorian, anonymous/Meeus algorithm) as (month, day).
    public static func easterSunday(year: Int) -> (month: Int, day: Int) {
        // Floored division keeps the algorithm well defined (and trap-free) for every Int year.
        let a = mod(year, 19)
        let b = floorDiv(year, 100)
        let c = mod(year, 100)
        let d = floorDiv(b, 4)
        let e = mod(b, 4)
        let f = floorDiv(b + 8, 25)
        let g = floorDiv(b - f + 1, 3)
        let h = mod(19 * a + b - d - g + 15, 30)
        let i = floorDiv(c, 4)
        let k = mod(c, 4)
        let l = mod(32 + 2 * e + 2 * i - h - k, 7)
        let m = floorDiv(a + 11 * h + 22 * l, 451)
        let month = floorDiv(h + l - 7 * m + 114, 31)
        let day = mod(h + l - 7 * m + 114, 31) + 1
        return (month, day)
    }

    // MARK: - Rules

    /// `state` is nil for region "DE", which means the nationwide days only.
    private static func germany(state: String?, year: Int) -> [(day: Int, name: String)] {
        let easter = easterDayNumber(year: year)
        func fixed(_ month: Int, _ day: Int) -> Int { dayNumber(year: year, month: month, day: day) }
        func isIn(_ states: Set<String>) -> Bool { state.map(states.contains) ?? false }

        var days: [(day: Int, name: String)] = [
            (fixed(1, 1), "Neujahr"),
            (easter - 2, "Karfreitag"),
            (easter + 1, "Ostermontag"),
            (fixed(5, 1), "Tag der Arbeit"),
            (easter + 39, "Christi Himmelfahrt"),
            (easter + 50, "Pfingstmontag"),
            (fixed(12, 25), "1. Weihnachtstag"),
            (fixed(12, 26), "2. Weihnachtstag"),
        ]
        // Reunification took effect on 3 October 1990, so the day exists from then on.
        if year >= 1990 { days.append((fixed(10, 3), "Tag der Deutschen Einheit")) }

        if isIn(["BW", "BY", "ST"]) { days.append((fixed(1, 6), "Heilige Drei Könige")) }
        if (state == "BE" && year >= 2019) || (state == "MV" && year >= 2023) {
            days.append((fixed(3, 8), "Internationaler Frauentag"))
        }
        // Brandenburg is the only state whose holiday law names these Sundays explicitly.
        if isIn(["BB"]) {
            days.append((easter, "Ostersonntag"))
            days.append((easter + 49, "Pfingstsonntag"))
        }
        if isIn(["BW", "BY", "HE", "NW", "RP", "SL"]) { days.append((easter + 60, "Fronleichnam")) }
        // In Bavaria only Catholic-majority communities keep 15 August; the state code cannot tell them apart.
        if isIn(["SL", "BY"]) { days.append((fixed(8, 15), "Mariä Himmelfahrt")) }
        if state == "TH" && year >= 2019 { days.append((fixed(9, 20), "Weltkindertag")) }

        // 2017 was the 500th anniversary of the Reformation: a one-off holiday in every state.
        let reformationAlways: Set<String> = ["BB", "MV", "SN", "ST", "TH"]
        let reformationSince2018: Set<String> = ["HB", "HH", "NI", "SH"]
        if year == 2017 || isIn(reformationAlways) || (year >= 2018 && isIn(reformationSince2018)) {
            days.append((fixed(10, 31), "Reformationstag"))
        }

        if isIn(["BW", "BY", "NW", "RP", "SL"]) { days.append((fixed(11, 1), "Allerheiligen")) }
        if isIn(["SN"]) { days.append((bussUndBettag(year: year), "Buß- und Bettag")) }
        // Berlin declared 8 May a holiday only for the 75th and 80th anniversaries of the end of the war.
        if state == "BE" && (year == 2020 || year == 2025) { days.append((fixed(5, 8), "Tag der Befreiung")) }
        return days
    }

    private static func austria(year: Int) -> [(day: Int, name: String)] {
        let easter = easterDayNumber(year: year)
        func fixed(_ month: Int, _ day: Int) -> Int { dayNumber(year: year, month: month, day: day) }
        return [
            (fixed(1, 1), "Neujahr"),
            (fixed(1, 6), "Heilige Drei Könige"),
            (easter + 1, "Ostermontag"),
            (fixed(5, 1), "Staatsfeiertag"),
            (easter + 39, "Christi Himmelfahrt"),
            (easter + 50, "Pfingstmontag"),
            (easter + 60, "Fronleichnam"),
            (fixed(8, 15), "Mariä Himmelfahrt"),
            (fixed(10, 26), "Nationalfeiertag"),
            (fixed(11, 1), "Allerheiligen"),
            (fixed(12, 8), "Mariä Empfängnis"),
            (fixed(12, 25), "Christtag"),
            (fixed(12, 26), "Stefanitag"),
        ]
    }

    /// Only the days that are holidays in every canton; cantonal holidays are not included.
    private static func switzerland(year: Int) -> [(day: Int, name: String)] {
        let easter = easterDayNumber(year: year)
        func fixed(_ month: Int, _ day: Int) -> Int { dayNumber(year: year, month: month, day: day) }
        return [
            (fixed(1, 1), "Neujahrstag"),
            (easter + 39, "Auffahrt"),
            (fixed(8, 1), "Bundesfeier"),
            (fixed(12, 25), "Weihnachtstag"),
        ]
    }

    /// The last Wednesday strictly before 23 November.
    private static func bussUndBettag(year: Int) -> Int {
        let reference = dayNumber(year: year, month: 11, day: 23)
        let wednesday = 3
        let back = mod(isoWeekday(dayNumber: reference) - wednesday, 7)
        // When the 23rd is itself a Wednesday, "before" means the week before.
        return reference - (back == 0 ? 7 : back)
    }

    // MARK: - Calendar arithmetic
    //
    // Plain integer day numbers (days since 1970-01-01, proleptic Gregorian) keep the results
    // independent of the machine's time zone and of Foundation's calendar implementation.

    private static func easterDayNumber(year: Int) -> Int {
        let easter = easterSunday(year: year)
        return dayNumber(year: year, month: easter.month, day: easter.day)
    }

    /// Howard Hinnant's days_from_civil.
    static func dayNumber(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let shiftedMonth = mod(month + 9, 12)  // March = 0, so the leap day ends the year
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Howard Hinnant's civil_from_days.
    static func civil(dayNumber: Int) -> (year: Int, month: Int, day: Int) {
        let z = dayNumber + 719_468
        let era = floorDiv(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    /// Monday = 1 … Sunday = 7; day 0 (1970-01-01) was a Thursday.
    static func isoWeekday(dayNumber: Int) -> Int {
        mod(dayNumber + 3, 7) + 1
    }

    private static func isoDate(dayNumber: Int) -> String {
        let date = civil(dayNumber: dayNumber)
        return isoDate(year: date.year, month: date.month, day: date.day)
    }

    private static func isoDate(year: Int, month: Int, day: Int) -> String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    private static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let quotient = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient
    }

    private static func mod(_ a: Int, _ b: Int) -> Int {
        let remainder = a % b
        return remainder < 0 ? remainder + b : remainder
    }
}

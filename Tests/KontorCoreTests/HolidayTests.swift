import Foundation
import Testing

@testable import KontorCore

@Suite("Public holidays")
struct HolidayTests {
    // MARK: - Helpers

    /// Foundation's calendar serves as an independent oracle for weekdays and valid dates.
    private func utcCalendar() throws -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(secondsFromGMT: 0))
        return calendar
    }

    /// (year, month, day) of a strict YYYY-MM-DD string, or nil for any other shape.
    private func components(_ date: String) -> (year: Int, month: Int, day: Int)? {
        let chars = Array(date)
        guard chars.count == 10, chars[4] == "-", chars[7] == "-" else { return nil }
        let digitPositions = [0, 1, 2, 3, 5, 6, 8, 9]
        guard digitPositions.allSatisfy({ chars[$0].isASCII && chars[$0].isNumber }) else { return nil }
        guard let year = Int(String(chars[0..<4])), let month = Int(String(chars[5..<7])),
            let day = Int(String(chars[8..<10]))
        else { return nil }
        return (year, month, day)
    }

    /// Foundation's weekday (Sunday = 1 … Saturday = 7) for a valid date, nil for an impossible one.
    private func weekday(_ date: String) throws -> Int? {
        guard let parts = components(date) else { return nil }
        let calendar = try utcCalendar()
        let wanted = DateComponents(year: parts.year, month: parts.month, day: parts.day)
        guard let instant = calendar.date(from: wanted) else { return nil }
        let back = calendar.dateComponents([.year, .month, .day, .weekday], from: instant)
        guard back.year == parts.year, back.month == parts.month, back.day == parts.day else { return nil }
        return back.weekday
    }

    private func names(_ region: String, _ year: Int) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try HolidayCalendar.holidays(region: region, year: year).map { ($0.date, $0.name) })
    }

    private static let germanStates = HolidayCalendar.regions.filter { $0.hasPrefix("DE-") }

    // MARK: - Easter

    @Test(
        "Easter Sunday matches the published dates",
        arguments: [
            (2000, 4, 23), (2008, 3, 23), (2011, 4, 24), (2019, 4, 21), (2024, 3, 31),
            (2025, 4, 20), (2026, 4, 5), (2027, 3, 28), (2038, 4, 25), (1900, 4, 15), (2200, 4, 6),
        ])
    func easterKnownYears(year: Int, month: Int, day: Int) {
        let easter = HolidayCalendar.easterSunday(year: year)
        #expect(easter.month == month)
        #expect(easter.day == day)
    }

    @Test("Easter Sunday is always a Sunday between 22 March and 25 April")
    func easterIsASundayInRange() throws {
        for year in 1900...2200 {
            let easter = HolidayCalendar.easterSunday(year: year)
            let monthDay = easter.month * 100 + easter.day
            #expect((322...425).contains(monthDay), "\(year): \(easter)")
            let date = "\(year)-0\(easter.month)-\(easter.day < 10 ? "0" : "")\(easter.day)"
            #expect(try weekday(date) == 1, "\(date) is not a Sunday")
        }
    }

    // MARK: - Counts

    @Test(
        "each German state has the statutory number of holidays in 2027",
        arguments: [
            ("DE-BW", 12), ("DE-BY", 13), ("DE-BE", 10), ("DE-BB", 12), ("DE-HB", 10), ("DE-HH", 10),
            ("DE-HE", 10), ("DE-MV", 11), ("DE-NI", 10), ("DE-NW", 11), ("DE-RP", 11), ("DE-SL", 12),
            ("DE-SN", 11), ("DE-ST", 11), ("DE-SH", 10), ("DE-TH", 11),
        ])
    func germanStateCounts2027(region: String, count: Int) throws {
        #expect(try HolidayCalendar.holidays(region: region, year: 2027).count == count)
    }

    @Test("the regions are Germany, its sixteen states, Austria and Switzerland")
    func regionList() {
        #expect(HolidayCalendar.regions.count == 19)
        #expect(Set(HolidayCalendar.regions).count == 19)
        #expect(Self.germanStates.count == 16)
        #expect(HolidayCalendar.regions.contains("DE"))
        #expect(HolidayCalendar.regions.contains("AT"))
        #expect(HolidayCalendar.regions.contains("CH"))
    }

    @Test(
        "nationwide Germany, Austria and Switzerland have their statutory counts",
        arguments: [
            ("DE", 2027, 9), ("DE", 2017, 10), ("DE", 1989, 8), ("AT", 2027, 13), ("CH", 2027, 4),
        ])
    func nationalCounts(region: String, year: Int, count: Int) throws {
        #expect(try HolidayCalendar.holidays(region: region, year: year).count == count)
    }

    @Test("two holidays on the same day become one entry with both names")
    func coincidingHolidaysMerge() throws {
        // In 2008 Easter was on 23 March, so Ascension fell on 1 May.
        let days = try HolidayCalendar.holidays(region: "DE", year: 2008)
        #expect(days.count == 8)
        #expect(
            days.filter { $0.date == "2008-05-01" } == [
                Holiday(date: "2008-05-01", name: "Tag der Arbeit / Christi Himmelfahrt")
            ])
        #expect(try HolidayCalendar.holidays(region: "AT", year: 2008).count == 12)
    }

    // MARK: - Which state keeps which day

    @Test(
        "state holidays of 2027 are kept by exactly the right states",
        arguments: [
            ("2027-01-06", "Heilige Drei Könige", ["DE-BW", "DE-BY", "DE-ST"]),
            ("2027-03-08", "Internationaler Frauentag", ["DE-BE", "DE-MV"]),
            ("2027-03-28", "Ostersonntag", ["DE-BB"]),
            ("2027-05-16", "Pfingstsonntag", ["DE-BB"]),
            ("2027-05-27", "Fronleichnam", ["DE-BW", "DE-BY", "DE-HE", "DE-NW", "DE-RP", "DE-SL"]),
            ("2027-08-15", "Mariä Himmelfahrt", ["DE-BY", "DE-SL"]),
            ("2027-09-20", "Weltkindertag", ["DE-TH"]),
            (
                "2027-10-31", "Reformationstag",
                ["DE-BB", "DE-MV", "DE-SN", "DE-ST", "DE-TH", "DE-HB", "DE-HH", "DE-NI", "DE-SH"]
            ),
            ("2027-11-01", "Allerheiligen", ["DE-BW", "DE-BY", "DE-NW", "DE-RP", "DE-SL"]),
            ("2027-11-17", "Buß- und Bettag", ["DE-SN"]),
        ])
    func stateHolidayMembership(date: String, name: String, states: [String]) throws {
        var keeping: Set<String> = []
        for state in Self.germanStates {
            if let found = try names(state, 2027)[date] {
                #expect(found == name, "\(state) \(date)")
                keeping.insert(state)
            }
        }
        #expect(keeping == Set(states))
        #expect(try names("DE", 2027)[date] == nil)
    }

    @Test("every German state keeps every nationwide day of 2027")
    func nationwideDaysEverywhere() throws {
        let nationwide = try HolidayCalendar.holidays(region: "DE", year: 2027)
        #expect(
            nationwide.map(\.date) == [
                "2027-01-01", "2027-03-26", "2027-03-29", "2027-05-01", "2027-05-06",
                "2027-05-17", "2027-10-03", "2027-12-25", "2027-12-26",
            ])
        for state in Self.germanStates {
            let stateDays = try names(state, 2027)
            for day in nationwide {
                #expect(stateDays[day.date] == day.name, "\(state) lacks \(day.name)")
            }
        }
    }

    // MARK: - Specific dates

    @Test(
        "Buß- und Bettag is the Wednesday before 23 November",
        arguments: [
            (2023, "2023-11-22"), (2024, "2024-11-20"), (2027, "2027-11-17"), (2028, "2028-11-22"),
            (2022, "2022-11-16"), (2033, "2033-11-16"),
        ])
    func bussUndBettagDates(year: Int, date: String) throws {
        #expect(
            try HolidayCalendar.holiday(region: "DE-SN", year: year, month: 11, day: Int(date.suffix(2)) ?? 0)?
                .name == "Buß- und Bettag")
        #expect(try names("DE-SN", year).filter { $0.value == "Buß- und Bettag" }.keys.sorted() == [date])
        #expect(try names("DE-BY", year)[date] == nil)
    }

    @Test("Buß- und Bettag is always a Wednesday from 16 to 22 November")
    func bussUndBettagIsAlwaysAWednesday() throws {
        for year in 1900...2200 {
            let matches = try HolidayCalendar.holidays(region: "DE-SN", year: year).filter { $0.name == "Buß- und Bettag" }
            #expect(matches.count == 1, "\(year)")
            guard let date = matches.first?.date, let parts = components(date) else { continue }
            #expect(parts.month == 11 && (16...22).contains(parts.day), "\(date)")
            #expect(try weekday(date) == 4, "\(date) is not a Wednesday")
        }
    }

    @Test(
        "movable feasts of 2027 fall on the right days",
        arguments: [
            ("DE-BY", "2027-05-27", "Fronleichnam"),
            ("DE", "2027-05-17", "Pfingstmontag"),
            ("DE", "2027-05-06", "Christi Himmelfahrt"),
            ("DE", "2027-03-26", "Karfreitag"),
            ("DE", "2027-03-29", "Ostermontag"),
            ("AT", "2027-05-27", "Fronleichnam"),
            ("CH", "2027-05-06", "Auffahrt"),
        ])
    func movableFeasts2027(region: String, date: String, name: String) throws {
        #expect(try names(region, 2027)[date] == name)
    }

    @Test("Karfreitag, the Easter and Whit Mondays and Ascension fall on their weekdays in every year")
    func movableFeastWeekdays() throws {
        for year in 1900...2200 {
            for day in try HolidayCalendar.holidays(region: "DE", year: year) {
                switch day.name {
                case "Karfreitag": #expect(try weekday(day.date) == 6, "\(day.date)")
                case "Ostermontag", "Pfingstmontag": #expect(try weekday(day.date) == 2, "\(day.date)")
                case "Christi Himmelfahrt": #expect(try weekday(day.date) == 5, "\(day.date)")
                default: break
                }
            }
        }
    }

    // MARK: - One-off days

    @Test(
        "the 500th Reformation anniversary is a holiday everywhere in Germany in 2017 only",
        arguments: [
            "DE", "DE-BY", "DE-NW", "DE-BW", "DE-BE", "DE-HE", "DE-RP", "DE-SL",
        ])
    func reformation2017(region: String) throws {
        #expect(try HolidayCalendar.holiday(region: region, year: 2017, month: 10, day: 31)?.name == "Reformationstag")
        #expect(try HolidayCalendar.holiday(region: region, year: 2016, month: 10, day: 31) == nil)
        #expect(try HolidayCalendar.holiday(region: region, year: 2018, month: 10, day: 31) == nil)
    }

    @Test("the 2017 Reformation day is listed once in states that always keep it")
    func reformation2017NotDoubled() throws {
        let days = try HolidayCalendar.holidays(region: "DE-SN", year: 2017)
        #expect(days.filter { $0.date == "2017-10-31" } == [Holiday(date: "2017-10-31", name: "Reformationstag")])
    }

    @Test(
        "Tag der Befreiung is a Berlin holiday in 2020 and 2025 only",
        arguments: [
            ("DE-BE", 2020, true), ("DE-BE", 2025, true), ("DE-BE", 2021, false), ("DE-BE", 2015, false),
            ("DE-BE", 2028, false), ("DE-BE", 2030, false), ("DE-BB", 2020, false), ("DE-BB", 2025, false),
            ("DE", 2020, false),
        ])
    func tagDerBefreiung(region: String, year: Int, isHoliday: Bool) throws {
        let found = try HolidayCalendar.holiday(region: region, year: year, month: 5, day: 8)
        #expect(found == (isHoliday ? Holiday(date: "\(year)-05-08", name: "Tag der Befreiung") : nil))
    }

    // MARK: - Rules with a start year

    @Test(
        "holidays introduced in a given year are absent the year before",
        arguments: [
            ("DE-BE", 2019, 3, 8, "Internationaler Frauentag"),
            ("DE-MV", 2023, 3, 8, "Internationaler Frauentag"),
            ("DE-TH", 2019, 9, 20, "Weltkindertag"),
            ("DE", 1990, 10, 3, "Tag der Deutschen Einheit"),
        ])
    func startYears(region: String, year: Int, month: Int, day: Int, name: String) throws {
        #expect(try HolidayCalendar.holiday(region: region, year: year, month: month, day: day)?.name == name)
        #expect(try HolidayCalendar.holiday(region: region, year: year + 5, month: month, day: day)?.name == name)
        #expect(try HolidayCalendar.holiday(region: region, year: year - 1, month: month, day: day) == nil)
    }

    @Test(
        "the northern states keep Reformationstag from 2018, after the 2017 one-off",
        arguments: [
            "DE-HB", "DE-HH", "DE-NI", "DE-SH",
        ])
    func northernReformationStart(region: String) throws {
        #expect(try HolidayCalendar.holiday(region: region, year: 2016, month: 10, day: 31) == nil)
        #expect(try HolidayCalendar.holiday(region: region, year: 2017, month: 10, day: 31)?.name == "Reformationstag")
        #expect(try HolidayCalendar.holiday(region: region, year: 2018, month: 10, day: 31)?.name == "Reformationstag")
        #expect(try HolidayCalendar.holiday(region: region, year: 2023, month: 10, day: 31)?.name == "Reformationstag")
    }

    // MARK: - Austria and Switzerland

    @Test(
        "Austria and Switzerland have their national days",
        arguments: [
            ("AT", "2027-10-26", "Nationalfeiertag"),
            ("AT", "2027-12-08", "Mariä Empfängnis"),
            ("AT", "2027-12-26", "Stefanitag"),
            ("AT", "2027-05-01", "Staatsfeiertag"),
            ("CH", "2027-08-01", "Bundesfeier"),
            ("CH", "2027-01-01", "Neujahrstag"),
        ])
    func austriaAndSwitzerland(region: String, date: String, name: String) throws {
        #expect(try names(region, 2027)[date] == name)
    }

    @Test("Switzerland lists no cantonal days and Austria no German-only days")
    func noForeignDays() throws {
        #expect(try names("CH", 2027)["2027-03-26"] == nil)  // Karfreitag is cantonal
        #expect(try names("CH", 2027)["2027-12-26"] == nil)
        #expect(try names("AT", 2027)["2027-10-03"] == nil)
        #expect(try names("AT", 2027)["2027-03-26"] == nil)
        #expect(try names("DE-BY", 2027)["2027-10-26"] == nil)
    }

    // MARK: - Single-day lookup

    @Test("looking up a day returns its holiday or nothing")
    func singleDayLookup() throws {
        #expect(
            try HolidayCalendar.holiday(region: "DE-BY", year: 2027, month: 10, day: 3)
                == Holiday(date: "2027-10-03", name: "Tag der Deutschen Einheit"))
        #expect(try HolidayCalendar.holiday(region: "DE-BY", year: 2027, month: 1, day: 6)?.name == "Heilige Drei Könige")
        #expect(try HolidayCalendar.holiday(region: "DE-BY", year: 2027, month: 10, day: 4) == nil)
        #expect(try HolidayCalendar.holiday(region: "DE-BE", year: 2027, month: 1, day: 6) == nil)
        #expect(try HolidayCalendar.holiday(region: "DE-BY", year: 2027, month: 2, day: 30) == nil)
        #expect(try HolidayCalendar.holiday(region: "DE-BY", year: 2027, month: 13, day: 1) == nil)
    }

    // MARK: - Errors

    @Test("an unknown region is rejected and the message lists the known ones")
    func unknownRegion() throws {
        #expect(throws: HolidayError.unknownRegion("DE-XX")) {
            try HolidayCalendar.holidays(region: "DE-XX", year: 2027)
        }
        #expect(throws: HolidayError.unknownRegion("de-by")) {
            try HolidayCalendar.holiday(region: "de-by", year: 2027, month: 1, day: 1)
        }
        let message = HolidayError.unknownRegion("DE-XX").description
        #expect(message.contains("DE-XX"))
        for region in HolidayCalendar.regions {
            #expect(message.contains(region))
        }
    }

    @Test("years outside 1900 to 2200 are rejected", arguments: [1800, 1899, 2201])
    func unsupportedYear(year: Int) throws {
        #expect(throws: HolidayError.unsupportedYear(year)) {
            try HolidayCalendar.holidays(region: "DE", year: year)
        }
        #expect(HolidayError.unsupportedYear(year).description.contains(String(year)))
    }

    @Test("the first and last supported years work")
    func boundaryYears() throws {
        #expect(try HolidayCalendar.holidays(region: "CH", year: 1900).first?.date == "1900-01-01")
        #expect(try HolidayCalendar.holidays(region: "CH", year: 2200).last?.date == "2200-12-25")
    }

    // MARK: - Invariants

    @Test("every region's holidays are sorted, unique, valid dates within their year", arguments: HolidayCalendar.regions)
    func invariants(region: String) throws {
        for year in 1990...2100 {
            let days = try HolidayCalendar.holidays(region: region, year: year)
            let dates = days.map(\.date)
            #expect(dates == dates.sorted(), "\(region) \(year)")
            #expect(Set(dates).count == dates.count, "\(region) \(year)")
            for day in days {
                let parts = components(day.date)
                #expect(parts?.year == year, "\(region) \(day.date)")
                #expect(try weekday(day.date) != nil, "\(region) \(day.date) is not a real date")
                #expect(!day.name.isEmpty && day.name.trimmingCharacters(in: .whitespaces) == day.name)
                #expect(!day.name.split(separator: "/").contains { $0.trimmingCharacters(in: .whitespaces).isEmpty })
            }
        }
    }

    @Test("holidays survive a JSON round trip")
    func codable() throws {
        let days = try HolidayCalendar.holidays(region: "DE-BW", year: 2027)
        let decoded = try JSONDecoder().decode([Holiday].self, from: JSONEncoder().encode(days))
        #expect(decoded == days)
    }
}

import Foundation
import Testing

@testable import KontorCore

private func at(_ text: String) -> Date { ISO8601.date(from: text)! }

/// Weekday evenings 18:00-07:00, weekends whole days, in `zone`.
private func evenings(_ zone: String, region: String? = nil) -> QuietHoursPolicy {
    var weekly: [String: [String]] = [:]
    for day in ["monday", "tuesday", "wednesday", "thursday", "friday"] { weekly[day] = ["18:00-07:00"] }
    weekly["saturday"] = ["all"]
    weekly["sunday"] = ["all"]
    return QuietHoursPolicy(timeZone: zone, weekly: weekly, holidayRegion: region)
}

@Suite("Local dates and wall clocks")
struct LocalTimeTests {
    @Test(
        "civil date arithmetic round-trips and knows weekdays",
        arguments: [
            ("1970-01-01", 0, 4), ("2000-02-29", 11_016, 2), ("2027-03-28", 20_905, 7), ("2100-03-01", 47_541, 1),
        ])
    func civil(text: String, days: Int, weekday: Int) throws {
        let date = try #require(LocalDate(text))
        #expect(date.daysSinceEpoch == days)
        #expect(LocalDate(daysSinceEpoch: days) == date)
        #expect(date.isoWeekday == weekday)
    }

    @Test("impossible dates are refused", arguments: ["2027-02-29", "2027-13-01", "2027-04-31", "27-01-01", "2027-1-1", "x"])
    func invalid(text: String) { #expect(LocalDate(text) == nil) }

    @Test(
        "a wall time in the spring gap happens at the first instant after it",
        arguments: [
            ("Europe/Berlin", "2027-03-28", 150, "2027-03-28T01:00:00Z"),  // 02:30 does not exist; 03:00 CEST
            ("America/New_York", "2027-03-14", 150, "2027-03-14T07:00:00Z"),  // 02:30 does not exist; 03:00 EDT
            ("Australia/Lord_Howe", "2027-10-03", 125, "2027-10-02T15:30:00Z"),  // 02:05 does not exist; 02:30 +11
            ("America/Havana", "2027-03-14", 0, "2027-03-14T05:00:00Z"),  // midnight does not exist; 01:00 CDT
        ])
    func springGap(zone: String, day: String, minutes: Int, expected: String) {
        let instant = WallClockResolver.instant(LocalDate(day)!, minutes: minutes, in: ZoneInfo(identifier: zone)!)
        #expect(instant == at(expected), "\(zone) \(day) +\(minutes)min → \(ISO8601.string(from: instant))")
    }

    @Test(
        "a wall time that occurs twice happens at its first occurrence",
        arguments: [
            ("Europe/Berlin", "2027-10-31", 150, "2027-10-31T00:30:00Z"),  // 02:30 CEST, not CET
            ("America/New_York", "2027-11-07", 90, "2027-11-07T05:30:00Z"),  // 01:30 EDT
            ("Australia/Lord_Howe", "2027-04-04", 105, "2027-04-03T14:45:00Z"),  // 01:45 +11, not +10:30
        ])
    func autumnOverlap(zone: String, day: String, minutes: Int, expected: String) {
        let instant = WallClockResolver.instant(LocalDate(day)!, minutes: minutes, in: ZoneInfo(identifier: zone)!)
        #expect(instant == at(expected), "\(zone) \(day) +\(minutes)min → \(ISO8601.string(from: instant))")
    }
}

@Suite("Quiet hours")
struct QuietHoursTests {
    @Test(
        "weekday windows cross midnight and weekends are whole days",
        arguments: [
            ("2027-03-01T10:00:00Z", false),  // Monday 11:00 CET
            ("2027-03-01T17:30:00Z", true),  // Monday 18:30
            ("2027-03-02T05:30:00Z", true),  // Tuesday 06:30, still Monday's window
            ("2027-03-02T06:30:00Z", false),  // Tuesday 07:30
            ("2027-03-05T16:59:59Z", false),  // Friday 17:59:59
            ("2027-03-06T12:00:00Z", true),  // Saturday
            ("2027-03-07T22:59:59Z", true),  // Sunday 23:59:59
            ("2027-03-08T00:30:00Z", false),  // Monday 01:30: Sunday's "all" ended at midnight
        ])
    func weekly(instant: String, quiet: Bool) {
        #expect(evenings("Europe/Berlin").evaluate(at: at(instant)).quiet == quiet)
    }

    @Test("each weekday is read on its own")
    func everyWeekday() {
        var weekly: [String: [String]] = [:]
        for (i, day) in QuietHoursPolicy.weekdays.enumerated() { weekly[day] = [String(format: "%02d:00-%02d:30", 8 + i, 8 + i)] }
        let policy = QuietHoursPolicy(timeZone: "UTC", weekly: weekly)
        for i in 0..<7 {
            let day = LocalDate("2027-03-01")!.adding(days: i)  // a Monday
            let inside = WallClockResolver.instant(day, minutes: (8 + i) * 60 + 10, in: .gmt)
            let outside = WallClockResolver.instant(day, minutes: (8 + i) * 60 + 40, in: .gmt)
            #expect(policy.evaluate(at: inside).quiet, "\(QuietHoursPolicy.weekdays[i]) window")
            #expect(!policy.evaluate(at: outside).quiet)
            #expect(policy.evaluate(at: inside).reason.contains(QuietHoursPolicy.weekdays[i]))
        }
    }

    @Test(
        "the zone is named as people write it: UTC, never Foundation's GMT",
        arguments: [
            (nil, nil, "UTC"), (nil, "UTC", "UTC"), (nil, "Etc/UTC", "Etc/UTC"), ("UTC", nil, "UTC"), (nil, "Europe/Vienna", "Europe/Vienna"),
            ("Europe/Berlin", "UTC", "Europe/Berlin"),
        ] as [(String?, String?, String)])
    func zoneName(profile: String?, device: String?, expected: String) {
        let policy = QuietHoursPolicy(timeZone: profile, weekly: ["sunday": ["all"]])
        #expect(policy.evaluate(at: at("2027-03-07T12:00:00Z"), deviceZone: device.flatMap(ZoneInfo.init(identifier:))).timeZone == expected)
    }

    @Test("the next transition is where the answer flips, not where adjacent windows meet")
    func nextTransition() {
        let policy = evenings("Europe/Berlin")
        // Friday 18:30 CET: quiet through the weekend until Monday 00:00 (Sunday's all-day ends at midnight).
        let state = policy.evaluate(at: at("2027-03-05T17:30:00Z"))
        #expect(state.quiet)
        #expect(state.nextTransition == at("2027-03-07T23:00:00Z"))
        let working = policy.evaluate(at: at("2027-03-08T08:00:00Z"))
        #expect(working.nextTransition == at("2027-03-08T17:00:00Z"))
    }

    @Test(
        "on the spring-forward night the window still ends at 07:00 local time",
        arguments: [
            ("Europe/Berlin", "2027-03-26T18:00:00Z", "2027-03-29T05:00:00Z"),
            ("America/New_York", "2027-03-12T23:00:00Z", "2027-03-15T11:00:00Z"),
        ])
    func springForward(zone: String, fridayEvening: String, mondayMorning: String) {
        let state = evenings(zone).evaluate(at: at(fridayEvening))
        #expect(state.quiet)
        // Sunday's whole day ends at local midnight, in the new offset.
        #expect(state.nextTransition != nil)
        #expect(evenings(zone).evaluate(at: at(mondayMorning)).quiet == false)
    }

    @Test("a window whose start falls in the gap begins at the first instant after it")
    func windowStartsInGap() {
        let policy = QuietHoursPolicy(timeZone: "Europe/Berlin", weekly: ["sunday": ["02:30-05:00"]])
        #expect(!policy.evaluate(at: at("2027-03-28T00:59:59Z")).quiet)
        #expect(policy.evaluate(at: at("2027-03-28T01:00:00Z")).quiet)  // 03:00 CEST
        #expect(policy.evaluate(at: at("2027-03-28T00:59:00Z")).nextTransition == at("2027-03-28T01:00:00Z"))
    }

    @Test("a window starting at a doubled time begins at its first occurrence")
    func windowStartsInOverlap() {
        let policy = QuietHoursPolicy(timeZone: "Europe/Berlin", weekly: ["sunday": ["02:30-04:00"]])
        #expect(policy.evaluate(at: at("2027-10-31T00:30:00Z")).quiet)  // 02:30 CEST
        #expect(!policy.evaluate(at: at("2027-10-31T00:29:00Z")).quiet)
    }

    @Test("Lord Howe's 30-minute shift is handled like any other")
    func lordHowe() {
        let policy = QuietHoursPolicy(timeZone: "Australia/Lord_Howe", weekly: ["sunday": ["01:00-03:00"]])
        // 2027-10-03: 02:00 +10:30 becomes 02:30 +11. 01:00 = 14:30Z (Sat), 03:00 = 16:00Z.
        #expect(policy.evaluate(at: at("2027-10-02T14:30:00Z")).quiet)
        #expect(policy.evaluate(at: at("2027-10-02T15:59:00Z")).quiet)
        #expect(!policy.evaluate(at: at("2027-10-02T16:00:00Z")).quiet)
    }

    @Test("a holiday in a zone whose clocks jump at midnight starts at the first instant after the gap")
    func midnightChange() {
        let policy = QuietHoursPolicy(timeZone: "America/Havana", extraDates: [LocalDate("2027-03-14")!])
        let state = policy.evaluate(at: at("2027-03-14T04:00:00Z"))  // 23:00 on the 13th, CST
        #expect(!state.quiet)
        #expect(state.nextTransition == at("2027-03-14T05:00:00Z"))  // 01:00 CDT
        #expect(policy.evaluate(at: at("2027-03-14T05:00:00Z")).quiet)
    }

    @Test("public holidays of the region are quiet all day")
    func holidays() {
        let policy = evenings("Europe/Berlin", region: "DE-BY")
        let corpusChristi = policy.evaluate(at: at("2027-05-27T10:00:00Z"))  // Thursday, Fronleichnam
        #expect(corpusChristi.quiet)
        #expect(corpusChristi.reason.contains("Fronleichnam"))
        #expect(!evenings("Europe/Berlin", region: "DE-BE").evaluate(at: at("2027-05-27T10:00:00Z")).quiet)
    }

    @Test("on-call dates stay reachable, and the person knows when that ends")
    func onCall() {
        var policy = evenings("Europe/Berlin")
        policy.onCall = [.init(from: LocalDate("2027-03-06")!, until: LocalDate("2027-03-07")!, reason: "Notdienst")]
        let saturday = policy.evaluate(at: at("2027-03-06T12:00:00Z"))
        #expect(!saturday.quiet)
        #expect(saturday.reason == "on call: Notdienst")
        #expect(saturday.nextTransition == nil || saturday.nextTransition! >= at("2027-03-07T23:00:00Z"))
        #expect(policy.evaluate(at: at("2027-03-05T18:00:00Z")).quiet)
    }

    @Test("an override ends quiet hours only where the profile allows it")
    func override() {
        var policy = evenings("Europe/Berlin")
        let evening = at("2027-03-01T19:00:00Z")
        let end = policy.endOfQuietPeriod(containing: evening)!
        #expect(end == at("2027-03-02T06:00:00Z"))
        #expect(policy.evaluate(at: evening, overrideUntil: end).quiet)  // not allowed
        policy.allowUserOverride = true
        let overridden = policy.evaluate(at: evening, overrideUntil: end)
        #expect(!overridden.quiet)
        #expect(overridden.reason == "user override")
        #expect(policy.evaluate(at: at("2027-03-02T19:00:00Z"), overrideUntil: end).quiet)  // next evening
    }

    @Test(
        "window text is parsed strictly",
        arguments: [
            ("18:00-07:00", true), ("00:00-24:00", true), ("all", true), ("25:00-07:00", false), ("18:00-18:00", false),
            ("18-07", false), ("18:00 - 07:00", false), ("24:00-07:00", false),
        ])
    func windows(text: String, valid: Bool) { #expect((QuietWindow(text) != nil) == valid) }
}

import Foundation
import Testing

@testable import KontorCore

private func at(_ text: String) -> Date { ISO8601.date(from: text)! }

/// Weekday evenings 18:00-07:00, weekends whole days, in Berlin; `onCall` for the person evaluated.
private func berlinEvenings(onCall: [QuietHoursPolicy.OnCall] = []) -> QuietHoursPolicy {
    var weekly: [String: [String]] = [:]
    for day in ["monday", "tuesday", "wednesday", "thursday", "friday"] { weekly[day] = ["18:00-07:00"] }
    weekly["saturday"] = ["all"]
    weekly["sunday"] = ["all"]
    return QuietHoursPolicy(timeZone: "Europe/Berlin", weekly: weekly, onCall: onCall)
}

@Suite("Quiet periods and who is on call")
struct OnCallTests {
    @Test(
        "quiet periods agree with evaluate at both ends of every period, across a DST change",
        arguments: ["2027-03-22T00:00:00Z", "2026-10-19T00:00:00Z"])
    func periodsAgreeWithEvaluate(weekStart: String) throws {
        let policy = berlinEvenings()
        let from = at(weekStart)
        let periods = policy.quietPeriods(from: from, to: from.addingTimeInterval(8 * 86_400))
        #expect(periods.count >= 6)
        for (i, p) in periods.enumerated() {
            #expect(policy.evaluate(at: p.start).quiet, "period \(i) starts quiet")
            #expect(policy.evaluate(at: p.end.addingTimeInterval(-1)).quiet, "period \(i) is quiet to its end")
            #expect(!policy.evaluate(at: p.end).quiet, "period \(i) ends")
            #expect(!policy.evaluate(at: p.start.addingTimeInterval(-1)).quiet, "period \(i) began at its start")
            if i > 0 { #expect(periods[i - 1].end < p.start, "periods do not touch") }
        }
        // The weekend in the week of the spring change: Friday 18:00 CET to Monday 00:00 CEST (Sunday has 23 hours).
        if weekStart.hasPrefix("2027-03") {
            let weekend = try #require(periods.first { $0.start == at("2027-03-26T17:00:00Z") })
            #expect(weekend.end == at("2027-03-28T22:00:00Z"))
        }
    }

    @Test("a period in force at the start of the range reaches back to where it really began")
    func periodBeganEarlier() throws {
        let periods = berlinEvenings().quietPeriods(from: at("2027-03-23T20:00:00Z"), to: at("2027-03-24T12:00:00Z"))
        #expect(periods.first?.start == at("2027-03-23T17:00:00Z"))
        #expect(periods.first?.end == at("2027-03-24T06:00:00Z"))
    }

    @Test("the on-call roster lists who is exempt at the instant, with phone and the end of the on-call days")
    func roster() throws {
        let duty = QuietHoursPolicy.OnCall(from: LocalDate("2027-03-27")!, until: LocalDate("2027-03-28")!, reason: "weekend duty")
        let members = [
            OnCallRoster.Member(email: "ada@example.org", displayName: "Ada", phone: "+49 30 1234", quietHours: berlinEvenings(onCall: [duty])),
            OnCallRoster.Member(email: "bo@example.org", displayName: "Bo", phone: nil, quietHours: berlinEvenings()),
            OnCallRoster.Member(email: "cy@example.org", displayName: "Cy", phone: nil, quietHours: nil),
        ]
        let saturday = OnCallRoster.onCall(members, at: at("2027-03-27T21:00:00Z"))
        #expect(saturday.map(\.email) == ["ada@example.org"])
        #expect(saturday.first?.phone == "+49 30 1234")
        #expect(saturday.first?.reason == "weekend duty")
        // Until Monday 00:00 in Berlin, which is CEST by then.
        #expect(saturday.first?.until == at("2027-03-28T22:00:00Z"))
        #expect(saturday.first?.from == at("2027-03-26T23:00:00Z"))
        #expect(OnCallRoster.onCall(members, at: at("2027-03-29T09:00:00Z")).isEmpty)
        #expect(OnCallRoster.periods(members, from: at("2027-03-20T00:00:00Z"), to: at("2027-04-05T00:00:00Z")).count == 1)
        #expect(OnCallRoster.periods(members, from: at("2027-04-01T00:00:00Z"), to: at("2027-04-05T00:00:00Z")).isEmpty)
    }
}

@Suite("iCalendar text (RFC 5545)")
struct ICalendarTests {
    @Test("text values are escaped and control characters dropped")
    func escaping() {
        #expect(ICalendar.escape("a,b;c\\d\ne\r\u{7}f") == "a\\,b\\;c\\\\d\\nef")
    }

    @Test("long lines fold at 75 octets, never inside a UTF-8 sequence, and unfold to the original")
    func folding() {
        let line = "SUMMARY:" + String(repeating: "Bereitschaft für Störungen ☎ ", count: 12)
        let folded = ICalendar.fold(line)
        let pieces = folded.components(separatedBy: "\r\n")
        #expect(pieces.count > 1)
        for (i, piece) in pieces.enumerated() {
            #expect(piece.utf8.count <= 75, "piece \(i) has \(piece.utf8.count) octets")
            if i > 0 { #expect(piece.hasPrefix(" ")) }
        }
        #expect(folded.replacingOccurrences(of: "\r\n ", with: "") == line)
    }

    @Test("a document has CRLF lines, UTC times and one VEVENT per event")
    func document() {
        let calendar = ICalendar(
            name: "On call, techs",
            events: [ICalendar.Event(uid: "x@kontor", start: at("2027-03-26T17:00:00Z"), end: at("2027-03-29T05:00:00Z"), summary: "Quiet hours")])
        let text = calendar.text(stamp: at("2027-03-01T12:00:00Z"))
        #expect(text.hasPrefix("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"))
        #expect(text.hasSuffix("END:VCALENDAR\r\n"))
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(text.contains("DTSTART:20270326T170000Z\r\nDTEND:20270329T050000Z\r\n"))
        #expect(text.contains("X-WR-CALNAME:On call\\, techs\r\n"))
        #expect(text.components(separatedBy: "BEGIN:VEVENT").count == 2)
    }
}

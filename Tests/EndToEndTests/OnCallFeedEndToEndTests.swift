import Foundation
import KontorClient
import KontorCore
import Testing

/// The on-call feed read by an independent iCalendar parser (`icalendar` from PyPI), and every quiet
/// period in it checked against `kontorctl profiles eval` at both ends, in the week of a DST change.
@Suite(
    "On-call feed read by icalendar (PyPI), against kontorctl profiles eval", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil, "set KONTOR_INTEROP_PYTHON to a Python with icalendar"))
struct OnCallFeedEndToEndTests {
    static let profile = """
        name: techs
        quietHours:
          timeZone: Europe/Berlin
          holidayRegion: DE-BE
          weekly: {monday: ["18:00-07:00"], tuesday: ["18:00-07:00"], wednesday: ["18:00-07:00"], thursday: ["18:00-07:00"], friday: ["18:00-07:00"], saturday: [all], sunday: [all]}
          exemptions:
            - persons: [ada@example.org]
              from: "2027-03-27"
              until: "2027-03-28"
              reason: weekend duty
        """

    struct Event: Decodable {
        var summary: String
        var categories: [String]
        var start: String
        var end: String
    }

    struct Eval: Decodable {
        var quiet: Bool
        var reason: String
        var nextTransition: Date?
    }

    @Test("every quiet period of the feed starts and ends where profiles eval says quiet hours change; the on-call days are Ada's")
    func feedAgreesWithEval() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        let file = server.dataDir.appendingPathComponent("techs.yaml")
        try Self.profile.write(to: file, atomically: true, encoding: .utf8)
        let created = try await server.ctl(
            admin, ["persons", "create", "--email", "ada@example.org", "--name", "Ada Lovelace", "--group", "techs", "--phone", "+49 30 1234-567"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try await server.ctl(admin, ["profiles", "apply", file.path]).status == 0)
        #expect(try await server.ctl(admin, ["profiles", "assign", "techs", "--group", "techs"]).status == 0)

        let feed = try await server.adminToken(role: .feed, name: "phone-calendar")
        // The week of the spring change (2027-03-28), with Good Friday and Easter Monday (Berlin holidays) after it.
        let url = server.url + "/api/v1/oncall/techs.ics?from=2027-03-22T00:00:00Z&days=10&token=" + feed
        let exchange = try await plainGET(url)
        #expect(exchange.status == 200)
        let ics = server.dataDir.appendingPathComponent("techs.ics")
        try Data(exchange.body).write(to: ics)
        let python = ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"]!
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Interop/ical_interop.py")
        let parsed = try await runCommand(python, [script.path, ics.path])
        #expect(parsed.status == 0, "\(parsed.stderr)")
        let events = try JSONDecoder().decode([Event].self, from: Data(parsed.stdout.utf8))

        func eval(_ instant: Date, person: String? = nil) async throws -> Eval {
            var arguments = ["profiles", "eval", file.path, "--group", "techs", "--json", "--at", ISO8601.string(from: instant)]
            if let person { arguments += ["--person", person] }
            let result = try await runCommand(Binaries.path("kontorctl"), arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return try KontorJSON.decode(Eval.self, from: Data(result.stdout.utf8))
        }
        let quiet = events.filter { $0.categories.contains("QUIET HOURS") }
        #expect(quiet.count >= 6)
        for event in quiet {
            let (start, end) = (try #require(ISO8601.date(from: event.start)), try #require(ISO8601.date(from: event.end)))
            let before = try await eval(start.addingTimeInterval(-1))
            #expect(!before.quiet && before.nextTransition == start, "\(event.start): eval says \(before)")
            await #expect(try eval(start).quiet, "\(event.start)")
            await #expect(try eval(end.addingTimeInterval(-1)).quiet, "\(event.end)")
            await #expect(try !eval(end).quiet, "\(event.end)")
        }
        let onCall = events.filter { $0.categories.contains("ON CALL") }
        #expect(onCall.map(\.summary) == ["On call: Ada Lovelace, +49 30 1234-567"])
        if let duty = onCall.first, let start = ISO8601.date(from: duty.start) {
            let saturdayNight = start.addingTimeInterval(22 * 3600)
            await #expect(try eval(saturdayNight).quiet)
            let ada = try await eval(saturdayNight, person: "ada@example.org")
            #expect(!ada.quiet && ada.reason.contains("on call"), "\(ada)")
        }

        let answer = try await server.ctl(admin, ["oncall", "--group", "techs", "--at", "2027-03-27T21:00:00Z"])
        #expect(answer.status == 0)
        #expect(answer.stdout.contains("Ada Lovelace") && answer.stdout.contains("+49 30 1234-567"), "\(answer.stdout)")
        #expect(!server.log().contains(feed), "the feed token was logged")
    }
}

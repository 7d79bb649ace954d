import Foundation
import HTTPTypes
import HummingbirdCore
import HummingbirdTesting
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

/// Weekday evenings and weekends quiet in Berlin; Ada has weekend duty at the end of March 2027.
private let techsProfile = """
    name: techs
    quietHours:
      timeZone: Europe/Berlin
      weekly: {monday: ["18:00-07:00"], tuesday: ["18:00-07:00"], wednesday: ["18:00-07:00"], thursday: ["18:00-07:00"], friday: ["18:00-07:00"], saturday: [all], sunday: [all]}
      exemptions:
        - persons: [ada@example.org]
          from: "2027-03-27"
          until: "2027-03-28"
          reason: weekend duty
    """

@Suite("Who is on call: the API and the calendar feed")
struct OnCallAPITests {
    func world(_ body: @Sendable (Harness, any TestClientProtocol, String) async throws -> Void) async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            for person in [
                #"{"email": "ada@example.org", "displayName": "Ada", "groups": ["techs"], "phone": "+49 30 1234-567"}"#,
                #"{"email": "bo@example.org", "displayName": "Bo", "groups": ["techs"]}"#,
            ] {
                #expect(try await client.api(.post, "/api/v1/persons", token: admin, json: person).status == .created)
            }
            let source = String(data: try JSONSerialization.data(withJSONObject: ["source": techsProfile]), encoding: .utf8)!
            #expect(try await client.api(.post, "/api/v1/profiles", token: admin, json: source).status == .created)
            #expect(
                try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile": "techs", "scope": "group", "target": "techs"}"#)
                    .status == .ok)
            try await body(harness, client, admin)
        }
    }

    @Test("a person's work phone is checked and kept; a bad one is refused naming the field")
    func phone() async throws {
        try await world { _, client, admin in
            let shown = try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin)
            #expect(String(buffer: shown.body).contains(#""phone":"+49 30 1234-567""#))
            for bad in ["12", "+49 30 abc", "0049+30 1234", String(repeating: "1", count: 33), "1\u{7}23"] {
                let json = String(
                    data: try JSONSerialization.data(withJSONObject: ["email": "x@example.org", "displayName": "X", "phone": bad]), encoding: .utf8)!
                let refused = try await client.api(.post, "/api/v1/persons", token: admin, json: json)
                #expect(refused.status == .badRequest, "\(bad)")
                #expect(refused.errorMessage?.hasPrefix("phone:") == true, "\(refused.errorMessage ?? "")")
            }
        }
    }

    @Test("at a weekend instant Ada is on call with her phone until Monday 00:00 in Berlin; on a weekday morning nobody is")
    func answer() async throws {
        try await world { _, client, admin in
            let saturday = try await client.api(.get, "/api/v1/oncall?group=techs&at=2027-03-27T21:00:00Z", token: admin)
            #expect(saturday.status == .ok)
            let answer = try saturday.decode(OnCallAnswer.self)
            #expect(answer.onCall.map(\.email) == ["ada@example.org"])
            #expect(answer.onCall.first?.phone == "+49 30 1234-567")
            #expect(answer.onCall.first?.until == ISO8601.date(from: "2027-03-28T22:00:00Z"))
            #expect(answer.quietHours?.quiet == true)
            let weekday = try await client.api(.get, "/api/v1/oncall?group=techs&at=2027-03-24T09:00:00Z", token: admin).decode(OnCallAnswer.self)
            #expect(weekday.onCall.isEmpty)
            #expect(weekday.quietHours?.quiet == false)
            #expect(try await client.api(.get, "/api/v1/oncall?group=nobody", token: admin).status == .notFound)
            #expect(try await client.api(.get, "/api/v1/oncall?group=a%20b", token: admin).status == .badRequest)
            #expect(try await client.api(.get, "/api/v1/oncall?at=yesterday", token: admin).status == .badRequest)
        }
    }

    @Test("a feed token reads the calendar (header or ?token=) and nothing else: not the API, not the console")
    func feedRole() async throws {
        try await world { harness, client, _ in
            let feed = try await harness.token(.feed)
            #expect(try await client.api(.get, "/api/v1/me", token: feed).status == .forbidden)
            #expect(try await client.api(.get, "/api/v1/oncall?group=techs", token: feed).status == .forbidden)
            #expect(try await client.api(.get, "/api/v1/persons", token: feed).status == .forbidden)
            let path = "/api/v1/oncall/techs.ics?from=2027-03-22T00:00:00Z&days=10"
            let byHeader = try await client.api(.get, path, token: feed)
            #expect(byHeader.status == .ok)
            #expect(byHeader.headers[.contentType]?.hasPrefix("text/calendar") == true)
            let byQuery = try await client.api(.get, path + "&token=" + feed)
            #expect(byQuery.status == .ok)
            let text = String(buffer: byQuery.body)
            #expect(text.contains("SUMMARY:On call: Ada\\, +49 30 1234-567\r\n"))
            #expect(text.contains("DTSTART:20270326T230000Z\r\nDTEND:20270328T220000Z\r\n"))
            #expect(text.contains("SUMMARY:Quiet hours (Feierabend)\r\n"))
            #expect(try await client.api(.get, path).status == .unauthorized)
            #expect(try await client.api(.get, path + "&token=kat_000000000000_" + String(repeating: "a", count: 43)).status == .unauthorized)
            #expect(try await client.api(.get, "/api/v1/oncall/nobody.ics", token: feed).status == .notFound)
            #expect(try await client.api(.get, path.replacingOccurrences(of: "days=10", with: "days=400"), token: feed).status == .badRequest)

            let browser = ConsoleBrowser(client)
            try await browser.get("/console/sign-in")
            let refused = try await browser.post("/console/sign-in", [("token", feed)])
            #expect(refused.status == .unauthorized)
            #expect(browser.cookies[ConsoleController.sessionCookie] == nil)
        }
    }

    @Test("the request log never shows a token given in the query")
    func redactedLog() {
        #expect(
            RequestLogMiddleware<KontorRequestContext>.redacted(URI("/api/v1/oncall/techs.ics?token=kat_x_secret&days=3"))
                == "/api/v1/oncall/techs.ics?token=…&days=3")
        #expect(RequestLogMiddleware<KontorRequestContext>.redacted(URI("/api/v1/persons?q=TOKEN=1")) == "/api/v1/persons?q=TOKEN=1")
        #expect(RequestLogMiddleware<KontorRequestContext>.redacted(URI("/healthz")) == "/healthz")
    }
}

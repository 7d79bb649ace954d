import ArgumentParser
import Foundation
import KontorClient
import KontorCore

/// `kontorctl oncall`: who is exempt from quiet hours now (or at `--at`), with their work phone.
struct OnCall: APICommand {
    static let configuration = CommandConfiguration(
        commandName: "oncall", abstract: "Who is on call now (exempt from quiet hours), with their work phone.",
        discussion: """
            A phone calendar or an answering bot can subscribe to a group's feed instead: \
            GET /api/v1/oncall/GROUP.ics with a token of the feed role (kontorctl admin-tokens create --role feed).
            """)
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Only this group.") var group: String?
    @Option(help: "An ISO 8601 instant (default: now).") var at: String?

    func run(client: AdminClient) async throws {
        if let at, ISO8601.date(from: at) == nil { throw ValidationError("--at: expected an ISO 8601 instant such as 2026-12-24T20:00:00Z, not \"\(at)\"") }
        var query: [String] = []
        if let group { query.append("group=" + AdminClient.segment(group)) }
        if let at { query.append("at=" + AdminClient.segment(at)) }
        let answer = try await client.call(.GET, "/oncall" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")), as: OnCallAnswer.self)
        if connection.json { return try printJSON(answer) }
        if let quiet = answer.quietHours {
            let until = quiet.nextTransition.map { " until \(ISO8601.string(from: $0))" } ?? ""
            print("quiet hours \(quiet.quiet ? "in force" : "not in force") (\(quiet.timeZone))\(until): \(visible(quiet.reason))")
        }
        if answer.onCall.isEmpty { return print("nobody is on call at \(ISO8601.string(from: answer.at))") }
        printTable(
            ["NAME", "EMAIL", "PHONE", "UNTIL", "REASON"],
            answer.onCall.map { [$0.displayName, $0.email, $0.phone ?? "-", ISO8601.string(from: $0.until), $0.reason ?? "-"] })
    }
}

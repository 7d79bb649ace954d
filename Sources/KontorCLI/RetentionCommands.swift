import ArgumentParser
import Foundation
import KontorClient
import KontorCore

/// The `retention` part of the settings as the API sends it (every field set in a reply).
struct RetentionValues: Codable {
    var eventsDays: Int?
    var checkinReportsDays: Int?
    var pseudonymiseAfterMonths: Int?
    var enabled: Bool?

    func print() {
        func show(_ value: Int?) -> String { value.map(String.init) ?? "-" }
        KontorCLI.print("retention.eventsDays               \(show(eventsDays)) days (device events older are deleted)")
        KontorCLI.print("retention.checkinReportsDays       \(show(checkinReportsDays)) days (check-in report history older is deleted)")
        KontorCLI.print("retention.pseudonymiseAfterMonths  \(show(pseudonymiseAfterMonths)) months (after an offboarding completed)")
        KontorCLI.print("retention.enabled                  \(enabled.map { String($0) } ?? "-") (the hourly background run)")
    }
}

extension SettingsCommand {
    /// `kontorctl settings retention`: shows the retention settings, or changes those given (admin) and shows them.
    struct Retention: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or change how long Kontor keeps device events, check-in reports and offboarded persons' data.",
            discussion: "Without options it shows the settings; with any it changes those (admin role) and shows the result.")
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("events-days"), help: "Delete device events older than N days (1-3650; default 365).") var eventsDays: Int?
        @Option(name: .customLong("checkin-reports-days"), help: "Delete check-in report history older than N days (1-3650; default 90).")
        var checkinReportsDays: Int?
        @Option(
            name: .customLong("pseudonymise-after-months"),
            help: "Offboarded persons are due for pseudonymisation M months after their offboarding completed (1-120; default 24).")
        var pseudonymiseAfterMonths: Int?
        @Option(help: "Whether the hourly background run deletes anything: true or false (default true).") var enabled: String?

        func validate() throws {
            if let enabled, enabled != "true", enabled != "false" { throw ValidationError("--enabled must be true or false, not \"\(enabled)\"") }
        }

        var changes: RetentionValues {
            RetentionValues(
                eventsDays: eventsDays, checkinReportsDays: checkinReportsDays, pseudonymiseAfterMonths: pseudonymiseAfterMonths,
                enabled: enabled.map { $0 == "true" })
        }

        func run(client: AdminClient) async throws {
            let change = changes
            let changing = [eventsDays, checkinReportsDays, pseudonymiseAfterMonths].contains { $0 != nil } || enabled != nil
            let values =
                changing
                ? try await client.call(.PATCH, "/settings", body: Values(retention: change), as: Values.self)
                : try await client.call(.GET, "/settings", as: Values.self)
            if connection.json { return try printJSON(values.retention) }
            values.retention?.print()
        }
    }
}

/// `kontorctl retention run`: deletes now what the retention settings no longer allow to be kept.
struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Delete what Kontor keeps longer than its retention settings allow.", subcommands: [Run.self])

    /// What one run deleted (the server's RetentionRun).
    struct RunResult: Codable {
        var ranAt: Date
        var events: Int
        var enrollmentTokens: Int
        var consoleSessions: Int
        var nonces: Int
        var pseudonymisationDue: [String]
    }

    struct Run: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Run retention now (admin; audited as retention.run) and print what it deleted.",
            discussion: "The server also runs it at start and every hour while retention.enabled is true.")
        @OptionGroup var connection: ConnectionOptions

        func run(client: AdminClient) async throws {
            // A first run on a large store may delete a long backlog (batch by batch): wait for it longer than for other calls.
            let exchange = try await client.raw(.POST, "/retention/run", timeout: .seconds(1800))
            let result = try KontorJSON.decode(RunResult.self, from: exchange.body)
            if connection.json { return try printJSON(result) }
            printFields(
                [
                    ("ran at", ISO8601.string(from: result.ranAt)), ("events", String(result.events)),
                    ("enrollment tokens", String(result.enrollmentTokens)), ("console sessions", String(result.consoleSessions)),
                    ("nonces", String(result.nonces)),
                    ("due for pseudonymisation", result.pseudonymisationDue.isEmpty ? "-" : result.pseudonymisationDue.joined(separator: ", ")),
                ], width: 18)
        }
    }
}

import ArgumentParser
import Foundation
import KontorClient
import KontorCore

/// `kontorctl terms`: publish usage terms and report who accepted or declined them.
struct Terms: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Usage terms: publish a version, list them, and report who accepted or declined.",
        discussion: """
            A profile names the version its devices must accept (usageTermsVersion). After the grace period a \
            device whose person has not accepted it locks its work container (never wipes it, never touches the \
            personal account) until they do: `kontor-agent terms accept VERSION`, as themselves, on the laptop.
            """,
        subcommands: [Publish.self, List.self, Show.self, Report.self])

    struct Publish: APICommand {
        static let configuration = CommandConfiguration(abstract: "Publish a version of the usage terms (versions never change).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The version, e.g. 2026-12 (letters, digits, . - _).") var version: String
        @Option(help: "The terms, a UTF-8 text or Markdown file.") var file: String
        @Option(help: "A confidentiality undertaking accepted together with the terms (a file).") var undertaking: String?
        @Option(help: "How long devices may run without an answer before their work container locks (14d, 48h, 0d).") var grace: String = "14d"
        @Flag(
            name: .customLong("allows-offline-wipe-on-personal-devices"),
            help: "Accepting these terms allows profiles to wipe the work container of a personal device that stays offline (say so in the text).")
        var allowsOfflineWipe = false

        func run(client: AdminClient) async throws {
            guard let graceSeconds = HumanDuration.seconds(grace) else {
                throw ValidationError("--grace: expected a duration such as 14d, 48h or 0d, not \"\(grace)\"")
            }
            struct Input: Encodable {
                var version: String
                var text: String
                var undertaking: String?
                var graceSeconds: Int
                var allowsOfflineWipeOnPersonalDevices: Bool
            }
            let input = Input(
                version: version, text: try Self.read(file, option: "--file"), undertaking: try undertaking.map { try Self.read($0, option: "--undertaking") },
                graceSeconds: graceSeconds, allowsOfflineWipeOnPersonalDevices: allowsOfflineWipe)
            let terms = try await client.call(.POST, "/terms", body: input, as: UsageTerms.self)
            if connection.json { return try printJSON(terms) }
            print(
                "published usage terms \(terms.version) (sha256 \(terms.sha256)); devices that have not accepted them lock at \(ISO8601.string(from: terms.deadline))"
            )
        }

        static func read(_ path: String, option: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(option): cannot read \(path)") }
            guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(option): \(path) is not UTF-8 text") }
            return text
        }
    }

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "List the published versions.")
        @OptionGroup var connection: ConnectionOptions

        func run(client: AdminClient) async throws {
            let all = try await client.call(.GET, "/terms", as: [UsageTerms].self)
            if connection.json { return try printJSON(all) }
            printTable(
                ["VERSION", "PUBLISHED", "DEADLINE", "UNDERTAKING", "OFFLINE WIPE ON PERSONAL", "SHA256"],
                all.map {
                    [
                        $0.version, ISO8601.string(from: $0.publishedAt), ISO8601.string(from: $0.deadline), $0.undertaking == nil ? "no" : "yes",
                        $0.allowsOfflineWipeOnPersonalDevices == true ? "allowed" : "no", $0.sha256,
                    ]
                })
        }
    }

    struct Show: APICommand {
        static let configuration = CommandConfiguration(abstract: "Print a version's text (and its undertaking).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The version.") var version: String

        func run(client: AdminClient) async throws {
            let terms = try await client.call(.GET, "/terms/" + AdminClient.segment(version), as: UsageTerms.self)
            if connection.json { return try printJSON(terms) }
            print(terms.text)
            if let undertaking = terms.undertaking { print("\n--- confidentiality undertaking ---\n\n" + undertaking) }
        }
    }

    struct Report: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Who accepted or declined the terms, when, on which device; each signature checked here.",
            discussion: "The CSV carries the signed statement, the signature and the device's public key, so anyone can check each answer again.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Only this version (default: every version; 'not answered' is about the latest).") var version: String?
        @Flag(help: "CSV, for the data-protection officer.") var csv = false

        func run(client: AdminClient) async throws {
            let query = version.map { "?version=" + AdminClient.queryValue($0) } ?? ""
            var report = try await client.call(.GET, "/terms/report" + query, as: TermsReport.self)
            // Checked here, with the public key, not taken from the server's word.
            for i in report.answers.indices { report.answers[i].signatureValid = report.answers[i].verifies() }
            if csv { return writeOutput(Data(report.csv().utf8), json: false) }
            if connection.json { return try printJSON(report) }
            printTable(
                ["VERSION", "DECISION", "PERSON", "DEVICE", "LOGIN", "ANSWERED", "SIGNATURE"],
                report.answers.map {
                    [
                        $0.version, $0.decision.rawValue, $0.person?.email ?? "-", $0.hostname ?? $0.deviceId, visible($0.login),
                        ISO8601.string(from: $0.answeredAt),
                        $0.signatureValid ? "valid" : "INVALID",
                    ]
                })
            print(
                "\(report.acceptedCount) accepted, \(report.declinedCount) declined, \(report.pending.count) not answered, \(report.notTakingPart.count) not taking part"
            )
            for p in report.pending { print("  not answered: \(p.email) (\(p.displayName))") }
            for p in report.notTakingPart { print("  not taking part: \(p.email) (\(p.displayName))") }
        }
    }
}

extension Participation: ExpressibleByArgument {}
extension Ownership: ExpressibleByArgument {}

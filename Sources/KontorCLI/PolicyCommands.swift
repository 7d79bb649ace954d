import ArgumentParser
import Foundation
import KontorClient
import KontorCore
import KontorProfiles

/// Reads a profile file and validates it locally, so errors name the file.
func loadProfileFile(_ path: String) throws -> (String, Profile) {
    guard let data = FileManager.default.contents(atPath: path) else { throw ClientError.usage("\(path): cannot read the file") }
    let text = String(decoding: data, as: UTF8.self)
    do {
        return (text, try ProfileYAML.load(text, file: path))
    } catch let error as ProfileLoadError {
        throw ClientError.usage(error.description)
    }
}

/// Runs a command that needs no server: problems go to stderr as one line each, exit 1.
func offline(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ClientError {
        printError("\(error)")
        throw ExitCode(1)
    }
}

struct Profiles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Policy profiles: quiet hours, app allowlist, work container, offline limits.",
        subcommands: [Apply.self, List.self, Lint.self, Show.self, History.self, Rollback.self, Assign.self, Unassign.self, Eval.self])

    struct ApplyResult: Codable {
        struct Change: Codable {
            var deviceId: String
            var hostname: String
            var fields: [String]
        }
        var profile: Profile
        var revision: Int?
        var dryRun: Bool
        var devicesChanged: Int?
        var changes: [Change]
    }

    static func printResult(_ result: ApplyResult) {
        if let revision = result.revision {
            print("Stored profile \(result.profile.name) as revision \(revision).")
        } else {
            print("Profile \(result.profile.name) is valid (dry run: nothing stored).")
        }
        let verb = result.dryRun ? "would change" : "change"
        let total = result.devicesChanged ?? result.changes.count
        print("\(total) device\(total == 1 ? "" : "s") \(verb)\(result.changes.isEmpty ? "." : ":")")
        for c in result.changes { print("  \(c.deviceId)  \(c.hostname)  \(c.fields.joined(separator: ", "))") }
        if total > result.changes.count { print("  … and \(total - result.changes.count) more") }
    }

    struct Apply: APICommand {
        static let configuration = CommandConfiguration(abstract: "Validate a profile, show which devices change, and store it as a new revision.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The profile YAML file.") var file: String
        @Flag(name: .customLong("dry-run"), help: "Validate and show the changes; store nothing.") var dryRun = false

        func run(client: AdminClient) async throws {
            let (source, _) = try loadProfileFile(file)
            struct Input: Encodable {
                var source: String
                var dryRun: Bool
            }
            let result = try await client.call(.POST, "/profiles", body: Input(source: source, dryRun: dryRun), as: ApplyResult.self)
            if connection.json { return try printJSON(result) }
            Profiles.printResult(result)
        }
    }

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "List profiles with their latest revision and assignments.")
        @OptionGroup var connection: ConnectionOptions

        func run(client: AdminClient) async throws {
            let profiles = try await client.call(.GET, "/profiles", as: [Listed].self)
            if connection.json { return try printJSON(profiles) }
            printTable(
                ["NAME", "REVISION", "ASSIGNED TO", "CHANGED", "BY", "STATE"],
                profiles.map {
                    [
                        $0.name, String($0.revision), $0.assignedTo.isEmpty ? "-" : $0.assignedTo.joined(separator: ", "), show($0.createdAt),
                        $0.createdBy ?? "-",
                        $0.held == true ? "held (kontorctl profiles lint)" : "delivered",
                    ]
                })
        }
    }

    struct Listed: Codable {
        var name: String
        var revision: Int
        var description: String?
        var createdAt: Date
        var createdBy: String?
        var assignedTo: [String]
        var held: Bool?
        var issues: [String]?
    }

    struct Lint: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Check profiles against today's rules (the work/private boundary among them).",
            discussion: """
                Without files: lists the stored profiles that break today's rules. They were stored under older rules and \
                are held back (not delivered to any device) until a fixed revision is applied. With files: checks them here, \
                without a server. Exits 1 when anything breaks the rules.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Profile YAML files to check locally (no server needed).") var files: [String] = []

        func run() async throws {
            guard files.isEmpty else {
                var failed = false
                for file in files {
                    do {
                        let (_, profile) = try loadProfileFile(file)
                        print("\(file): ok (\(profile.name))")
                    } catch let error as ClientError {
                        failed = true
                        print("\(error)")  // names the file, line and field
                    }
                }
                if failed { throw ExitCode(1) }
                return
            }
            do {
                try await connection.withClient { try await run(client: $0) }
            } catch let error as ClientError {
                FileHandle.standardError.write(Data("kontorctl: \(error)\n".utf8))
                throw ExitCode(error.code == nil ? 2 : 1)
            }
        }

        func run(client: AdminClient) async throws {
            let held = try await client.call(.GET, "/profiles", as: [Listed].self).filter { $0.held == true }
            if connection.json {
                try printJSON(held)
            } else if held.isEmpty {
                print("Every stored profile follows today's rules.")
            } else {
                for profile in held {
                    let assigned = profile.assignedTo.isEmpty ? "not assigned" : "assigned to \(profile.assignedTo.joined(separator: ", "))"
                    print("\(profile.name) revision \(profile.revision) (\(assigned)) is held back, not delivered until fixed:")
                    for issue in profile.issues ?? [] { print("  \(issue)") }
                }
            }
            if !held.isEmpty { throw ExitCode(1) }
        }
    }

    struct Revision: Codable {
        var name: String
        var revision: Int
        var source: String
        var profile: Profile
        var createdAt: Date
        var createdBy: String?
    }

    struct Show: APICommand {
        static let configuration = CommandConfiguration(abstract: "Print a profile revision as applied.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Profile name.") var name: String
        @Option(help: "A revision number (default: the latest).") var revision: Int?

        func run(client: AdminClient) async throws {
            let found = try await client.call(.GET, "/profiles/" + AdminClient.segment(name), query: revision.map { "revision=\($0)" }, as: Revision.self)
            if connection.json { return try printJSON(found) }
            print("# \(found.name) revision \(found.revision), \(show(found.createdAt)) by \(found.createdBy ?? "-")")
            print(found.source, terminator: found.source.hasSuffix("\n") ? "" : "\n")
        }
    }

    struct History: APICommand {
        static let configuration = CommandConfiguration(abstract: "List a profile's revisions.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Profile name.") var name: String

        struct Entry: Codable {
            var revision: Int
            var createdAt: Date
            var createdBy: String?
        }

        func run(client: AdminClient) async throws {
            let entries = try await client.call(.GET, "/profiles/" + AdminClient.segment(name) + "/history", as: [Entry].self)
            if connection.json { return try printJSON(entries) }
            printTable(["REVISION", "CREATED", "BY"], entries.map { [String($0.revision), show($0.createdAt), $0.createdBy ?? "-"] })
        }
    }

    struct Rollback: APICommand {
        static let configuration = CommandConfiguration(abstract: "Store a new revision with the content of an earlier one.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Profile name.") var name: String
        @Option(help: "The revision to go back to.") var to: Int

        func run(client: AdminClient) async throws {
            struct Input: Encodable { var revision: Int }
            let result = try await client.call(.POST, "/profiles/" + AdminClient.segment(name) + "/rollback", body: Input(revision: to), as: ApplyResult.self)
            if connection.json { return try printJSON(result) }
            Profiles.printResult(result)
        }
    }

    /// Exactly one of --group, --device, --ownership, --default.
    struct Target: ParsableArguments {
        @Option(help: "A device group.") var group: String?
        @Option(help: "A device ID.") var device: String?
        @Option(help: "Every company or every personal device (a layer between the default and the groups).") var ownership: Ownership?
        @Flag(name: .customLong("default"), help: "Every device without a more specific assignment.") var isDefault = false

        func validate() throws {
            guard [group != nil, device != nil, ownership != nil, isDefault].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --group G, --device ID, --ownership company|personal or --default")
            }
        }

        var scope: String { isDefault ? "default" : group != nil ? "group" : ownership != nil ? "ownership" : "device" }
        var target: String? { group ?? device ?? ownership?.rawValue }
    }

    struct Assign: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Assign a profile to a group, a device, company or personal devices, or as the default.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Profile name.") var name: String
        @OptionGroup var assignmentTarget: Target

        func run(client: AdminClient) async throws {
            struct Input: Encodable {
                var profile: String
                var scope: String
                var target: String?
            }
            struct Output: Codable {
                var scope: String
                var target: String
                var profile: String
            }
            let out = try await client.call(
                .PUT, "/assignments", body: Input(profile: name, scope: assignmentTarget.scope, target: assignmentTarget.target), as: Output.self)
            if connection.json { return try printJSON(out) }
            print("assigned \(out.profile) to \(out.scope == "default" ? "every device (default)" : "\(out.scope) \(out.target)")")
        }
    }

    struct Unassign: APICommand {
        static let configuration = CommandConfiguration(abstract: "Remove an assignment.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var assignmentTarget: Target

        func run(client: AdminClient) async throws {
            var query = "scope=\(assignmentTarget.scope)"
            if let t = assignmentTarget.target { query += "&target=" + AdminClient.queryValue(t) }
            _ = try await client.raw(.DELETE, "/assignments", query: query)
            if !connection.json { print("removed the \(assignmentTarget.scope) assignment") } else { print("{\"status\": \"unassigned\"}") }
        }
    }

    struct Eval: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Is this instant quiet under a profile, why, and when does that change? Works without a server.")
        @Argument(help: "The profile YAML file.") var file: String
        @Option(help: "The instant, ISO 8601 (default: now).") var at: String?
        @Option(help: "Evaluate for this person (email), for on-call exemptions.") var person: String?
        @Option(name: .customLong("group"), help: "The person's groups (repeatable).") var groups: [String] = []
        @Option(help: "The device's time zone, used when the profile sets none (default: UTC).") var tz: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if let at, ISO8601.date(from: at) == nil { throw ValidationError("--at: \"\(at)\" is not an ISO 8601 instant such as 2027-03-28T01:30:00Z") }
            if let tz, ZoneInfo(identifier: tz) == nil { throw ValidationError("--tz: \"\(tz)\" is not an IANA time zone such as Europe/Berlin") }
        }

        struct Output: Codable {
            var at: Date
            var quiet: Bool
            var reason: String
            var nextTransition: Date?
            var timeZone: String
            var profile: String
        }

        func run() async throws {
            try offline {
                let (_, profile) = try loadProfileFile(file)
                let instant = at.flatMap(ISO8601.date(from:)) ?? Date()
                let subject = person.map { PolicySubject(email: $0, groups: groups) } ?? (groups.isEmpty ? nil : PolicySubject(email: "", groups: groups))
                let policy = PolicyMerge.effectivePolicy(
                    layers: [AssignedProfile(source: PolicySource(scope: "default", target: nil, profile: profile.name, revision: 0), profile: profile)],
                    subject: subject, fallbackAccountSuffix: "device", defaultCheckinInterval: 60)
                let zone = tz.flatMap(ZoneInfo.init(identifier:))
                let state =
                    policy.quietHours?.evaluate(at: instant, deviceZone: zone)
                    ?? QuietState(
                        quiet: false, reason: "the profile sets no quiet hours", nextTransition: nil, timeZone: QuietHoursPolicy().zoneName(deviceZone: zone))
                let out = Output(
                    at: instant, quiet: state.quiet, reason: state.reason, nextTransition: state.nextTransition, timeZone: state.timeZone, profile: profile.name
                )
                if json { return try printJSON(out) }
                let local = TimeZone(identifier: state.timeZone) ?? TimeZone(identifier: "UTC")!
                func localText(_ d: Date) -> String {
                    let f = Date.ISO8601FormatStyle(timeZone: local)
                    return f.format(d)
                }
                print("\(ISO8601.string(from: instant)) (\(localText(instant)) \(state.timeZone)) is \(state.quiet ? "QUIET" : "not quiet"): \(state.reason)")
                if let next = state.nextTransition {
                    print("next change: \(ISO8601.string(from: next)) (\(localText(next)))")
                } else {
                    print("no change within the next two weeks")
                }
            }
        }
    }
}

struct Holidays: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the public holidays of a region. Works without a server.")
    @Option(help: "DE-BW … DE-TH, DE (nationwide), AT or CH.") var region: String
    @Option(help: "The year.") var year: Int
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try offline {
            let days: [Holiday]
            do {
                days = try HolidayCalendar.holidays(region: region, year: year)
            } catch let error as HolidayError {
                throw ClientError.usage("\(error)")
            }
            if json { return try printJSON(days) }
            for d in days {
                let weekday = QuietHoursPolicy.weekdays[(LocalDate(d.date)?.isoWeekday ?? 1) - 1].prefix(3).capitalized
                print("\(d.date)  \(weekday)  \(d.name)")
            }
        }
    }
}

import ArgumentParser
import Foundation
import KontorClient
import KontorCore

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The tamper-evident audit log of every admin action, for the data-protection officer.",
        subcommands: [List.self, Verify.self, Export.self])

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "List audit entries.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Only entries at or after this instant (ISO 8601).") var since: String?
        @Option(help: "Only entries about this device.") var device: String?
        @Option(help: "Only entries about this target (an ID, email or profile name).") var target: String?

        func validate() throws {
            if let since, ISO8601.date(from: since) == nil { throw ValidationError("--since: \"\(since)\" is not an ISO 8601 instant") }
            if device != nil && target != nil { throw ValidationError("give --device or --target, not both") }
        }

        func run(client: AdminClient) async throws {
            var query: [String] = []
            if let since { query.append("since=" + AdminClient.queryValue(since)) }
            if let t = device ?? target { query.append("target=" + AdminClient.queryValue(t)) }
            let entries = try await client.call(.GET, "/audit", query: query.isEmpty ? nil : query.joined(separator: "&"), as: [AuditEntry].self)
            if connection.json { return try printJSON(entries) }
            printTable(["SEQ", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL"], entries.map { e in
                [String(e.seq), show(e.at), e.actor, e.action, e.target ?? "-",
                 (e.detail ?? [:]).sorted { $0.key < $1.key }.filter { !$0.value.isEmpty }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")]
            })
        }
    }

    struct Verify: APICommand {
        static let configuration = CommandConfiguration(abstract: "Check the hash chain; exit 1 and name the first bad entry when it is broken.")
        @OptionGroup var connection: ConnectionOptions

        func run(client: AdminClient) async throws {
            let result = try await client.call(.GET, "/audit/verify", as: AuditVerification.self)
            if connection.json { try printJSON(result) } else if result.ok {
                print("audit log intact: \(result.entries) entries, head \(result.head)")
                print("keep the head hash somewhere else: a later log that no longer contains it was truncated")
            } else {
                print("audit log BROKEN at entry \(result.firstBadSeq ?? 0): \(result.problem ?? "")")
            }
            if !result.ok { throw ExitCode(1) }
        }
    }

    struct Export: APICommand {
        static let configuration = CommandConfiguration(abstract: "Write the whole log as JSON lines to standard output.")
        @OptionGroup var connection: ConnectionOptions

        func run(client: AdminClient) async throws {
            FileHandle.standardOutput.write(try await client.raw(.GET, "/audit/export").body)
        }
    }
}

import ArgumentParser
import Foundation
import KontorClient
import KontorCore

extension Persons {
    /// `kontorctl persons import staff.csv [--dry-run]`.
    struct Import: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring a staff list (CSV) into the directory: adds and updates, never deletes.",
            discussion: """
                Columns: email, name, groups (separated by ;), phone (optional; an empty one removes the phone). The first line \
                is the header. Every row is checked before anything is written; a bad row is named by line and column and nothing \
                is imported. Persons in Kontor the file does not name are listed (offboard them yourself if they left). Run with \
                --dry-run first: it shows every change and which devices' policies change.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The CSV file.") var file: String
        @Flag(help: "Show what would change; write nothing.") var dryRun = false

        func run(client: AdminClient) async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            guard let csv = String(data: data, encoding: .utf8) else { throw ValidationError("\(file) is not UTF-8 text") }
            struct Input: Encodable {
                var csv: String
                var dryRun: Bool
            }
            let plan = try await client.call(.POST, "/persons/import", body: Input(csv: csv, dryRun: dryRun), as: PersonImportPlan.self)
            if connection.json { return try printJSON(plan) }
            let verb = plan.dryRun ? "would add" : "added"
            for a in plan.added { print("\(verb): \(a.email) (\(a.displayName))\(a.groups.isEmpty ? "" : " groups \(a.groups.joined(separator: ","))")") }
            for u in plan.updated { print("\(plan.dryRun ? "would change" : "changed"): \(u.email): \(u.fields.joined(separator: ", "))") }
            for m in plan.missing { print("not in the file (left as is): \(m)") }
            for o in plan.offboarded { print("offboarded (not changed; a returning person is a new person): \(o)") }
            print(
                "\(plan.added.count) \(plan.dryRun ? "to add" : "added"), \(plan.updated.count) \(plan.dryRun ? "to change" : "changed"), \(plan.unchanged) unchanged, \(plan.missing.count) not in the file; \(plan.devicesAffected.count) devices get another policy"
            )
            if plan.dryRun { print("dry run: nothing was written") }
        }
    }
}

extension Persons {
    /// `kontorctl persons rehire EMAIL`: someone who left comes back under a new ID.
    struct Rehire: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Someone who left comes back: a new person with a new ID, linked to the one who left.",
            discussion: "The old ID keeps its devices, receipts and audit history and is never reused. Name, groups and phone are taken over unless given.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Email (the person who left) or their ID.") var person: String
        @Option(help: "Display name.") var name: String?
        @Option(name: .customLong("group"), help: "Groups instead of the old ones (repeat for several).") var groups: [String] = []

        func run(client: AdminClient) async throws {
            struct Input: Encodable {
                var displayName: String?
                var groups: [String]?
            }
            let back = try await client.call(
                .POST, "/persons/" + AdminClient.segment(person) + "/rehire", body: Input(displayName: name, groups: groups.isEmpty ? nil : groups),
                as: Person.self)
            if connection.json { return try printJSON(back) }
            print("\(back.email) is back as \(back.id) (before: \(back.previousId ?? "-"))")
        }
    }
}

import Foundation
import GRDB
import KontorCore
import KontorSQLite
import Testing

@testable import KontorServer

/// The export names every table that holds data about persons or devices: a new table with such a column
/// fails here until the export reads it or it is allowlisted below with the reason it holds no personal data.
@Suite("The person export covers the schema")
struct PersonExportCoverageTests {
    /// Column names that hold a person or a device: their IDs (`person_id`, `device_id`, and the links
    /// `previous_id`, `predecessor_id` between records of the same person or device), an email, a directory
    /// user name, a display name, a phone number or a hostname, and the audit log's `target`/`actor` and an
    /// assignment's `target`, which name persons and devices by ID or email.
    static func isPersonOrDeviceColumn(_ name: String) -> Bool {
        let exact: Set<String> = [
            "person_id", "device_id", "email", "email_key", "user_name", "user_name_key", "display_name", "phone", "hostname", "previous_id",
            "predecessor_id", "target", "actor",
        ]
        return exact.contains(name) || name.hasSuffix("_person_id") || name.hasSuffix("_device_id") || name.hasSuffix("_email")
    }

    /// Tables with such a column that hold no personal data, and why. Keep each reason true.
    static let notPersonalData: [String: String] = [
        // `display_name` here is a directory group's name (e.g. "Engineering"), not a person's; members are
        // not stored in it (they are the persons holding the group, exported with each person).
        "scim_groups": "a directory group's display name and its Kontor group name; no person or device",
        // An admin's provider subject and name, for as long as their console or kontorctl session lasts (hours);
        // swept when it ends. Admins are not directory persons; their actions are in the audit log.
        "person_sessions": "sessions of signed-in admins, deleted when they end; no directory person or device",
        // A four-eyes request names the device or person it would act on. What an approved request did (the command,
        // the offboarding, with approvedBy in its audit entry) is exported; the request rows themselves are not yet.
        "approvals": "requests to act on a device or person; what approved ones did is exported with the command or offboarding",
    ]

    /// The schema as a store made by the current migrations has it: each table with its column names.
    static func schema() async throws -> [String: [String]] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-schema-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        _ = try SQLiteStore(path: path)
        let queue = try DatabaseQueue(path: path)
        return try await queue.read { db in
            var out: [String: [String]] = [:]
            let tables = try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%'")
            for table in tables {
                out[table] = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]).map { $0["name"] as String }
            }
            return out
        }
    }

    @Test("every table with a person or device column is in the export's tables or allowlisted with a reason")
    func everyPersonalTableIsCovered() async throws {
        let schema = try await Self.schema()
        #expect(schema["persons"] != nil && schema["devices"] != nil, "the schema was not read: \(schema.keys.sorted())")
        let personal = schema.filter { $0.value.contains(where: Self.isPersonOrDeviceColumn) }.keys.sorted()
        let covered = Set(PersonExportService.tables)
        let missing = personal.filter { !covered.contains($0) && Self.notPersonalData[$0] == nil }
        #expect(missing.isEmpty, "tables with a person or device column that the export does not cover: \(missing)")
        // The lists stay honest: every table they name exists, and the allowlist names only tables the rule matches.
        #expect(covered.subtracting(schema.keys).isEmpty, "the export names tables the schema does not have: \(covered.subtracting(schema.keys))")
        for table in Self.notPersonalData.keys { #expect(personal.contains(table), "allowlisted \(table) has no person or device column") }
        // The rule finds the tables it is meant to find.
        #expect(Set(personal) == covered.union(Self.notPersonalData.keys), "the rule no longer finds the tables it is meant to: \(personal)")
    }

    @Test("the JSON Schema in docs requires a count for every table the export covers")
    func schemaNamesEveryCoveredTable() throws {
        let schema = try JSONValue(parsing: String(contentsOfFile: personExportSchemaPath, encoding: .utf8))
        let required = schema?["properties"]?["tables"]?["required"]?.array?.compactMap(\.string) ?? []
        #expect(Set(required) == Set(PersonExportService.tables))
        #expect(schema?["$schema"]?.string == "https://json-schema.org/draft/2020-12/schema")
    }
}

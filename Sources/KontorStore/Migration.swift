import Foundation

/// A column value as both stores hold it: Kontor's schema uses only these.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// A table's rows, for moving an installation from one store to another (`kontor-server migrate-store`).
public struct TableRows: Sendable {
    public var table: String
    public var columns: [String]
    public var rows: [[SQLValue]]

    public init(table: String, columns: [String], rows: [[SQLValue]]) {
        self.table = table
        self.columns = columns
        self.rows = rows
    }
}

/// The tables that make up an installation, parents before children. Console sessions (sign in again)
/// and the replay window (a few minutes of nonces) are not moved.
public enum StoreTables {
    public static let moved = [
        "api_tokens", "persons", "enrollment_tokens", "devices", "consent_records", "settings", "profile_revisions", "profile_assignments",
        "device_events", "audit_log", "commands", "wipe_receipts", "offboardings", "usage_terms", "terms_responses",
    ]

    /// The order rows are read in, so a row's parent (a device's predecessor) is always written first.
    public static func order(_ table: String) -> String {
        switch table {
        case "devices": "enrolled_at, id"
        case "audit_log": "seq"
        case "consent_records", "device_events": "id"
        case "profile_revisions": "name, revision"
        case "profile_assignments": "scope, target"
        case "settings": "key"
        case "offboardings": "person_id"
        case "commands": "issued_at, id"
        case "wipe_receipts": "received_at, id"
        case "usage_terms": "published_at, version"
        case "terms_responses": "received_at, id"
        default: "created_at, id"
        }
    }
}

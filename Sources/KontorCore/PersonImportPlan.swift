#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What importing a staff list does (or, in a dry run, would do): `POST /api/v1/persons/import`.
public struct PersonImportPlan: Codable, Sendable, Equatable {
    /// A person the file adds.
    public struct Added: Codable, Sendable, Equatable {
        public var email: String
        public var displayName: String
        public var groups: [String]
        public var phone: String?

        public init(email: String, displayName: String, groups: [String], phone: String?) {
            self.email = email
            self.displayName = displayName
            self.groups = groups
            self.phone = phone
        }
    }

    /// A person the file changes, and which fields.
    public struct Updated: Codable, Sendable, Equatable {
        public var email: String
        public var fields: [String]

        public init(email: String, fields: [String]) {
            self.email = email
            self.fields = fields
        }
    }

    public var dryRun: Bool
    public var added: [Added]
    public var updated: [Updated]
    public var unchanged: Int
    /// Active persons of the directory the file does not name (nothing is done to them).
    public var missing: [String]
    /// Rows naming a person who was offboarded (a rehire is a new person, not an update).
    public var offboarded: [String]
    /// Active devices whose policy changes (their person's groups changed).
    public var devicesAffected: [String]

    public init(
        dryRun: Bool, added: [Added] = [], updated: [Updated] = [], unchanged: Int = 0, missing: [String] = [], offboarded: [String] = [],
        devicesAffected: [String] = []
    ) {
        self.dryRun = dryRun
        self.added = added
        self.updated = updated
        self.unchanged = unchanged
        self.missing = missing
        self.offboarded = offboarded
        self.devicesAffected = devicesAffected
    }
}

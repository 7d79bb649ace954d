#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What pseudonymising a person replaced, removed and erased, for the audit entry and the report.
public struct PseudonymisedPerson: Codable, Sendable, Equatable {
    public var personId: String
    public var pseudonym: String
    /// Devices whose hostname (and last reports) were replaced.
    public var devices: Int
    /// Device events deleted (their text names hostnames, accounts and paths).
    public var events: Int
    /// Audit entries with at least one value erased.
    public var auditEntries: Int
    /// The SCIM user record was pseudonymised too.
    public var scimUser: Bool

    public init(personId: String, pseudonym: String, devices: Int, events: Int, auditEntries: Int, scimUser: Bool) {
        self.personId = personId
        self.pseudonym = pseudonym
        self.devices = devices
        self.events = events
        self.auditEntries = auditEntries
        self.scimUser = scimUser
    }
}

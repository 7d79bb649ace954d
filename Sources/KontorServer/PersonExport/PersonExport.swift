import Foundation
import KontorCore
import KontorStore

/// Everything Kontor holds about one person, as one JSON document: the answer to an access request under
/// GDPR Art. 15. Its shape is documented by `docs/person-export.schema.json`; a field added here must be
/// added there too (the export test validates one against the other).
struct PersonExport: Codable, Sendable {
    /// What this document is, so a reader can tell it from other JSON; the number changes with the shape.
    static let formatName = "kontor-person-export/1"
    /// The server's release, named in the document so a reader knows which schema and rules produced it.
    static let kontorVersion = "0.1.0"

    var format = PersonExport.formatName
    var generatedAt: Date
    var kontorVersion = PersonExport.kontorVersion
    /// The person's directory record.
    var person: Person
    /// The rehire chain: earlier person IDs of the same person (newest first) and the ID they came back as.
    var rehire: Rehire
    /// The directory sync's (SCIM) records for the person.
    var scimUsers: [SCIMUser]
    var devices: [ExportedDevice]
    /// Enrollment tokens made for the person (their secrets are never stored, only a hash, which is left out).
    var enrollmentTokens: [EnrollmentToken]
    /// The consents enrollments recorded (the terms version the agent said was accepted).
    var consentRecords: [ConsentRecord]
    /// The signed answers to the usage terms from the person or their devices.
    var termsResponses: [TermsAnswer]
    var offboarding: Offboarding?
    /// Audit entries whose target, actor or a detail value names the person, one of their devices or of
    /// their records (commands, receipts, archives, enrollment tokens), oldest first.
    var auditEntries: [AuditEntry]
    /// For each store table that holds data about persons or devices, how many of its rows this document holds.
    var tables: [String: Int]

    /// The rehire links of a person.
    struct Rehire: Codable, Sendable {
        var previousIds: [String]
        var returnedAs: String?
    }

    /// A directory (SCIM) user record.
    struct SCIMUser: Codable, Sendable {
        var id: String
        var userName: String
        var externalId: String?
        var createdAt: Date
        var updatedAt: Date
        var deletedAt: Date?

        init(_ link: SCIMUserLink) {
            id = link.id
            userName = link.userName
            externalId = link.externalId
            createdAt = link.createdAt
            updatedAt = link.updatedAt
            deletedAt = link.deletedAt
        }
    }

    /// One device of the person with everything kept about it.
    struct ExportedDevice: Codable, Sendable {
        /// The device record: facts, last check-in, agent status, compliance report, policy hash and sources.
        var device: Device
        /// The policy the device should enforce now (active devices only).
        var effectivePolicy: EffectivePolicy?
        /// Profiles assigned to this device itself.
        var profileAssignments: [ProfileAssignment]
        /// Every event the store keeps for the device, oldest first.
        var events: [DeviceEvent]
        var commands: [CommandRecord]
        var wipeReceipts: [Receipt]
        /// Records of archived work data (the archive's content is never part of the export).
        var archives: [ArchiveRecord]
    }

    /// A wipe receipt as the device signed it, with whether the signature verifies with the device's key.
    struct Receipt: Codable, Sendable {
        var id: String
        var commandId: String?
        var trigger: String
        var receivedAt: Date
        /// The signed bytes exactly as received (JSON text) and the base64 signature over them.
        var payload: String
        var signature: String
        var signatureValid: Bool
        /// The payload decoded, when the signature verifies.
        var receipt: WipeReceipt?
    }

    /// An answer to the usage terms as the device signed it, with whether the signature verifies.
    struct TermsAnswer: Codable, Sendable {
        var id: String
        var version: String
        var deviceId: String
        var personId: String?
        var decision: TermsDecision
        var answeredAt: Date
        var receivedAt: Date
        var payload: String
        var signature: String
        var signatureValid: Bool
    }
}

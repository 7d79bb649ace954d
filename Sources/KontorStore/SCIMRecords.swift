import Foundation
import KontorCore

/// A user as a directory (SCIM) provisioned it: the resource ID the directory keeps, its userName and
/// externalId, and the person it stands for. The ID is never reused; a rehire moves the link on to the new
/// person, and a person who is rehired outside SCIM is found by following the chain from `personId`.
public struct SCIMUserLink: Sendable, Equatable {
    public var id: String
    public var personId: String
    public var userName: String
    public var externalId: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// When the directory deleted the user (the person is offboarded with notice; the resource is gone for SCIM).
    public var deletedAt: Date?

    public init(id: String, personId: String, userName: String, externalId: String?, createdAt: Date, updatedAt: Date, deletedAt: Date? = nil) {
        self.id = id
        self.personId = personId
        self.userName = userName
        self.externalId = externalId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
    }
}

/// A group as a directory provisioned it: its display name there and the Kontor group name it maps to
/// (the name profiles and on-call exemptions use). Members are the persons holding `name` in their groups.
public struct SCIMGroup: Sendable, Equatable {
    public var id: String
    public var displayName: String
    public var name: String
    public var externalId: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var deletedAt: Date?

    public init(id: String, displayName: String, name: String, externalId: String?, createdAt: Date, updatedAt: Date, deletedAt: Date? = nil) {
        self.id = id
        self.displayName = displayName
        self.name = name
        self.externalId = externalId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
    }
}

/// A change to a person made together with a SCIM link, in the same transaction.
public enum PersonWrite: Sendable, Equatable {
    /// A new person (`StoreError.conflict` when the email is a current person's).
    case insert(Person)
    /// New email, name, groups or phone (`StoreError.conflict` when the email is another current person's).
    case update(Person)
    /// The return of the offboarded `previousId`, checked as ``PersonStore/rehirePerson(_:)`` checks it.
    case rehire(Person)
}

/// What a directory provisioned over SCIM, beside the persons it stands for.
public protocol SCIMStore: Sendable {
    /// Every user link, deleted ones too, oldest first.
    func scimUsers() async throws -> [SCIMUserLink]
    /// Atomically: applies `person` (when given), then inserts or replaces `link`. `StoreError.conflict` when
    /// another live link has the same userName (any case), or from the person write; nothing is written then.
    func saveSCIMUser(_ link: SCIMUserLink, person: PersonWrite?) async throws
    /// Every group, deleted ones too, oldest first.
    func scimGroups() async throws -> [SCIMGroup]
    /// Atomically: inserts or replaces `group` and stores `members`' new groups. `StoreError.conflict` when
    /// another live group maps to the same Kontor name; `StoreError.notFound` when a member is gone.
    func saveSCIMGroup(_ group: SCIMGroup, members: [Person]) async throws
}

extension SCIMUserLink: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            id: try row.string("id"), personId: try row.string("person_id"), userName: try row.string("user_name"),
            externalId: try row.optionalString("external_id"), createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"),
            deletedAt: try row.optionalDate("deleted_at"))
    }
}

extension SCIMGroup: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            id: try row.string("id"), displayName: try row.string("display_name"), name: try row.string("name"),
            externalId: try row.optionalString("external_id"), createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"),
            deletedAt: try row.optionalDate("deleted_at"))
    }
}

/// What a store says when a SCIM write collides.
extension StoreError {
    package static func userNameTaken(_ name: String) -> StoreError { .conflict("a user with userName \(name) exists") }
    package static func groupNameTaken(_ name: String) -> StoreError { .conflict("a group mapped to the Kontor group \(name) exists") }
}

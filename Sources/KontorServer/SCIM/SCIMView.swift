import Foundation
import KontorCore
import KontorStore

/// One user as SCIM shows it: the resource ID the directory keeps, the person it stands for now (the end of
/// the chain of rehires from the linked person), and the link when there is one. A person no directory
/// provisioned is shown too (its ID is the person's, its userName the email), so a directory can find and
/// adopt the people an admin added by hand or by CSV.
struct SCIMUser: Sendable {
    var id: String
    var person: Person
    var link: SCIMUserLink?

    var userName: String { link?.userName ?? person.email }
    var externalId: String? { link?.externalId }
    var active: Bool { person.status == .active }
}

/// Persons, links and groups read once, with the users SCIM presents worked out from them.
struct SCIMView: Sendable {
    let persons: [String: Person]
    let users: [SCIMUser]
    let groups: [SCIMGroup]
    /// Persons whose chain a link (live or deleted) covers: never shown as unprovisioned users.
    let linkedPersonIds: Set<String>

    init(persons list: [Person], links: [SCIMUserLink], groups: [SCIMGroup]) {
        let persons = Dictionary(uniqueKeysWithValues: list.map { ($0.id, $0) })
        let successor = Dictionary(list.compactMap { p in p.previousId.map { ($0, p) } }, uniquingKeysWith: { a, _ in a })
        func current(_ id: String) -> Person? {
            guard var person = persons[id] else { return nil }
            var steps = 0
            while let next = successor[person.id], steps < 10_000 {
                person = next
                steps += 1
            }
            return person
        }
        var users: [SCIMUser] = []
        var covered = Set<String>()
        for link in links {
            guard let person = current(link.personId) else { continue }
            covered.insert(person.id)
            if link.deletedAt == nil { users.append(SCIMUser(id: link.id, person: person, link: link)) }
        }
        for person in list.sorted(by: { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) })
        where successor[person.id] == nil && !covered.contains(person.id) {
            users.append(SCIMUser(id: person.id, person: person, link: nil))
        }
        self.persons = persons
        self.users = users
        self.groups = groups.filter { $0.deletedAt == nil }
        self.linkedPersonIds = covered
    }

    func user(id: String) -> SCIMUser? { users.first { $0.id == id } }
    func group(id: String) -> SCIMGroup? { groups.first { $0.id == id } }

    /// The user shown for the current person `personId`, if any.
    func user(personId: String) -> SCIMUser? { users.first { $0.person.id == personId } }

    /// The users in `group`: those whose person holds its Kontor name.
    func members(of group: SCIMGroup) -> [SCIMUser] { users.filter { $0.person.groups.contains(group.name) } }
}

/// A user as a directory writes it (POST, PUT, or a resource after PATCH), checked.
struct SCIMUserInput: Equatable {
    var userName: String
    var externalId: String?
    var displayName: String
    var email: String
    var phone: String?
    var active: Bool

    /// Reads `json`; every refusal names the attribute (`emails[0].value: "x" is not an email address`).
    init(_ json: JSONValue) throws {
        guard case .object = json else { throw SCIMError.invalidSyntax("the body must be a JSON object") }
        guard let userName = SCIMJSON.member(json, "userName")?.string?.trimmingCharacters(in: .whitespaces), !userName.isEmpty else {
            throw SCIMError.invalidValue("userName: required, a non-empty string")
        }
        guard userName.count <= 256, VisibleText.firstHidden(in: userName) == nil else {
            throw SCIMError.invalidValue("userName: at most 256 characters, none of them control or invisible")
        }
        self.userName = userName
        externalId = try Self.externalId(SCIMJSON.member(json, "externalId"))
        active = try Self.flag(SCIMJSON.member(json, "active"), "active") ?? true
        email = try Self.email(json, userName: userName)
        phone = try Self.primaryValue(SCIMJSON.member(json, "phoneNumbers"), "phoneNumbers")
        if let phone, !Validation.isPhone(phone) {
            throw SCIMError.invalidValue(
                "phoneNumbers: \"\(VisibleText.escaped(phone))\" is not a phone number (digits, spaces, + - / ( ), 3 to 32 characters)")
        }
        displayName = try Self.displayName(json, fallback: userName)
    }

    private static func externalId(_ value: JSONValue?) throws -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let s)?:
            guard s.count <= 256, !s.contains("\0") else { throw SCIMError.invalidValue("externalId: at most 256 characters") }
            return s.isEmpty ? nil : s
        default: throw SCIMError.invalidValue("externalId: expected a string")
        }
    }

    /// A boolean, or Entra ID's "True"/"False".
    static func flag(_ value: JSONValue?, _ name: String) throws -> Bool? {
        switch value {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        case .string(let s)? where ["true", "false"].contains(s.lowercased()): return s.lowercased() == "true"
        default: throw SCIMError.invalidValue("\(name): expected true or false")
        }
    }

    /// The primary (else the `work`, else the first) value of a multi-valued attribute.
    private static func primaryValue(_ value: JSONValue?, _ name: String) throws -> String? {
        guard let value, value != .null else { return nil }
        guard let items = value.array else { throw SCIMError.invalidValue("\(name): expected a list") }
        let chosen =
            items.first { (try? flag(SCIMJSON.member($0, "primary"), "primary")) == true }
            ?? items.first { SCIMJSON.member($0, "type")?.string?.lowercased() == "work" } ?? items.first
        guard let chosen else { return nil }
        guard let text = SCIMJSON.member(chosen, "value")?.string else { throw SCIMError.invalidValue("\(name): each element needs a string value") }
        return text.trimmingCharacters(in: .whitespaces).nonEmpty
    }

    private static func email(_ json: JSONValue, userName: String) throws -> String {
        if let email = try primaryValue(SCIMJSON.member(json, "emails"), "emails") {
            guard Validation.isEmail(email) else { throw SCIMError.invalidValue("emails: \"\(VisibleText.escaped(email))\" is not an email address") }
            return email
        }
        guard Validation.isEmail(userName) else {
            throw SCIMError.invalidValue("emails: a user needs a work email address (in emails, or a userName that is one)")
        }
        return userName
    }

    private static func displayName(_ json: JSONValue, fallback: String) throws -> String {
        var name = SCIMJSON.member(json, "displayName")?.string?.trimmingCharacters(in: .whitespaces).nonEmpty
        if name == nil, let parts = SCIMJSON.member(json, "name") {
            name =
                SCIMJSON.member(parts, "formatted")?.string?.trimmingCharacters(in: .whitespaces).nonEmpty
                ?? [SCIMJSON.member(parts, "givenName")?.string, SCIMJSON.member(parts, "familyName")?.string]
                .compactMap { $0?.trimmingCharacters(in: .whitespaces).nonEmpty }.joined(separator: " ").nonEmpty
        }
        do {
            return try DirectoryService.displayName(name ?? fallback)
        } catch let error as KontorError {
            throw SCIMError.invalidValue(error.message)
        }
    }
}

/// A group as a directory writes it, checked; members are user IDs.
struct SCIMGroupInput: Equatable {
    var displayName: String
    var externalId: String?
    var members: [String]

    init(_ json: JSONValue) throws {
        guard case .object = json else { throw SCIMError.invalidSyntax("the body must be a JSON object") }
        guard let name = SCIMJSON.member(json, "displayName")?.string?.trimmingCharacters(in: .whitespaces), (1...256).contains(name.count),
            VisibleText.firstHidden(in: name) == nil
        else { throw SCIMError.invalidValue("displayName: required, 1 to 256 characters, none of them control or invisible") }
        displayName = name
        switch SCIMJSON.member(json, "externalId") {
        case nil, .null?: externalId = nil
        case .string(let s)? where s.count <= 256 && !s.contains("\0"): externalId = s.isEmpty ? nil : s
        default: throw SCIMError.invalidValue("externalId: expected a string of at most 256 characters")
        }
        var members: [String] = []
        for (i, member) in (SCIMJSON.member(json, "members")?.array ?? []).enumerated() {
            guard let id = SCIMJSON.member(member, "value")?.string, !id.isEmpty else {
                throw SCIMError.invalidValue("members[\(i)].value: expected a user id")
            }
            if !members.contains(id) { members.append(id) }
        }
        guard members.count <= 100_000 else { throw SCIMError.invalidValue("members: at most 100000") }
        self.members = members
    }

    /// The Kontor group name for a new group called `displayName`: letters, digits, '.', '_' and '-' (umlauts
    /// spelled out, every other run of characters a single '-'), at most 64; `fallback` when nothing is left.
    static func kontorName(_ displayName: String, fallback: String) -> String {
        let spelled = displayName.replacingOccurrences(of: "ä", with: "ae").replacingOccurrences(of: "ö", with: "oe")
            .replacingOccurrences(of: "ü", with: "ue").replacingOccurrences(of: "Ä", with: "Ae").replacingOccurrences(of: "Ö", with: "Oe")
            .replacingOccurrences(of: "Ü", with: "Ue").replacingOccurrences(of: "ß", with: "ss")
        var out = ""
        for scalar in spelled.unicodeScalars {
            if scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "." || scalar == "_" || scalar == "-" {
                out.unicodeScalars.append(scalar)
            } else if !out.hasSuffix("-") {
                out += "-"
            }
        }
        let trimmed = String(out.trimmingCharacters(in: CharacterSet(charactersIn: "-")).prefix(64)).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return Validation.isName(trimmed) ? trimmed : fallback
    }
}

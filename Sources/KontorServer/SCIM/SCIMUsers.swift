import Foundation
import KontorCore
import KontorStore

/// Users over SCIM: each write goes to the staff directory as the admin actions do (checked the same way,
/// audited with the directory token as actor). Deactivating (`active: false`) or deleting a user starts an
/// offboarding with the notice period from the settings, never an immediate wipe; reactivating one in the
/// notice period cancels it; reactivating one who left is a rehire (a new person ID, the same SCIM ID).
struct SCIMService: Sendable {
    let services: Services

    var store: any KontorStore { services.store }
    var base: String { services.config.advertisedURL + SCIMController.prefix }

    func view() async throws -> SCIMView {
        SCIMView(persons: try await store.persons(), links: try await store.scimUsers(), groups: try await store.scimGroups())
    }

    func user(_ id: String, in view: SCIMView) throws -> SCIMUser {
        guard let user = view.user(id: id) else { throw SCIMError.notFound("no user \(id)") }
        return user
    }

    func createUser(_ json: JSONValue, by principal: Principal) async throws -> SCIMUser {
        let input = try SCIMUserInput(json)
        let view = try await view()
        try checkUserName(input.userName, free: nil, in: view)
        let now = services.clock.now()
        let actor = AuditService.actor(principal)
        var link = SCIMUserLink(
            id: IdentifierGenerator.uuidV7(now: now), personId: "", userName: input.userName, externalId: input.externalId, createdAt: now, updatedAt: now)
        let person: Person
        let found = try await store.person(email: input.email)
        if let existing = found, existing.status != .offboarded {
            // Someone an admin added (or a directory deleted in the notice period): the directory adopts them.
            if let owner = view.user(personId: existing.id), owner.link != nil {
                throw SCIMError.uniqueness("emails: \(input.email) belongs to user \(owner.id)")
            }
            person = try updated(existing, input)
            link.personId = existing.id
            try await save(link, person == existing ? nil : .update(person))
            try await audit(existing, person, actor: actor, action: "person.linked", extra: ["scimId": link.id])
        } else if let previous = found {
            person = try rehired(previous, input, now: now)
            link.personId = person.id
            try await save(link, .rehire(person))
            try await services.audit.record(
                actor, "person.rehired", target: person.email, detail: ["id": person.id, "previous": previous.id, "via": "scim", "scimId": link.id])
        } else {
            person = Person(
                id: IdentifierGenerator.uuidV7(now: now), email: input.email, displayName: input.displayName, groups: [], createdAt: now, phone: input.phone)
            link.personId = person.id
            try await save(link, .insert(person))
            try await services.audit.record(actor, "person.created", target: person.email, detail: ["id": person.id, "via": "scim", "scimId": link.id])
        }
        try await setActive(input.active, person: try await currentPerson(person.id), by: principal)
        return try user(link.id, in: try await self.view())
    }

    /// PUT, and PATCH once its operations are applied: the user becomes `json`.
    func replaceUser(_ id: String, with json: JSONValue, by principal: Principal) async throws -> SCIMUser {
        let input = try SCIMUserInput(json)
        let view = try await view()
        let user = try user(id, in: view)
        try checkUserName(input.userName, free: user.id, in: view)
        let now = services.clock.now()
        var link = user.link ?? SCIMUserLink(id: user.id, personId: user.person.id, userName: input.userName, externalId: nil, createdAt: now, updatedAt: now)
        let linkChanged = user.link == nil || link.userName != input.userName || link.externalId != input.externalId || link.personId != user.person.id
        link.userName = input.userName
        link.externalId = input.externalId
        link.personId = user.person.id
        let actor = AuditService.actor(principal)
        if user.person.status == .offboarded, input.active {
            let person = try rehired(user.person, input, now: now)
            link.personId = person.id
            link.updatedAt = now
            try await save(link, .rehire(person))
            try await services.audit.record(
                actor, "person.rehired", target: person.email, detail: ["id": person.id, "previous": user.person.id, "via": "scim", "scimId": link.id])
            return try self.user(id, in: try await self.view())
        }
        let person = try updated(user.person, input)
        if linkChanged || person != user.person {
            link.updatedAt = now
            try await save(link, person == user.person ? nil : .update(person))
            try await audit(user.person, person, actor: actor, action: "person.updated", extra: [:])
            if person.groups != user.person.groups { services.refreshPolicies(deviceIds: try await store.devices(personId: person.id).map(\.id)) }
        }
        try await setActive(input.active, person: person, by: principal)
        return try self.user(id, in: try await self.view())
    }

    func patchUser(_ id: String, _ body: JSONValue, by principal: Principal) async throws -> SCIMUser {
        let patched = try await patched(body) { render, view in render.user(try user(id, in: view), in: view) }
        return try await replaceUser(id, with: patched, by: principal)
    }

    /// The resource `current` renders, with the PATCH `body` applied (checked before anything is read).
    func patched(_ body: JSONValue, current: (SCIMRender, SCIMView) throws -> JSONValue) async throws -> JSONValue {
        let operations = try SCIMPatch.operations(body)
        let view = try await view()
        return try SCIMPatch(coreSchemas: SCIMDiscovery.coreSchemas).apply(operations, to: try current(SCIMRender(base: base), view))
    }

    /// The directory deleted the user: an offboarding with notice starts, and SCIM no longer knows the ID.
    func deleteUser(_ id: String, by principal: Principal) async throws {
        let view = try await view()
        let user = try user(id, in: view)
        let now = services.clock.now()
        try await setActive(false, person: user.person, by: principal)
        var link = user.link ?? SCIMUserLink(id: user.id, personId: user.person.id, userName: user.userName, externalId: nil, createdAt: now, updatedAt: now)
        link.deletedAt = now
        link.updatedAt = now
        try await save(link, nil)
        try await services.audit.record(
            AuditService.actor(principal), "person.directory-deleted", target: user.person.email, detail: ["id": user.person.id, "scimId": user.id])
    }

    // MARK: the parts

    private func checkUserName(_ userName: String, free id: String?, in view: SCIMView) throws {
        if let other = view.users.first(where: { $0.id != id && $0.userName.caseInsensitiveCompare(userName) == .orderedSame }) {
            throw SCIMError.uniqueness("userName: \(userName) is taken by user \(other.id)")
        }
    }

    private func save(_ link: SCIMUserLink, _ person: PersonWrite?) async throws {
        do {
            try await store.saveSCIMUser(link, person: person)
        } catch StoreError.conflict(let why) {
            throw SCIMError.uniqueness(why)
        }
    }

    private func updated(_ person: Person, _ input: SCIMUserInput) throws -> Person {
        var out = person
        out.email = input.email
        out.displayName = input.displayName
        out.phone = input.phone
        return out
    }

    private func rehired(_ previous: Person, _ input: SCIMUserInput, now: Date) throws -> Person {
        Person(
            id: IdentifierGenerator.uuidV7(now: now), email: input.email, displayName: input.displayName, groups: previous.groups, createdAt: now,
            phone: input.phone, previousId: previous.id)
    }

    private func currentPerson(_ id: String) async throws -> Person {
        guard let person = try await store.person(id: id) else { throw SCIMError.notFound("no person \(id)") }
        return person
    }

    /// `active: false` on an active person starts an offboarding with notice; `true` in the notice period
    /// cancels it. Anything else is already as asked.
    private func setActive(_ active: Bool, person: Person, by principal: Principal) async throws {
        switch (person.status, active) {
        case (.active, false):
            let days = try await services.offboardingNoticeDays()
            let request = OffboardingService.Request(
                at: services.clock.now().addingTimeInterval(TimeInterval(days) * 86_400), restrictNow: nil, profile: nil,
                reason: "deactivated in the directory (SCIM)")
            _ = try await services.startOffboarding(person, request, by: principal)
        case (.offboarding, true):
            _ = try await services.cancelOffboarding(person, by: principal)
        default: break
        }
    }

    private func audit(_ before: Person, _ after: Person, actor: String, action: String, extra: [String: String]) async throws {
        var detail = extra
        if after.email != before.email { detail["email"] = after.email }
        if after.displayName != before.displayName { detail["displayName"] = after.displayName }
        if after.phone != before.phone { detail["phone"] = after.phone ?? "" }
        guard !detail.isEmpty else { return }
        detail["id"] = after.id
        detail["via"] = "scim"
        try await services.audit.record(actor, action, target: after.email, detail: detail)
    }
}

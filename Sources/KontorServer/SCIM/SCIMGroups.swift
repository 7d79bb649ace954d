import Foundation
import KontorCore
import KontorStore

/// Groups over SCIM. A directory's group maps to a Kontor group name (what profiles, enrollment tokens and
/// on-call exemptions name), fixed when the group is first provisioned: `Lehrkräfte Grundschule` becomes
/// `Lehrkraefte-Grundschule`, an existing Kontor group of that name is taken over. Renaming the group in the
/// directory changes its displayName, never the Kontor name (a rename must not move policies). Members are
/// exactly the users the directory lists: persons are added to and removed from the Kontor group to match.
extension SCIMService {
    func group(_ id: String, in view: SCIMView) throws -> SCIMGroup {
        guard let group = view.group(id: id) else { throw SCIMError.notFound("no group \(id)") }
        return group
    }

    func createGroup(_ json: JSONValue, by principal: Principal) async throws -> SCIMGroup {
        let input = try SCIMGroupInput(json)
        let view = try await view()
        let now = services.clock.now()
        let id = IdentifierGenerator.uuidV7(now: now)
        let name = SCIMGroupInput.kontorName(input.displayName, fallback: "group-" + id.suffix(12).lowercased())
        if let other = view.groups.first(where: { $0.name == name }) {
            throw SCIMError.uniqueness("displayName: \(input.displayName) maps to the Kontor group \(name), which group \(other.id) (\(other.displayName)) has")
        }
        let group = SCIMGroup(id: id, displayName: input.displayName, name: name, externalId: input.externalId, createdAt: now, updatedAt: now)
        try await save(group, members: input.members, in: view, by: principal, action: "group.provisioned")
        return group
    }

    /// PUT, and PATCH once applied: the group's displayName, externalId and members become those of `json`.
    func replaceGroup(_ id: String, with json: JSONValue, by principal: Principal) async throws -> SCIMGroup {
        let input = try SCIMGroupInput(json)
        let view = try await view()
        var group = try group(id, in: view)
        group.displayName = input.displayName
        group.externalId = input.externalId
        group.updatedAt = services.clock.now()
        try await save(group, members: input.members, in: view, by: principal, action: "group.updated")
        return group
    }

    func patchGroup(_ id: String, _ body: JSONValue, by principal: Principal) async throws -> SCIMGroup {
        let patched = try await patched(body) { render, view in render.group(try group(id, in: view), in: view) }
        return try await replaceGroup(id, with: patched, by: principal)
    }

    /// The group is gone from the directory: no one holds its Kontor name any more; the ID is never reused.
    func deleteGroup(_ id: String, by principal: Principal) async throws {
        let view = try await view()
        var group = try group(id, in: view)
        let now = services.clock.now()
        group.deletedAt = now
        group.updatedAt = now
        try await save(group, members: [], in: view, by: principal, action: "group.deleted")
    }

    /// Stores `group` and makes its members exactly `memberIds` (user IDs), in one transaction; audits what
    /// changed and lets the affected devices pick up their new policy.
    private func save(_ group: SCIMGroup, members memberIds: [String], in view: SCIMView, by principal: Principal, action: String) async throws {
        var wanted = Set<String>()
        for (i, id) in memberIds.enumerated() {
            guard let user = view.user(id: id) else { throw SCIMError.invalidValue("members[\(i)].value: no user \(id)") }
            wanted.insert(user.person.id)
        }
        var changed: [Person] = []
        var added: [String] = []
        var removed: [String] = []
        // Only the persons SCIM shows (the current end of each chain) are members; history keeps its groups.
        let shown = Set(view.users.map(\.person.id))
        for person in view.persons.values.sorted(by: { $0.id < $1.id }) {
            let holds = person.groups.contains(group.name)
            let isShown = shown.contains(person.id)
            if wanted.contains(person.id), !holds {
                var p = person
                p.groups.append(group.name)
                changed.append(p)
                added.append(person.email)
            } else if holds, isShown, !wanted.contains(person.id) {
                var p = person
                p.groups.removeAll { $0 == group.name }
                changed.append(p)
                removed.append(person.email)
            }
        }
        do {
            try await store.saveSCIMGroup(group, members: changed)
        } catch StoreError.conflict(let why) {
            throw SCIMError.uniqueness(why)
        }
        try await services.audit.record(
            AuditService.actor(principal), action, target: "group:\(group.name)",
            detail: [
                "scimId": group.id, "displayName": group.displayName, "added": added.joined(separator: ","), "removed": removed.joined(separator: ","),
            ])
        var devices: [String] = []
        for person in changed { devices += try await store.devices(personId: person.id).map(\.id) }
        services.refreshPolicies(deviceIds: devices)
    }
}

import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

private func person(_ name: String, at: Date = t0, groups: [String] = [], previous: String? = nil) -> Person {
    Person(
        id: IdentifierGenerator.uuidV7(now: at), email: "\(name)@example.org", displayName: name, groups: groups, createdAt: at, previousId: previous)
}

private func offboard(_ store: any KontorStore, _ id: String) async throws {
    try await store.startOffboarding(Offboarding(personId: id, requestedAt: t0, requestedBy: nil, wipeAt: t0, restrictedProfile: nil, reason: nil), now: t0)
    try await store.completeOffboarding(personId: id, at: t0)
}

@Suite("Store conformance: directory sync (SCIM links and groups), email changes, cancelled offboardings")
struct SCIMConformanceTests {
    @Test("a link is written with its person in one transaction; a taken userName (any case) writes neither", arguments: Backend.all)
    func linksWithPersons(backend: Backend) async throws {
        let store = try await backend.make()
        let ada = person("ada")
        let link = SCIMUserLink(id: "u1", personId: ada.id, userName: "Ada@Corp", externalId: "ext-1", createdAt: t0, updatedAt: t0)
        try await store.saveSCIMUser(link, person: .insert(ada))
        #expect(try await store.scimUsers() == [link])
        #expect(try await store.person(id: ada.id) == ada)

        let bo = person("bo")
        let clash = SCIMUserLink(id: "u2", personId: bo.id, userName: "ada@corp", externalId: nil, createdAt: t0, updatedAt: t0)
        await #expect(throws: StoreError.conflict("a user with userName ada@corp exists")) { try await store.saveSCIMUser(clash, person: .insert(bo)) }
        #expect(try await store.person(id: bo.id) == nil, "the person of a refused link is not written")

        // Deleted links free their userName; the row (and its ID) stays.
        var deleted = link
        deleted.deletedAt = t0 + 60
        deleted.updatedAt = t0 + 60
        try await store.saveSCIMUser(deleted, person: nil)
        try await store.saveSCIMUser(clash, person: .insert(bo))
        #expect(try await store.scimUsers().map(\.id) == ["u1", "u2"])
        #expect(try await store.scimUsers().first?.deletedAt == t0 + 60)

        let ghost = SCIMUserLink(id: "u3", personId: "no-such-person", userName: "x", externalId: nil, createdAt: t0, updatedAt: t0)
        await #expect(throws: StoreError.self) { try await store.saveSCIMUser(ghost, person: nil) }
    }

    @Test("a link moves on with a rehire in the same transaction; a rehire that is refused leaves the link", arguments: Backend.all)
    func rehireThroughLink(backend: Backend) async throws {
        let store = try await backend.make()
        let ada = person("ada")
        var link = SCIMUserLink(id: "u1", personId: ada.id, userName: "ada", externalId: nil, createdAt: t0, updatedAt: t0)
        try await store.saveSCIMUser(link, person: .insert(ada))
        let back = person("ada", at: t0 + 60, previous: ada.id)
        link.personId = back.id
        await #expect(throws: StoreError.self) { try await store.saveSCIMUser(link, person: .rehire(back)) }
        #expect(try await store.scimUsers().first?.personId == ada.id)
        try await offboard(store, ada.id)
        try await store.saveSCIMUser(link, person: .rehire(back))
        #expect(try await store.scimUsers().first?.personId == back.id)
        #expect(try await store.person(email: "ada@example.org")?.id == back.id)
    }

    @Test("updating a person can change the email; another current person's email is refused", arguments: Backend.all)
    func emailChange(backend: Backend) async throws {
        let store = try await backend.make()
        var ada = person("ada")
        let bo = person("bo")
        try await store.importPersons(inserts: [ada, bo], updates: [])
        ada.email = "ada.king@example.org"
        #expect(try await store.updatePerson(ada))
        #expect(try await store.person(email: "ADA.KING@example.org")?.id == ada.id)
        #expect(try await store.person(email: "ada@example.org") == nil)
        ada.email = "Bo@example.org"
        await #expect(throws: StoreError.self) { _ = try await store.updatePerson(ada) }
        #expect(try await store.person(id: ada.id)?.email == "ada.king@example.org")
    }

    @Test("a group is saved with its members' groups in one transaction; a live Kontor name is unique", arguments: Backend.all)
    func groups(backend: Backend) async throws {
        let store = try await backend.make()
        var ada = person("ada", groups: ["office"])
        try await store.insertPerson(ada)
        let techs = SCIMGroup(id: "g1", displayName: "Techs", name: "techs", externalId: nil, createdAt: t0, updatedAt: t0)
        ada.groups.append("techs")
        try await store.saveSCIMGroup(techs, members: [ada])
        #expect(try await store.scimGroups() == [techs])
        #expect(try await store.person(id: ada.id)?.groups == ["office", "techs"])

        let twin = SCIMGroup(id: "g2", displayName: "TECHS", name: "techs", externalId: nil, createdAt: t0, updatedAt: t0)
        var changed = ada
        changed.groups = []
        await #expect(throws: StoreError.conflict("a group mapped to the Kontor group techs exists")) {
            try await store.saveSCIMGroup(twin, members: [changed])
        }
        #expect(try await store.person(id: ada.id)?.groups == ["office", "techs"], "members of a refused group are not written")
        let gone = Person(id: "nobody", email: "x@example.org", displayName: "x", groups: [], createdAt: t0)
        let other = SCIMGroup(id: "g3", displayName: "Lab", name: "lab", externalId: "e", createdAt: t0, updatedAt: t0)
        await #expect(throws: StoreError.self) { try await store.saveSCIMGroup(other, members: [gone]) }
        #expect(try await store.scimGroups().map(\.id) == ["g1"])
    }

    @Test("an offboarding in its notice period can be cancelled (the person is active again); not once its wipes went out", arguments: Backend.all)
    func cancelOffboarding(backend: Backend) async throws {
        let store = try await backend.make()
        let ada = person("ada")
        try await store.insertPerson(ada)
        await #expect(throws: StoreError.self) { _ = try await store.cancelOffboarding(personId: ada.id) }
        let planned = Offboarding(personId: ada.id, requestedAt: t0, requestedBy: "idp", wipeAt: t0 + 14 * 86_400, restrictedProfile: nil, reason: "left")
        try await store.startOffboarding(planned, now: t0)
        #expect(try await store.person(id: ada.id)?.status == .offboarding)
        #expect(try await store.cancelOffboarding(personId: ada.id) == planned)
        #expect(try await store.person(id: ada.id)?.status == .active)
        #expect(try await store.openOffboardings().isEmpty)

        try await store.startOffboarding(planned, now: t0)
        try await store.markWipesIssued(personId: ada.id, at: t0 + 14 * 86_400)
        await #expect(throws: StoreError.self) { _ = try await store.cancelOffboarding(personId: ada.id) }
        #expect(try await store.person(id: ada.id)?.status == .offboarding)
    }

    @Test("a directory token is stored and read back with its role", arguments: Backend.all)
    func directoryRole(backend: Backend) async throws {
        let store = try await backend.make()
        let token = APIToken(id: "kat1", name: "entra", role: .directory, createdAt: t0)
        try await store.insertAPIToken(StoredAPIToken(token: token, secretHash: "h"))
        #expect(try await store.apiToken(id: "kat1")?.token.role == .directory)
    }
}

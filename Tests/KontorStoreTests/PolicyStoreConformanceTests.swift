import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

private func profile(_ name: String, interval: Int) -> Profile {
    var profile = Profile(name: name)
    profile.checkinInterval = interval
    return profile
}

@Suite("Store conformance: profiles and assignments")
struct PolicyStoreConformanceTests {
    @Test("each profile's revisions count up from 1 and keep their source, document, time and author", arguments: Backend.all)
    func revisions(backend: Backend) async throws {
        let store = try await backend.make()
        let first = try await store.addProfileRevision(source: "name: office\n", profile: profile("office", interval: 60), at: t0, by: "token:ada")
        let second = try await store.addProfileRevision(source: "name: office\n# v2\n", profile: profile("office", interval: 120), at: t0 + 10, by: nil)
        let other = try await store.addProfileRevision(source: "name: lab\n", profile: profile("lab", interval: 300), at: t0 + 20, by: "token:bob")
        let numbers: [Int] = [first.revision, second.revision, other.revision]
        #expect(numbers == [1, 2, 1])
        #expect(try await store.profileRevisions(name: "office") == [first, second])
        #expect(try await store.profileRevisions(name: "office").last?.profile.checkinInterval == 120)
        #expect(try await store.profileRevisions(name: "office").first?.createdBy == "token:ada")
        #expect(try await store.profileRevisions(name: "missing").isEmpty)
    }

    @Test("the latest revision of every profile, by name", arguments: Backend.all)
    func latest(backend: Backend) async throws {
        let store = try await backend.make()
        #expect(try await store.latestProfiles().isEmpty)
        _ = try await store.addProfileRevision(source: "a1", profile: profile("zeta", interval: 60), at: t0, by: nil)
        _ = try await store.addProfileRevision(source: "b1", profile: profile("alpha", interval: 60), at: t0, by: nil)
        let zeta2 = try await store.addProfileRevision(source: "a2", profile: profile("zeta", interval: 90), at: t0 + 1, by: nil)
        let latest = try await store.latestProfiles()
        #expect(latest.map(\.name) == ["alpha", "zeta"])
        #expect(latest.last == zeta2)
    }

    @Test("revisions added at the same time by two writers get distinct numbers", arguments: Backend.all)
    func concurrentRevisions(backend: Backend) async throws {
        let store = try await backend.make()
        let numbers = try await withThrowingTaskGroup(of: Int.self) { group in
            for n in 0..<4 {
                group.addTask { try await store.addProfileRevision(source: "n\(n)", profile: profile("shared", interval: 60 + n), at: t0, by: nil).revision }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(numbers.sorted() == [1, 2, 3, 4])
        #expect(try await store.profileRevisions(name: "shared").map(\.revision) == [1, 2, 3, 4])
    }

    @Test("an assignment replaces the one at its scope and target, and unassigning says whether there was one", arguments: Backend.all)
    func assignments(backend: Backend) async throws {
        let store = try await backend.make()
        let base = ProfileAssignment(scope: "default", target: "", profile: "office", assignedAt: t0, assignedBy: "token:ada")
        let lab = ProfileAssignment(scope: "group", target: "lab", profile: "lab", assignedAt: t0 + 1, assignedBy: nil)
        let device = ProfileAssignment(scope: "device", target: "d-1", profile: "kiosk", assignedAt: t0 + 2, assignedBy: "token:bob")
        for assignment in [lab, device, base] { try await store.assign(assignment) }
        #expect(try await store.assignments() == [base, device, lab])

        let replaced = ProfileAssignment(scope: "group", target: "lab", profile: "office", assignedAt: t0 + 3, assignedBy: "token:eve")
        try await store.assign(replaced)
        #expect(try await store.assignments() == [base, device, replaced])

        #expect(try await store.unassign(scope: "device", target: "d-1"))
        #expect(try await store.unassign(scope: "device", target: "d-1") == false)
        #expect(try await store.unassign(scope: "group", target: "nope") == false)
        #expect(try await store.assignments() == [base, replaced])
    }
}

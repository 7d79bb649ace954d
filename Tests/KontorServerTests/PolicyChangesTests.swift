import Foundation
import KontorCore
import KontorSQLite
import KontorStore
import Testing

@testable import KontorServer

@Suite("Which devices a profile change touches")
struct PolicyChangesTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// A fleet of `count` devices: every fifth belongs to one of three persons, the rest to nobody; groups
    /// alternate between techs and office; device 7 has a profile of its own.
    func fleet(_ count: Int) async throws -> (SQLiteStore, PolicyService) {
        let store = try SQLiteStore.inMemory()
        let persons = (0..<3).map {
            Person(id: "p\($0)", email: "p\($0)@example.org", displayName: "P\($0)", groups: $0 == 0 ? ["techs", "oncall"] : ["office"], createdAt: t0)
        }
        for p in persons { try await store.insertPerson(p) }
        var tokens: [String: String] = [:]
        for (i, group) in ["techs", "office"].enumerated() {
            for personId in [nil, "p0", "p1", "p2"] {
                let secret = IssuedSecret.generate(.enrollmentToken)
                try await store.insertEnrollmentToken(
                    StoredEnrollmentToken(
                        token: EnrollmentToken(id: "\(secret.id)", personId: personId, group: group, maxUses: 10_000, expiresAt: t0 + 3600, createdAt: t0),
                        secretHash: secret.secretHash))
                tokens["\(i) \(personId ?? "-")"] = secret.id
            }
        }
        for n in 0..<count {
            var facts = sampleFacts
            facts.machineIdHash = String(format: "%064d", n)
            facts.hostname = "h\(n)"
            let person = n % 5 == 0 ? "p\(n / 5 % 3)" : "-"
            let token = tokens["\(n % 2) \(person)"]!
            _ = try await store.enroll(
                NewDevice(id: String(format: "d%05d", n), keyId: "k\(n)", publicKey: "p\(n)", facts: facts, acceptedTermsVersion: nil), tokenId: token, now: t0)
        }
        let service = PolicyService(store: store, config: ServerConfig(), clock: WallClock { self.t0 }, devices: DeviceCache(), cluster: ClusterEvents())
        return (store, service)
    }

    @Test("the comparison by class of device gives what comparing every device gives, and lists at most 1,000")
    func byClass() async throws {
        let (store, service) = try await fleet(1_210)
        _ = try await service.apply(source: "name: base\ncheckinInterval: 120\n", dryRun: false, by: nil)
        _ = try await service.apply(
            source:
                "name: techs\ncontainer: {}\nquietHours: {weekly: {sunday: [all]}, exemptions: [{groups: [oncall], from: \"2027-01-01\", until: \"2027-01-31\"}]}\n",
            dryRun: false, by: nil)
        _ = try await service.apply(source: "name: mine\ncheckinInterval: 30\n", dryRun: false, by: nil)
        _ = try await service.assign(profile: "base", scope: "default", target: nil, by: nil)
        _ = try await service.assign(profile: "techs", scope: "group", target: "techs", by: nil)
        _ = try await service.assign(profile: "mine", scope: "device", target: "d00007", by: nil)

        for source in [
            "name: base\ncheckinInterval: 300\ncontainer: {accountPattern: \"work-x-{localpart}\"}\n",
            "name: techs\ncontainer: {extraWorkPaths: [\"/srv/work/{localpart}\"]}\nquietHours: {weekly: {sunday: [all]}}\n",
            "name: base\ncheckinInterval: 240\n",
        ] {
            let before = try await service.snapshot()
            let result = try await service.apply(source: source, dryRun: true, by: nil)
            var proposed = before
            let profile = result.profile
            proposed.latest[profile.name] = ProfileRevision(name: profile.name, revision: 99, source: source, profile: profile, createdAt: t0, createdBy: nil)
            // Every device on its own, the straightforward way.
            var expected: [PolicyService.DeviceChange] = []
            for device in try await store.devices(personId: nil) {
                let a = try await service.effectivePolicy(for: device, snapshot: before, defaultInterval: before.checkinInterval)
                let b = try await service.effectivePolicy(for: device, snapshot: proposed, defaultInterval: before.checkinInterval)
                let fields = PolicyService.differingFields(a, b)
                if !fields.isEmpty { expected.append(.init(deviceId: device.id, hostname: device.facts.hostname, fields: fields)) }
            }
            #expect(try await service.changes(from: before, to: proposed) == expected)
            #expect(result.devicesChanged == expected.count)
            #expect(result.changes == Array(expected.prefix(1_000)))
            #expect(expected.count > 500)
        }
    }
}

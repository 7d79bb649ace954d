import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

/// Devices enrolled into a store one by one, a second apart, with the person, group and ownership of a token made for each.
private struct FleetBuilder {
    let store: any KontorStore
    var enrolled = 0

    mutating func enroll(
        _ hostname: String, person: String? = nil, group: String? = nil, ownership: Ownership = .company, posture: DevicePosture? = nil
    ) async throws -> String {
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(
                    id: secret.id, personId: person, group: group, maxUses: 1, expiresAt: t0 + 86_400, createdAt: t0, ownership: ownership),
                secretHash: secret.secretHash))
        let at = t0 + Double(enrolled)
        enrolled += 1
        let id = IdentifierGenerator.uuidV7(now: at)
        let facts = DeviceFacts(
            hostname: hostname, osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "m-\(id)", agentVersion: "0.1.0", posture: posture)
        return try await store.enroll(
            NewDevice(id: id, keyId: "key-\(id)", publicKey: "pk-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id, now: at
        ).id
    }

    func checkin(_ id: String, at: Date = t0 + 3600, applied: String? = nil, violations: Int = 0, facts: DeviceFacts? = nil) async throws {
        let report = ComplianceReport(
            violations: Array(repeating: AppViolation(executable: "/usr/bin/steam", pid: 1, action: "reported", at: t0), count: violations))
        try await store.recordCheckins([
            CheckinRecord(deviceId: id, at: at, appliedPolicyHash: applied, status: AgentReport(state: "ok"), facts: facts, compliance: report)
        ])
    }

    func expect(_ id: String, _ expected: ExpectedPolicy, previous: String? = nil) async throws {
        try await store.setExpectedPolicies([ExpectedPolicyUpdate(deviceId: id, expected: expected, previousHash: previous)])
    }
}

private func posture(_ disk: DiskEncryptionState, updated: Date) -> DevicePosture {
    DevicePosture(
        diskEncryption: DiskEncryption(disk), secureBoot: SecureBoot(.enabled),
        updates: UpdatePosture(listsUpdatedAt: updated - 86_400, lastUpgradeAt: updated),
        unitHardening: UnitHardening())
}

@Suite("Store conformance: the console's fleet pages")
struct FleetConformanceTests {
    @Test(
        "each active device's expected policy is stored, cleared when its person's email or groups change, and kept when it changed meanwhile",
        arguments: Backend.all)
    func expectedPolicies(backend: Backend) async throws {
        let store = try await backend.make()
        var fleet = FleetBuilder(store: store)
        try await store.insertPerson(Person(id: "p1", email: "ada@example.org", displayName: "Ada", groups: ["staff"], createdAt: t0))
        let ada = try await fleet.enroll("ada-pc", person: "p1", group: "office")
        let kiosk = try await fleet.enroll("kiosk", ownership: .personal)
        let gone = try await fleet.enroll("gone")
        #expect(try await store.revokeDevice(id: gone, at: t0))

        let fresh = try await store.expectedPolicyInputs(all: false)
        #expect(fresh.map(\.deviceId) == [ada, kiosk].sorted())
        #expect(
            fresh.first { $0.deviceId == ada }
                == ExpectedPolicyInputs(deviceId: ada, keyId: "key-\(ada)", personId: "p1", group: "office", ownership: .company, expected: nil))
        #expect(fresh.first { $0.deviceId == kiosk }?.ownership == .personal)

        let strict = ExpectedPolicy(hash: "sha256:a", requiresDiskEncryption: true, maxUpdateAgeDays: 7)
        try await fleet.expect(ada, strict)
        try await fleet.expect(kiosk, ExpectedPolicy(hash: "sha256:k"))
        #expect(try await store.expectedPolicyInputs(all: false).isEmpty)
        #expect(
            try await store.expectedPolicyInputs(all: true).map(\.expected)
                == [ada, kiosk].sorted().map { $0 == ada ? strict : ExpectedPolicy(hash: "sha256:k") })

        // Written from inputs read before the stored one changed: refused.
        try await fleet.expect(ada, ExpectedPolicy(hash: "sha256:stale"), previous: nil)
        #expect(try await store.expectedPolicyInputs(all: true).first { $0.deviceId == ada }?.expected == strict)

        let renamed = Person(id: "p1", email: "ada@example.org", displayName: "Ada L.", groups: ["staff"], createdAt: t0)
        #expect(try await store.updatePerson(renamed))
        #expect(try await store.expectedPolicyInputs(all: false).isEmpty, "a new name changes no policy")
        var regrouped = renamed
        regrouped.groups = ["staff", "on-call"]
        #expect(try await store.updatePerson(regrouped))
        #expect(try await store.expectedPolicyInputs(all: false).map(\.deviceId) == [ada])
        try await fleet.expect(ada, strict)
        let newcomer = try await fleet.enroll("new-pc")
        #expect(try await store.expectedPolicyInputs(all: false).map(\.deviceId) == [newcomer])
    }

    @Test("the dashboard counts every device by state, and the active ones by ownership and by compliance at the time asked", arguments: Backend.all)
    func counts(backend: Backend) async throws {
        let store = try await backend.make()
        var fleet = FleetBuilder(store: store)
        let never = try await fleet.enroll("never")
        try await fleet.expect(never, ExpectedPolicy(hash: "sha256:p"))
        let compliant = try await fleet.enroll("compliant", ownership: .personal)
        try await fleet.expect(compliant, ExpectedPolicy(hash: "sha256:p"))
        try await fleet.checkin(compliant, applied: "sha256:p")
        let outdated = try await fleet.enroll("outdated")
        try await fleet.expect(outdated, ExpectedPolicy(hash: "sha256:p"))
        try await fleet.checkin(outdated, applied: "sha256:old")
        let violating = try await fleet.enroll("violating")
        try await fleet.expect(violating, ExpectedPolicy(hash: "sha256:p"))
        try await fleet.checkin(violating, applied: "sha256:old", violations: 2)
        let unencrypted = try await fleet.enroll("unencrypted", posture: posture(.notEncrypted, updated: t0))
        try await fleet.expect(unencrypted, ExpectedPolicy(hash: "sha256:p", requiresDiskEncryption: true))
        try await fleet.checkin(unencrypted, applied: "sha256:p")
        // Updated three days before t0, at most seven days allowed: compliant for four more days.
        let aging = try await fleet.enroll("aging", ownership: .personal, posture: posture(.encrypted, updated: t0 - 3 * 86_400))
        try await fleet.expect(aging, ExpectedPolicy(hash: "sha256:p", requiresDiskEncryption: true, maxUpdateAgeDays: 7))
        try await fleet.checkin(aging, applied: "sha256:p")
        let unknown = try await fleet.enroll("not-computed-yet")
        try await fleet.checkin(unknown, applied: "sha256:whatever")
        let revoked = try await fleet.enroll("revoked")
        #expect(try await store.revokeDevice(id: revoked, at: t0))
        let wiped = try await fleet.enroll("wiped")
        try await fleet.checkin(wiped, applied: "sha256:p")
        let receipt = StoredReceipt(
            id: "r1", deviceId: wiped, commandId: nil, trigger: "command", receivedAt: t0 + 7200, signed: SignedReceipt(payload: "{}", signature: "s"))
        #expect(try await store.recordReceipt(receipt, revoke: false))

        let now = try await store.fleetCounts(now: t0 + 3600)
        #expect(now.states == ["active": 7, "revoked": 1, "wiped": 1])
        #expect(now.total == 9)
        #expect(now.active == 8)
        #expect(now.ownership == [.company: 6, .personal: 2])
        #expect(now.compliance == [.never: 1, .compliant: 4, .outdated: 1, .violations: 1, .posture: 1])
        let later = try await store.fleetCounts(now: t0 + 5 * 86_400)
        #expect(later.compliance == [.never: 1, .compliant: 3, .outdated: 1, .violations: 1, .posture: 2])

        // A new expected policy, a new report: the counts follow at once.
        try await fleet.expect(compliant, ExpectedPolicy(hash: "sha256:q"), previous: "sha256:p")
        try await fleet.checkin(violating, at: t0 + 3700, violations: 0)
        #expect(try await store.fleetCounts(now: t0 + 3600).compliance == [.never: 1, .compliant: 3, .outdated: 3, .posture: 1])
    }

    @Test("the offline list: active devices silent since before a time, the longest silent first, and how many there are", arguments: Backend.all)
    func offline(backend: Backend) async throws {
        let store = try await backend.make()
        var fleet = FleetBuilder(store: store)
        try await store.insertPerson(Person(id: "p1", email: "ada@example.org", displayName: "Ada", groups: [], createdAt: t0))
        let neverSeen = try await fleet.enroll("never-seen", person: "p1")
        let old = try await fleet.enroll("old")
        try await fleet.checkin(old, at: t0 + 10)
        let older = try await fleet.enroll("older")
        try await fleet.checkin(older, at: t0 + 5)
        let recent = try await fleet.enroll("recent")
        try await fleet.checkin(recent, at: t0 + 10 * 86_400)
        let revoked = try await fleet.enroll("revoked")
        #expect(try await store.revokeDevice(id: revoked, at: t0))

        let (rows, total) = try await store.offlineDevices(seenBefore: t0 + 86_400, limit: 2)
        #expect(total == 3)
        #expect(rows.map(\.summary.id) == [neverSeen, older])
        #expect(rows.first?.personEmail == "ada@example.org")
        #expect(rows.first?.personName == "Ada")
        #expect(rows.map(\.summary.hostname) == ["never-seen", "older"])
        #expect(try await store.offlineDevices(seenBefore: t0, limit: 20).total == 0)
    }
}

extension FleetConformanceTests {
    @Test("the device list is searched, filtered, sorted both ways (ties by enrollment) and paged by the store", arguments: Backend.all)
    func page(backend: Backend) async throws {
        let store = try await backend.make()
        var fleet = FleetBuilder(store: store)
        try await store.insertPerson(Person(id: "p1", email: "ada@example.org", displayName: "Ada Lovelace", groups: [], createdAt: t0))
        try await store.insertPerson(Person(id: "p2", email: "BOB@Example.org", displayName: "Bob", groups: [], createdAt: t0))
        var d: [String] = []
        d.append(try await fleet.enroll("Zeta", person: "p2", group: "Sales"))
        d.append(try await fleet.enroll("alpha", person: "p1", ownership: .personal))
        d.append(try await fleet.enroll("Beta", group: "ops"))
        d.append(try await fleet.enroll("alpha"))
        d.append(try await fleet.enroll("gamma", person: "p1"))
        d.append(try await fleet.enroll("delta", person: "p2"))
        try await fleet.checkin(d[0], at: t0 + 100)
        try await fleet.checkin(d[1], at: t0 + 50)
        try await fleet.checkin(d[2], at: t0 + 100)
        #expect(try await store.revokeDevice(id: d[4], at: t0))
        let receipt = StoredReceipt(
            id: "r1", deviceId: d[5], commandId: nil, trigger: "command", receivedAt: t0 + 7200, signed: SignedReceipt(payload: "{}", signature: "s"))
        #expect(try await store.recordReceipt(receipt, revoke: false))

        func ids(_ query: FleetQuery) async throws -> [Int] {
            let (rows, total) = try await store.fleetPage(query, now: t0 + 3600)
            #expect(total == rows.count || query.limit < total, "the total counts every match")
            return rows.map { row in d.firstIndex(of: row.summary.id) ?? -1 }
        }
        #expect(try await ids(FleetQuery()) == [1, 3, 2, 5, 4, 0])
        #expect(try await ids(FleetQuery(descending: true)) == [0, 4, 5, 2, 1, 3])
        #expect(try await ids(FleetQuery(sort: .person)) == [1, 4, 0, 5, 2, 3])
        #expect(try await ids(FleetQuery(sort: .person, descending: true)) == [2, 3, 0, 5, 1, 4])
        #expect(try await ids(FleetQuery(sort: .lastSeen)) == [3, 4, 5, 1, 0, 2])
        #expect(try await ids(FleetQuery(sort: .lastSeen, descending: true)) == [0, 2, 1, 3, 4, 5])
        #expect(try await ids(FleetQuery(sort: .enrolled)) == [0, 1, 2, 3, 4, 5])
        #expect(try await ids(FleetQuery(sort: .enrolled, descending: true)) == [5, 4, 3, 2, 1, 0])

        #expect(try await ids(FleetQuery(search: "ALP")) == [1, 3])
        #expect(try await ids(FleetQuery(search: "ada@")) == [1, 4])
        #expect(try await ids(FleetQuery(search: "lovelace")) == [1, 4])
        #expect(try await ids(FleetQuery(search: "bob@example")) == [5, 0])
        #expect(try await ids(FleetQuery(search: "sales")) == [0])
        #expect(try await ids(FleetQuery(search: String(d[2].suffix(12)).uppercased())) == [2])
        #expect(try await ids(FleetQuery(search: "a\nb")).isEmpty)

        #expect(try await ids(FleetQuery(state: "active")) == [1, 3, 2, 0])
        #expect(try await ids(FleetQuery(state: "wiped")) == [5])
        #expect(try await ids(FleetQuery(state: "revoked")) == [4])
        #expect(try await ids(FleetQuery(state: "lost")) == [])
        #expect(try await ids(FleetQuery(ownership: .personal)) == [1])
        #expect(try await ids(FleetQuery(compliance: .never)) == [3, 5], "a wiped device whose status is still active is counted")
        #expect(try await ids(FleetQuery(compliance: .compliant)) == [1, 2, 0])
        #expect(try await ids(FleetQuery(search: "a", state: "active", sort: .person, descending: true)) == [2, 3, 0, 1])

        let (page, total) = try await store.fleetPage(FleetQuery(limit: 2, offset: 2), now: t0 + 3600)
        #expect(page.map(\.summary.hostname) == ["Beta", "delta"])
        #expect(total == 6)
        #expect(try await store.fleetPage(FleetQuery(limit: 2, offset: 6), now: t0 + 3600) == ([], 6))
        let (rows, _) = try await store.fleetPage(FleetQuery(search: "zeta"), now: t0 + 3600)
        #expect(rows.first?.personEmail == "BOB@Example.org")
        #expect(rows.first?.summary.group == "Sales")
        #expect(rows.first?.summary.lastSeen == t0 + 100)
    }
}

extension FleetConformanceTests {
    @Test("a search matching more devices than one pass reads still counts them all and pages to the last", arguments: Backend.all)
    func manyMatches(backend: Backend) async throws {
        let store = try await backend.make()
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(id: secret.id, personId: nil, group: nil, maxUses: 2_000, expiresAt: t0 + 86_400, createdAt: t0),
                secretHash: secret.secretHash))
        for i in 0..<1_050 {
            let id = IdentifierGenerator.uuidV7(now: t0 + Double(i))
            let facts = DeviceFacts(
                hostname: String(format: "pc-%04d", 1_049 - i), osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "m\(i)", agentVersion: "0.1.0"
            )
            _ = try await store.enroll(
                NewDevice(id: id, keyId: "key-\(id)", publicKey: "pk-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id, now: t0 + Double(i))
        }
        let last = try await store.fleetPage(FleetQuery(search: "PC-", limit: 50, offset: 1_000), now: t0)
        #expect(last.total == 1_050)
        #expect(last.rows.map(\.summary.hostname) == (1_000..<1_050).map { String(format: "pc-%04d", $0) })
        let first = try await store.fleetPage(FleetQuery(search: "pc-", sort: .enrolled, descending: true, limit: 3), now: t0)
        #expect(first.total == 1_050)
        #expect(first.rows.map(\.summary.hostname) == ["pc-0000", "pc-0001", "pc-0002"])
        #expect(try await store.fleetPage(FleetQuery(search: "pc-1", limit: 100), now: t0).total == 50)
    }
}

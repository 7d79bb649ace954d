import Foundation
import KontorCore
import KontorStore
import Testing

@testable import KontorServer

/// The console's fleet pages as they were computed before issue 22 — every device read, every policy
/// merged, then filtered, sorted and paged in Swift — kept here as the reference the SQL must match.
private struct LegacyFleet {
    let devices: [FleetDevice]
    let names: [String: Person]
    let now: Date

    init(_ harness: Harness) async throws {
        let store = harness.store
        now = harness.clock.now
        names = Dictionary(uniqueKeysWithValues: try await store.persons().map { ($0.id, $0) })
        var devices: [FleetDevice] = []
        for summary in try await store.deviceSummaries() {
            guard summary.status == .active, let device = try await store.device(id: summary.id) else {
                devices.append(FleetDevice(summary: summary, effectivePolicyHash: nil))
                continue
            }
            // Merged for each device on its own: no grouping of devices to trust.
            let policy = try await harness.services.policies.effectivePolicy(for: device)
            devices.append(
                FleetDevice(
                    summary: summary, effectivePolicyHash: policy.canonicalHash,
                    postureFailures: PostureCompliance.failures(policy.posture, summary.posture, now: now)))
        }
        self.devices = devices
    }

    /// The old `ConsolePages.filter`, sort and `ConsoleFormat.paginate`.
    func list(_ q: String, _ state: String, _ compliance: FleetCompliance?, _ ownership: Ownership?, sort: String, descending: Bool, page: Int)
        -> (ids: [String], count: Int, page: Int, pages: Int)
    {
        var list = devices
        if !q.isEmpty {
            let needle = q.lowercased()
            list = list.filter { entry in
                let d = entry.summary
                return [d.hostname, d.id, d.group ?? "", names[d.personId ?? ""]?.email ?? "", names[d.personId ?? ""]?.displayName ?? ""]
                    .contains { $0.lowercased().contains(needle) }
            }
        }
        if !state.isEmpty { list = list.filter { ConsoleFormat.state($0).key == state } }
        if let compliance { list = list.filter { $0.summary.status == .active && ConsoleFormat.compliance($0) == compliance } }
        if let ownership { list = list.filter { $0.summary.ownership == ownership } }
        func key(_ d: DeviceSummary) -> String {
            switch sort {
            case "person": names[d.personId ?? ""]?.email.lowercased() ?? "~"
            case "lastSeen": String(format: "%020.3f", d.lastSeen?.timeIntervalSince1970 ?? 0)
            case "enrolled": String(format: "%020.3f", d.enrolledAt.timeIntervalSince1970)
            default: d.hostname.lowercased()
            }
        }
        list = list.map { (key: key($0.summary), entry: $0) }.sorted { descending ? $0.key > $1.key : $0.key < $1.key }.map(\.entry)
        let paged = ConsoleFormat.paginate(list, page: page, size: ConsolePages.pageSize)
        return (paged.items.map(\.summary.id), list.count, paged.page, paged.pages)
    }

    /// The old dashboard's numbers and its offline list.
    func dashboard(offlineDays: Int) -> (counts: FleetCounts, offline: [String], offlineCount: Int) {
        let active = devices.filter { $0.summary.status == .active }
        var counts = FleetCounts()
        for d in devices { counts.states[ConsoleFormat.state(d).key, default: 0] += 1 }
        for d in active {
            counts.compliance[ConsoleFormat.compliance(d), default: 0] += 1
            counts.ownership[d.summary.ownership, default: 0] += 1
        }
        let offline = active.filter { now.timeIntervalSince($0.summary.lastSeen ?? $0.summary.enrolledAt) > Double(offlineDays) * 86_400 }
            .sorted { ($0.summary.lastSeen ?? $0.summary.enrolledAt) < ($1.summary.lastSeen ?? $1.summary.enrolledAt) }
        return (counts, offline.prefix(20).map(\.summary.id), offline.count)
    }
}

/// A generated fleet of every kind the pages tell apart: persons (whose email names their container),
/// groups, both ownerships, a device assignment, posture that passes, fails and ages, violations, devices
/// that run their policy and ones that do not, never seen, revoked, replaced and wiped ones.
private enum GeneratedFleet {
    static let profiles = [
        ("base", "name: base\ncontainer:\n  accountPattern: work-{localpart}\nposture:\n  maxUpdateAgeDays: 14\n"),
        ("ops", "name: ops\nposture:\n  requireDiskEncryption: true\n"),
        ("byod", "name: byod\ncheckinInterval: 600\n"),
        ("special", "name: special\ncheckinInterval: 30\n"),
        (
            "night",
            "name: night\nquietHours:\n  timeZone: Europe/Berlin\n  weekly:\n    monday: [\"18:00-24:00\"]\n  exemptions:\n    - groups: [\"night\"]\n      from: \"2027-01-01\"\n      until: \"2027-01-02\"\n"
        ),
    ]

    static func build(_ harness: Harness, devices count: Int = 72) async throws -> [String] {
        let store = harness.store
        let services = harness.services
        for (_, source) in profiles { _ = try await services.policies.apply(source: source, dryRun: false, by: "test") }
        _ = try await services.policies.assign(profile: "base", scope: "default", target: nil, by: "test")
        _ = try await services.policies.assign(profile: "ops", scope: "group", target: "ops", by: "test")
        _ = try await services.policies.assign(profile: "byod", scope: "ownership", target: "personal", by: "test")
        _ = try await services.policies.assign(profile: "night", scope: "group", target: "sales", by: "test")
        let persons = ["Ada Lovelace", "Bob Builder", "Clara Schumann", "Dörte Öztürk"]
        for (i, name) in persons.enumerated() {
            let email = "\(name.split(separator: " ")[0].lowercased())@example.org"
            try await store.insertPerson(
                Person(id: "p\(i)", email: i == 1 ? email.uppercased() : email, displayName: name, groups: [], createdAt: harness.clock.now))
        }
        var ids: [String] = []
        for i in 0..<count { ids.append(try await enroll(harness, i)) }
        _ = try await services.policies.assign(profile: "special", scope: "device", target: ids[7], by: "test")
        return ids
    }

    static func enroll(_ harness: Harness, _ i: Int) async throws -> String {
        let store = harness.store
        let now = harness.clock.now
        let secret = IssuedSecret.generate(.enrollmentToken)
        let person = i % 5 == 4 ? nil : "p\(i % 4)"
        let group = [nil, "ops", "sales"][i % 3]
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(
                    id: secret.id, personId: person, group: group, maxUses: 1, expiresAt: now + 86_400, createdAt: now,
                    ownership: i % 4 == 1 ? .personal : .company),
                secretHash: secret.secretHash))
        let updated = now - Double(i % 30) * 86_400
        let disk: [DiskEncryptionState?] = [.encrypted, .notEncrypted, nil, .unknown, .encrypted]
        let posture = disk[i % 5].map {
            DevicePosture(
                diskEncryption: DiskEncryption($0), secureBoot: SecureBoot(.enabled), updates: UpdatePosture(lastUpgradeAt: updated),
                unitHardening: UnitHardening())
        }
        let id = IdentifierGenerator.uuidV7(now: now + Double(i))
        // Duplicate names, and names that differ only in case, sort by enrollment among themselves.
        let hostname = i % 7 == 0 ? "shared" : (i % 2 == 0 ? "PC-\(i)" : "pc-\(i)")
        let facts = DeviceFacts(
            hostname: hostname, osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: i == 71 ? "m-67" : "m-\(i)", agentVersion: "0.1.0",
            posture: posture)
        let device = try await store.enroll(
            NewDevice(id: id, keyId: "key-\(id)", publicKey: "pk-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id,
            now: now + Double(i))
        try await checkIn(harness, device, i)
        return device.id
    }

    static func checkIn(_ harness: Harness, _ device: Device, _ i: Int) async throws {
        let store = harness.store
        guard i % 6 != 0 else { return }  // never seen
        let expected = try await harness.services.policies.effectivePolicy(for: device).canonicalHash
        let at = harness.clock.now - Double(i % 11) * 86_400 + Double(i)
        let violations = i % 8 == 3 ? [AppViolation(executable: "/usr/bin/steam", pid: 1, action: "reported", at: at)] : []
        try await store.recordCheckins([
            CheckinRecord(
                deviceId: device.id, at: at, appliedPolicyHash: i % 3 == 2 ? "sha256:old" : expected, status: AgentReport(state: "ok"), facts: nil,
                compliance: ComplianceReport(violations: violations))
        ])
        if i % 13 == 5 { _ = try await store.revokeDevice(id: device.id, at: harness.clock.now) }
        if i % 17 == 8 {
            let receipt = StoredReceipt(
                id: "r\(i)", deviceId: device.id, commandId: nil, trigger: "command", receivedAt: harness.clock.now,
                signed: SignedReceipt(payload: "{}", signature: "s"))
            _ = try await store.recordReceipt(receipt, revoke: i % 2 == 0)
        }
    }
}

@Suite("Console fleet pages, counted and paged by the store")
struct ConsoleFleetTests {
    typealias Case = (q: String, state: String, compliance: FleetCompliance?, ownership: Ownership?, sort: String, descending: Bool, page: Int)

    /// Every sort both ways and several pages; each search and filter alone; some together.
    static func cases(ids: [String]) -> [Case] {
        var cases: [Case] = []
        for sort in ["hostname", "person", "lastSeen", "enrolled"] {
            for descending in [false, true] { for page in [1, 2, 5] { cases.append(("", "", nil, nil, sort, descending, page)) } }
        }
        for q in ["pc-1", "SHARED", "ops", "example.org", "Öztürk", "bob@", String(ids[9].suffix(10)), "nothing-matches"] {
            cases.append((q, "", nil, nil, "hostname", false, 1))
        }
        for state in ["active", "wiped", "revoked", "replaced", "lost"] { cases.append(("", state, nil, nil, "person", true, 1)) }
        for compliance in FleetCompliance.allCases {
            cases.append(("", "", compliance, nil, "lastSeen", false, 1))
            cases.append(("", "", compliance, .personal, "hostname", true, 1))
        }
        cases.append(("a", "active", .compliant, .company, "enrolled", true, 1))
        cases.append(("pc", "", nil, .company, "person", false, 2))
        return cases
    }

    /// The device list and the dashboard as the store now answers them equal what the in-Swift pages answered.
    static func expectSameAsLegacy(_ harness: Harness, _ cases: [Case], _ comment: String) async throws {
        let fleet = harness.services.fleet
        _ = try await fleet.overview(offlineDays: 7)  // writes pending check-ins before the reference reads the store
        let legacy = try await LegacyFleet(harness)
        for c in cases {
            let old = legacy.list(c.q, c.state, c.compliance, c.ownership, sort: c.sort, descending: c.descending, page: c.page)
            let new = try await fleet.page(
                FleetQuery(
                    search: c.q, state: c.state.isEmpty ? nil : c.state, compliance: c.compliance, ownership: c.ownership,
                    sort: FleetQuery.Sort(rawValue: c.sort)!, descending: c.descending, limit: ConsolePages.pageSize),
                page: c.page)
            #expect(new.entries.map(\.device.summary.id) == old.ids, "\(comment): \(c)")
            #expect([new.total, new.page, new.pages] as [Int] == [old.count, old.page, old.pages], "\(comment): \(c)")
            for entry in new.entries {
                let before = legacy.devices.first { $0.summary.id == entry.device.summary.id }
                #expect(entry.device == before, "\(comment): the row of \(entry.device.summary.hostname)")
            }
        }
        let overview = try await fleet.overview(offlineDays: 7)
        let old = legacy.dashboard(offlineDays: 7)
        #expect(overview.counts == old.counts, "\(comment)")
        #expect(overview.offline.map(\.device.summary.id) == old.offline, "\(comment)")
        #expect(overview.offlineTotal == old.offlineCount, "\(comment)")
    }

    @Test("the device list and the dashboard show what the in-Swift pages showed, on a generated fleet of every kind of device")
    func sameAsBefore() async throws {
        let harness = try await Harness()
        let ids = try await GeneratedFleet.build(harness)
        harness.clock.advance(3600)
        let legacy = try await LegacyFleet(harness)
        #expect(Set(legacy.devices.map { ConsoleFormat.compliance($0) }) == Set(FleetCompliance.allCases), "the fleet holds every compliance")
        #expect(Set(legacy.devices.map { ConsoleFormat.state($0).key }) == ["active", "wiped", "revoked", "replaced"])
        try await Self.expectSameAsLegacy(harness, Self.cases(ids: ids), "generated fleet")
        // Days later, other devices are offline and fail the update age.
        harness.clock.advance(9 * 86_400)
        try await Self.expectSameAsLegacy(harness, Self.cases(ids: ids), "nine days later")
    }

    @Test("a profile change, a person's new group and a check-in not yet written show on the next page")
    func changesShowAtOnce() async throws {
        let harness = try await Harness()
        let ids = try await GeneratedFleet.build(harness)
        let services = harness.services
        let cases = Self.cases(ids: ids).filter { $0.q.isEmpty && $0.state.isEmpty }
        let before = try await services.fleet.overview(offlineDays: 7).counts.compliance[.outdated] ?? 0

        _ = try await services.policies.apply(source: "name: base\ncontainer:\n  accountPattern: work-z-{localpart}\n", dryRun: false, by: "test")
        let after = try await services.fleet.overview(offlineDays: 7).counts.compliance[.outdated] ?? 0
        #expect(after > before, "every device that ran the old default profile waits for the new one")
        try await Self.expectSameAsLegacy(harness, cases, "after a profile change")

        // Clara's devices in the sales group get her exemptions.
        let admin = Principal.token(APIToken(id: "t1", name: "test", role: .admin, createdAt: harness.clock.now))
        _ = try await services.updatePerson("p2", DirectoryService.PersonChange(groups: ["night"]), by: admin)
        try await Self.expectSameAsLegacy(harness, cases, "after a person's groups changed")

        // A device reports the new policy; the check-in waits in the recorder, unwritten.
        let device = try #require(try await harness.store.device(id: ids[2]))
        let hash = try await services.policies.effectivePolicy(for: device).canonicalHash
        await services.recorder.record(
            CheckinRecord(deviceId: device.id, at: harness.clock.now, appliedPolicyHash: hash, status: nil, facts: nil, compliance: nil), changed: true)
        let page = try await services.fleet.page(FleetQuery(search: device.id), page: 1)
        #expect(page.entries.first.map { ConsoleFormat.compliance($0.device) } == .compliant)
        try await Self.expectSameAsLegacy(harness, cases, "after a check-in")
    }
}

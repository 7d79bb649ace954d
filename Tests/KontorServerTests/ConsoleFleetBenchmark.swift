import Foundation
import KontorCore
import KontorSQLite
import KontorStore
import Testing

@testable import KontorServer

/// The console's fleet pages at 110,000 devices (docs/benchmarks.md, issue 22). Skipped unless
/// `KONTOR_CONSOLE_BENCH_STORE` names a SQLite file: a missing one is filled first, through the store
/// (not by HTTP enrollment): `KONTOR_CONSOLE_BENCH_DEVICES` devices (110,000), a quarter of them personal,
/// most with a person (27,500 persons) and a group, posture as agents report it, a default profile with
/// a container and an update-age requirement, and check-ins of which nine in ten run the expected policy;
/// with `KONTOR_CONSOLE_BENCH_SHAPE=bench`, kontor-bench's shape instead (no persons, no container).
/// Then the pages are timed in-process through the router. The file then serves as a data directory's
/// `kontor.sqlite` for timing a release server over HTTP.
@Suite("Console fleet benchmark", .enabled(if: ProcessInfo.processInfo.environment["KONTOR_CONSOLE_BENCH_STORE"] != nil))
struct ConsoleFleetBenchmark {
    @Test("the dashboard and the device list at the size of the benchmark fleet")
    func pages() async throws {
        let env = ProcessInfo.processInfo.environment
        let path = try #require(env["KONTOR_CONSOLE_BENCH_STORE"])
        let count = env["KONTOR_CONSOLE_BENCH_DEVICES"].flatMap { Int($0) } ?? 110_000
        let fresh = !FileManager.default.fileExists(atPath: path)
        let clock = TestClock(Date())
        let harness = try await Harness(store: try SQLiteStore(path: path), clock: clock)
        if fresh { try await BenchFleet.fill(harness, devices: count, persons: env["KONTOR_CONSOLE_BENCH_SHAPE"] != "bench") }
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            for path in [
                "/console", "/console/devices", "/console/devices?page=1000", "/console/devices?sort=person&dir=desc",
                "/console/devices?compliance=outdated", "/console/devices?ownership=personal&sort=lastSeen", "/console/devices?q=host-0123",
            ] {
                var times: [Double] = []
                for _ in 0..<5 {
                    let start = ContinuousClock.now
                    let response = try await browser.get(path)
                    let took = (ContinuousClock.now - start).components
                    times.append(Double(took.seconds) * 1_000 + Double(took.attoseconds) / 1e15)
                    #expect(response.status == .ok)
                }
                let first = times[0]
                times.sort()
                print(
                    "console bench: \(path): first \(String(format: "%.1f", first)) ms, min \(String(format: "%.1f", times[0])) ms, median \(String(format: "%.1f", times[2])) ms"
                )
            }
        }
    }
}

/// Fills a store with a fleet like the benchmark's, through the store's own methods.
enum BenchFleet {
    /// `persons` false: the shape of kontor-bench's fleet (docs/benchmarks.md) — no persons, groups or personal
    /// devices, one default profile without a container.
    static func fill(_ harness: Harness, devices count: Int, persons withPersons: Bool = true) async throws {
        let store = harness.store
        let services = harness.services
        let now = harness.clock.now
        let persons = (0..<(withPersons ? count / 4 : 0)).map { i in
            Person(id: "person-\(i)", email: "person\(i)@example.org", displayName: "Person \(i)", groups: i % 10 == 0 ? ["on-call"] : [], createdAt: now)
        }
        try await store.importPersons(inserts: persons, updates: [])
        let source =
            withPersons
            ? "name: fleet\ncontainer:\n  accountPattern: work-{localpart}\nposture:\n  maxUpdateAgeDays: 30\n" : "name: fleet\ncheckinInterval: 60\n"
        _ = try await services.policies.apply(source: source, dryRun: false, by: "bench")
        _ = try await services.policies.assign(profile: "fleet", scope: "default", target: nil, by: "bench")
        var tokens: [String: String] = [:]
        var records: [CheckinRecord] = []
        for i in 0..<count {
            let person = i % 5 == 4 || persons.isEmpty ? nil : "person-\(i % persons.count)"
            let group = withPersons ? [nil, "ops", "sales"][i % 3] : nil
            let ownership: Ownership = withPersons && i % 4 == 1 ? .personal : .company
            let key = "\(person ?? "-")|\(group ?? "-")|\(ownership)"
            if tokens[key] == nil { tokens[key] = try await token(store, person: person, group: group, ownership: ownership, now: now) }
            let device = try await store.enroll(newDevice(i, now: now), tokenId: tokens[key]!, now: now - Double(count - i))
            guard i % 50 != 0 else { continue }  // never seen
            let hash = i % 10 == 3 ? "sha256:old" : try await services.policies.effectivePolicy(for: device).canonicalHash
            let violations = i % 40 == 7 ? [AppViolation(executable: "/usr/bin/steam", pid: 1, action: "reported", at: now)] : []
            records.append(
                CheckinRecord(
                    deviceId: device.id, at: now - Double(i % 20) * 86_400 - Double(i % 3600), appliedPolicyHash: hash, status: AgentReport(state: "ok"),
                    facts: nil, compliance: ComplianceReport(violations: violations)))
            if records.count == 2_000 {
                try await store.recordCheckins(records)
                records = []
            }
        }
        try await store.recordCheckins(records)
    }

    static func token(_ store: any KontorStore, person: String?, group: String?, ownership: Ownership, now: Date) async throws -> String {
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(
                    id: secret.id, personId: person, group: group, maxUses: 1_000_000, expiresAt: now + 86_400, createdAt: now - 365 * 86_400,
                    ownership: ownership),
                secretHash: secret.secretHash))
        return secret.id
    }

    static func newDevice(_ i: Int, now: Date) -> NewDevice {
        let id = IdentifierGenerator.uuidV7(now: now - Double(i))
        let updated = now - Double(i % 45) * 86_400
        let posture = DevicePosture(
            diskEncryption: DiskEncryption(i % 9 == 0 ? .notEncrypted : .encrypted, "LUKS2 on dm-0"), secureBoot: SecureBoot(.enabled),
            updates: UpdatePosture(listsUpdatedAt: updated, lastUpgradeAt: updated - 86_400, securityUpdates: 0, rebootRequired: false),
            unitHardening: UnitHardening(exposure: 2.1, rating: "OK"))
        let facts = DeviceFacts(
            hostname: String(format: "host-%06d", i), osRelease: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0-18-amd64",
            machineIdHash: "machine-\(i)", agentVersion: "0.1.0", posture: posture)
        return NewDevice(id: id, keyId: "key-\(id)", publicKey: "pk-\(id)", facts: facts, acceptedTermsVersion: nil)
    }
}

import Foundation
import KontorCore
import KontorStore
import PostgresNIO
import Testing

@testable import KontorPostgres

private let postgresURL = ProcessInfo.processInfo.environment["KONTOR_TEST_POSTGRES_URL"] ?? ""

@Suite("PostgreSQL: the fleet columns of rows stored before v16", .enabled(if: !postgresURL.isEmpty, "needs KONTOR_TEST_POSTGRES_URL"))
struct PostgresFleetMigrationTests {
    @Test("v16 derives the sort keys, search text and compliance of the devices already stored")
    func fill() async throws {
        let store = try await TestPostgres.store(url: postgresURL)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        try await store.insertPerson(Person(id: "p1", email: "Ada@Example.org", displayName: "Ada", groups: [], createdAt: t0))
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(id: secret.id, personId: "p1", group: "Ops", maxUses: 1, expiresAt: t0 + 3600, createdAt: t0),
                secretHash: secret.secretHash))
        let facts = DeviceFacts(hostname: "Ada-PC", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "m1", agentVersion: "0.1.0")
        let device = try await store.enroll(
            NewDevice(id: "d1", keyId: "k1", publicKey: "pk1", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id, now: t0)
        try await store.recordCheckins([
            CheckinRecord(
                deviceId: device.id, at: t0 + 60, appliedPolicyHash: nil, status: nil, facts: nil,
                compliance: ComplianceReport(violations: [AppViolation(executable: "/usr/bin/x", pid: 1, action: "reported", at: t0)]))
        ])
        // As a database from before v16 holds them: nothing derived yet (no trigger watches these columns).
        try await store.run("UPDATE devices SET hostname_key = '', person_key = '~', search_text = '', fleet_compliance = 'never'")
        #expect(try await store.fleetPage(FleetQuery(search: "ada-pc"), now: t0).total == 0)
        for statement in PostgresMigrations.fleetFill { try await store.run(PostgresQuery(unsafeSQL: statement)) }
        let derived = try await store.row("SELECT hostname_key, person_key, search_text, fleet_compliance FROM devices") {
            [try $0.get("hostname_key", as: String.self), try $0.get("person_key"), try $0.get("search_text"), try $0.get("fleet_compliance")]
        }
        #expect(derived == ["ada-pc", "ada@example.org", "ada-pc\nd1\nops", "violations"])
        #expect(try await store.fleetPage(FleetQuery(search: "ada-pc"), now: t0).total == 1)
    }
}

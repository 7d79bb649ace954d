import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

@Suite("Store conformance: listings")
struct ListingConformanceTests {
    @Test("device summaries say what the full records say (the posture compliance needs too), in enrollment order", arguments: Backend.all)
    func deviceSummaries(backend: Backend) async throws {
        let store = try await backend.make()
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(id: secret.id, personId: nil, group: "workshop", maxUses: 5, expiresAt: t0 + 3600, createdAt: t0),
                secretHash: secret.secretHash))
        var ids: [String] = []
        for i in 0..<3 {
            let id = IdentifierGenerator.uuidV7(now: t0 + Double(i))
            let facts = DeviceFacts(hostname: "pc-\(i)", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "m\(i)", agentVersion: "0.\(i).0")
            ids.append(
                try await store.enroll(
                    NewDevice(id: id, keyId: "key-\(id)", publicKey: "pk-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id,
                    now: t0 + Double(i)
                ).id)
        }
        let violations = [
            AppViolation(executable: "/usr/bin/steam", pid: 42, action: "reported", at: t0),
            AppViolation(executable: "/usr/bin/x", pid: 7, action: "terminated", at: t0),
        ]
        var reported = DeviceFacts(hostname: "pc-0", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "m0", agentVersion: "0.0.0")
        reported.posture = DevicePosture(
            diskEncryption: DiskEncryption(.notEncrypted, "sda2 is not dm-crypt"), secureBoot: SecureBoot(.enabled),
            updates: UpdatePosture(listsUpdatedAt: t0 - 86_400, lastUpgradeAt: t0 - 3 * 86_400), unitHardening: UnitHardening(exposure: 4.9, rating: "OK"))
        try await store.recordCheckins([
            CheckinRecord(
                deviceId: ids[0], at: t0 + 60, appliedPolicyHash: "sha256:a", status: AgentReport(state: "ok"), facts: reported,
                compliance: ComplianceReport(violations: violations)),
            CheckinRecord(deviceId: ids[1], at: t0 + 70, appliedPolicyHash: "sha256:b", status: nil, facts: nil, compliance: ComplianceReport(quiet: true)),
        ])
        #expect(try await store.revokeDevice(id: ids[2], at: t0 + 80))
        let full = try await store.devices(personId: nil)
        let summaries = try await store.deviceSummaries()
        #expect(summaries == full.map(DeviceSummary.init))
        #expect(summaries.map(\.violations) == [2, 0, 0])
        #expect(summaries.map(\.hostname) == ["pc-0", "pc-1", "pc-2"])
        #expect(summaries.map(\.status) == [.active, .active, .revoked])
        #expect(summaries.map(\.posture) == [PostureSummary(diskEncryption: .notEncrypted, updatedAt: t0 - 86_400), nil, nil])
    }

    @Test("the audit log is searched by actor, action prefix, target and time, newest first, a page at a time", arguments: Backend.all)
    func auditSearch(backend: Backend) async throws {
        let store = try await backend.make()
        for i in 0..<30 {
            let actor = i % 3 == 0 ? "token:Ada" : "device:d\(i % 2)"
            let action = i % 2 == 0 ? "command.wipe" : "device.enrolled"
            _ = try await store.appendAudit(at: t0 + Double(i), actor: actor, action: action, target: "d\(i % 2)", detail: nil)
        }
        let all = try await store.auditEntries(matching: AuditFilter(), limit: 10, offset: 0)
        #expect(all.total == 30)
        #expect(all.entries.map(\.seq) == Array((21...30).reversed()))
        let second = try await store.auditEntries(matching: AuditFilter(), limit: 10, offset: 25)
        #expect(second.entries.map(\.seq) == Array((1...5).reversed()))
        let ada = try await store.auditEntries(matching: AuditFilter(actor: "ada"), limit: 100, offset: 0)
        #expect(ada.total == 10)
        #expect(ada.entries.allSatisfy { $0.actor == "token:Ada" })
        let wipes = try await store.auditEntries(matching: AuditFilter(actionPrefix: "command."), limit: 100, offset: 0)
        #expect(wipes.total == 15)
        #expect(try await store.auditEntries(matching: AuditFilter(actionPrefix: "command.wipe%"), limit: 100, offset: 0).total == 0, "no wildcards")
        let combined = try await store.auditEntries(
            matching: AuditFilter(actor: "token:", actionPrefix: "command.", target: "d0", since: t0 + 10), limit: 100, offset: 0)
        // i % 6 == 0 (Ada, a wipe, target d0) and i >= 10: i = 12, 18, 24, sequence numbers i + 1.
        #expect(combined.entries.map(\.seq) == [25, 19, 13])
        #expect(combined.total == combined.entries.count)
    }

    @Test("check-ins from several instances in any order: time only moves forward, an older report never replaces a newer one", arguments: Backend.all)
    func checkinOrder(backend: Backend) async throws {
        let store = try await backend.make()
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(id: secret.id, personId: nil, group: nil, maxUses: 1, expiresAt: t0 + 3600, createdAt: t0), secretHash: secret.secretHash
            ))
        let id = IdentifierGenerator.uuidV7(now: t0)
        let facts = DeviceFacts(hostname: "pc", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "m", agentVersion: "0.1.0")
        _ = try await store.enroll(
            NewDevice(id: id, keyId: "key-\(id)", publicKey: "pk-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id, now: t0)
        try await store.recordCheckins([
            CheckinRecord(deviceId: id, at: t0 + 120, appliedPolicyHash: "sha256:new", status: AgentReport(state: "ok"), facts: nil)
        ])
        // Another instance flushes an older check-in later.
        try await store.recordCheckins([
            CheckinRecord(deviceId: id, at: t0 + 60, appliedPolicyHash: "sha256:old", status: AgentReport(state: "degraded"), facts: nil)
        ])
        let device = try #require(try await store.device(id: id))
        #expect(device.lastSeen == t0 + 120)
        #expect(device.appliedPolicyHash == "sha256:new")
        #expect(device.agentStatus?.state == "ok")
        try await store.recordCheckins([CheckinRecord(deviceId: id, at: t0 + 180, appliedPolicyHash: nil, status: AgentReport(state: "degraded"), facts: nil)])
        #expect(try await store.device(id: id)?.agentStatus?.state == "degraded")
        #expect(try await store.device(id: id)?.appliedPolicyHash == "sha256:new")
    }
}

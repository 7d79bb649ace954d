import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import KontorStore
import Synchronization
import Testing

@testable import KontorServer

private let day: TimeInterval = 86_400

/// The retention entries of the audit log, oldest first.
private func retentionRuns(_ harness: Harness) async throws -> [AuditEntry] {
    try await harness.store.auditEntries(matching: AuditFilter(actionPrefix: "retention.run"), limit: 100, offset: 0).entries.reversed()
}

/// A world with old and new data of every kind retention deletes, on the harness's store; returns the device ID.
private func oldAndNewData(_ harness: Harness, _ client: any TestClientProtocol, admin: String) async throws -> String {
    let now = harness.clock.now
    let (_, response) = try await client.enroll(token: try await client.enrollToken(admin), at: now)
    let device = try response.decode(EnrollResponse.self).deviceId
    let old = (0..<5).map { DeviceEvent(at: now - 400 * day + TimeInterval($0), kind: "quiet.begin", id: "old-\($0)") }
    let new = (0..<2).map { DeviceEvent(at: now - 30 * day + TimeInterval($0), kind: "quiet.end", id: "new-\($0)") }
    try await harness.store.appendEvents(deviceId: device, old + new)
    for (expires, name) in [(now - 31 * day, "long"), (now - 2 * day, "recent")] {
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await harness.store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(id: secret.id, personId: nil, group: name, maxUses: 1, expiresAt: expires, createdAt: now - 60 * day),
                secretHash: secret.secretHash))
    }
    try await harness.store.recordNonces(["n1", "n2", "n3"], expiresAt: now.timeIntervalSince1970 - 10)
    try await harness.store.recordNonces(["live"], expiresAt: now.timeIntervalSince1970 + 300)
    return device
}

@Suite("Retention: settings, the run, its audit entry and its roles")
struct RetentionAPITests {
    @Test("the retention settings have their defaults, change field by field (audited) and refuse values out of range naming the field")
    func settings() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let auditor = try await harness.token(.auditor)
        try await harness.test { client async throws in
            let defaults = try await client.api(.get, "/api/v1/settings", token: auditor).decode(Settings.self)
            #expect(defaults.retention == RetentionSettings(eventsDays: 365, checkinReportsDays: 90, pseudonymiseAfterMonths: 24, enabled: true))

            let changed = try await client.api(.patch, "/api/v1/settings", token: admin, json: #"{"retention": {"eventsDays": 30, "enabled": false}}"#)
            #expect(changed.status == .ok)
            #expect(
                try changed.decode(Settings.self).retention
                    == RetentionSettings(eventsDays: 30, checkinReportsDays: 90, pseudonymiseAfterMonths: 24, enabled: false))
            let audited = try await harness.store.auditEntries(matching: AuditFilter(actionPrefix: "settings.changed"), limit: 10, offset: 0).entries
            #expect(Set(audited.compactMap(\.target)) == ["retention.eventsDays", "retention.enabled"])
            #expect(audited.first { $0.target == "retention.eventsDays" }?.detail == ["value": "30"])
            #expect(audited.allSatisfy { $0.actor == "token:test-admin (automation)" })

            let refusals = [
                (#"{"retention": {"eventsDays": 0}}"#, "retention.eventsDays: expected 1 to 3650 days, found 0"),
                (#"{"retention": {"checkinReportsDays": 3651}}"#, "retention.checkinReportsDays: expected 1 to 3650 days, found 3651"),
                (#"{"retention": {"pseudonymiseAfterMonths": 0}}"#, "retention.pseudonymiseAfterMonths: expected 1 to 120 months, found 0"),
                (
                    #"{"checkinInterval": 120, "retention": {"eventsDays": 10, "pseudonymiseAfterMonths": 121}}"#,
                    "retention.pseudonymiseAfterMonths: expected 1 to 120 months, found 121"
                ),
            ]
            for (body, message) in refusals {
                let refused = try await client.api(.patch, "/api/v1/settings", token: admin, json: body)
                #expect(refused.status == .badRequest && refused.errorMessage == message, "\(body)")
            }
            let after = try await client.api(.get, "/api/v1/settings", token: admin).decode(Settings.self)
            #expect(after.retention?.eventsDays == 30 && after.checkinInterval == defaults.checkinInterval, "a refused change writes nothing")
            let wrongType = try await client.api(.patch, "/api/v1/settings", token: admin, json: #"{"retention": {"enabled": "yes"}}"#)
            #expect(wrongType.status == .badRequest)
        }
    }

    @Test("operators and auditors can neither change the retention settings nor run retention")
    func roles() async throws {
        let harness = try await Harness()
        for role in [Role.operator, .auditor] {
            let token = try await harness.token(role)
            try await harness.test { client async throws in
                #expect(try await client.api(.patch, "/api/v1/settings", token: token, json: #"{"retention": {"eventsDays": 1}}"#).status == .forbidden)
                #expect(try await client.api(.post, "/api/v1/retention/run", token: token).status == .forbidden)
            }
        }
        #expect(try await harness.services.retention.settings().eventsDays == 365)
        #expect(try await retentionRuns(harness).isEmpty)
    }

    @Test("a run deletes events, spent tokens, expired console sessions and nonces past their limits, keeps newer ones, and is audited with its counts")
    func run() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let (_, stale) = try #require(try await harness.services.consoleSessions.signIn(apiToken: admin))
            harness.clock.advance(TimeInterval(harness.services.config.consoleIdleTimeout) + 1)
            let now = harness.clock.now
            let fresh = StoredConsoleSession(
                id: "fresh-session", secretHash: "hash", tokenId: stale.principal.credentialId, createdAt: now, lastSeenAt: now, expiresAt: now + 3600)
            try await harness.store.insertConsoleSession(fresh)
            let device = try await oldAndNewData(harness, client, admin: admin)
            #expect(try await harness.store.eventCount() == 7)
            #expect(try await harness.store.enrollmentTokens().count == 3)

            let response = try await client.api(.post, "/api/v1/retention/run", token: admin)
            #expect(response.status == .ok)
            let run = try response.decode(RetentionRun.self)
            #expect(run.events == 5 && run.enrollmentTokens == 1 && run.consoleSessions == 1 && run.nonces == 3)
            #expect(run.pseudonymisationDue.isEmpty)
            #expect(try await harness.store.eventCount() == 2)
            #expect(try await harness.store.events(deviceId: device, limit: 10).compactMap(\.id) == ["new-1", "new-0"])
            #expect(Set(try await harness.store.enrollmentTokens().compactMap(\.group)) == ["recent"], "the token of the device and the recent one stay")
            #expect(try await harness.store.enrollmentTokens().count == 2)
            #expect(try await harness.store.consoleSession(id: stale.id) == nil)
            #expect(try await harness.store.consoleSession(id: fresh.id) != nil)
            #expect(try await harness.store.liveNonces(at: 0).keys.sorted() == ["live"])

            let entry = try #require(try await retentionRuns(harness).last)
            #expect(entry.actor == "system:retention" && entry.target == nil)
            #expect(
                entry.detail == [
                    "events": "5", "enrollmentTokens": "1", "consoleSessions": "1", "nonces": "3", "pseudonymisationDue": "0", "pseudonymised": "0",
                    "requestedBy": "token:test-admin (automation)",
                ])
        }
    }

    @Test("persons offboarded longer ago than pseudonymiseAfterMonths are pseudonymised, once; the others are left as they are")
    func pseudonymisationDue() async throws {
        let harness = try await Harness()
        let now = harness.clock.now
        var ids: [String] = []
        for (name, completed) in [("ada", now - 800 * day), ("bob", now - 300 * day)] {
            let person = Person(id: IdentifierGenerator.uuidV7(now: completed), email: "\(name)@example.org", displayName: name, groups: [], createdAt: now)
            try await harness.store.insertPerson(person)
            try await harness.store.startOffboarding(
                Offboarding(personId: person.id, requestedAt: completed, requestedBy: "it", wipeAt: completed, restrictedProfile: nil, reason: nil),
                now: completed)
            try await harness.store.completeOffboarding(personId: person.id, at: completed)
            ids.append(person.id)
        }
        let first = try await harness.services.retention.run()
        #expect(first.pseudonymisationDue == [ids[0]] && first.pseudonymised == 1)
        #expect(try await harness.store.person(id: ids[0])?.email.hasSuffix("@erased.invalid") == true)
        #expect(try await harness.store.person(id: ids[1])?.email == "bob@example.org")
        #expect(try await retentionRuns(harness).count == 1, "a run that pseudonymised someone is audited")
        #expect(try await harness.store.auditEntries(since: nil, target: ids[0]).contains { $0.action == "person.pseudonymised" })
        #expect(try await harness.services.retention.run().pseudonymised == 0, "nobody twice")
        try await RetentionSettings(pseudonymiseAfterMonths: 6).apply(to: harness.store, audit: harness.services.audit, actor: "test")
        let second = try await harness.services.retention.run()
        #expect(second.pseudonymisationDue == ids && second.pseudonymised == 1)
        #expect(AuditChain.verify(try await harness.store.auditEntries(since: nil, target: nil)).ok)
    }

    @Test("a backlog larger than one batch is deleted in several batches, all of it")
    func batches() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let (_, response) = try await client.enroll(token: try await client.enrollToken(admin), at: harness.clock.now)
            let device = try response.decode(EnrollResponse.self).deviceId
            let old = (0..<25).map { DeviceEvent(at: harness.clock.now - 500 * day, kind: "app.violation", id: "e\($0)") }
            try await harness.store.appendEvents(deviceId: device, old + [DeviceEvent(at: harness.clock.now, kind: "quiet.end", id: "keep")])
            var retention = harness.services.retention
            retention.batchSize = 4
            #expect(try await retention.run().events == 25)
            #expect(try await harness.store.events(deviceId: device, limit: 100).compactMap(\.id) == ["keep"])
        }
    }

    @Test("the background run runs at start and every period, audits only runs that deleted something, and does nothing while disabled")
    func schedule() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            _ = try await oldAndNewData(harness, client, admin: admin)
            try await Self.runScheduler(harness, periods: 2)
            #expect(try await harness.store.eventCount() == 2)
            let runs = try await retentionRuns(harness)
            #expect(runs.count == 1, "the second run deleted nothing")
            #expect(runs.first?.detail?["events"] == "5" && runs.first?.detail?["requestedBy"] == nil)

            try await RetentionSettings(eventsDays: 1, enabled: false).apply(to: harness.store, audit: harness.services.audit, actor: "test")
            try await Self.runScheduler(harness, periods: 3)
            #expect(try await harness.store.eventCount() == 2, "disabled: nothing deleted")
            #expect(try await retentionRuns(harness).count == 1)
        }
    }

    /// Runs the scheduler until it has slept `periods` times (its injected sleep counts instead of waiting); each sleep is one hour.
    static func runScheduler(_ harness: Harness, periods: Int) async throws {
        let sleeps = Mutex<[Duration]>([])
        let scheduler = RetentionSchedulerService(
            retention: harness.services.retention, period: .seconds(3600), logger: .init(label: "test"),
            sleep: { period in
                let count = sleeps.withLock {
                    $0.append(period)
                    return $0.count
                }
                if count >= periods { throw CancellationError() }
            })
        try await scheduler.run()
        #expect(sleeps.withLock { $0 } == Array(repeating: .seconds(3600), count: periods))
    }
}

@Suite("Retention in the console")
struct RetentionConsoleTests {
    @Test("the settings page shows the retention settings to everyone; only an admin saves them (audited) or runs retention")
    func settingsPage() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let auditor = try await harness.token(.auditor)
        try await harness.test { client async throws in
            let reader = ConsoleBrowser(client)
            try await reader.signIn(auditor)
            let page = try await reader.get("/console/settings")
            #expect(page.status == .ok && page.text.contains("365 days") && !page.text.contains("retention-form"))
            #expect(try await reader.post("/console/settings/retention", [("eventsDays", "1"), ("enabled", "true")]).status == .forbidden)
            #expect(try await reader.post("/console/settings/retention/run", []).status == .forbidden)

            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            #expect(try await browser.get("/console/settings").text.contains("retention-form"))
            let fields = [("eventsDays", "30"), ("checkinReportsDays", "14"), ("pseudonymiseAfterMonths", "12")]
            let saved = try await browser.post("/console/settings/retention", fields)
            #expect(saved.status == .seeOther)
            #expect(
                try await harness.services.retention.settings()
                    == RetentionSettings(eventsDays: 30, checkinReportsDays: 14, pseudonymiseAfterMonths: 12, enabled: false))
            let changed = try await harness.store.auditEntries(matching: AuditFilter(actionPrefix: "settings.changed"), limit: 10, offset: 0).entries
            #expect(changed.count == 4 && changed.allSatisfy { $0.actor == "token:test-admin (automation)" })

            try await browser.get("/console/settings")
            _ = try await browser.post("/console/settings/retention", [("eventsDays", "0"), ("enabled", "true")])
            #expect(try await browser.get("/console/settings").text.contains("retention.eventsDays: expected 1 to 3650 days, found 0"))
            #expect(try await harness.services.retention.settings().eventsDays == 30, "a refused change writes nothing")

            #expect(try await browser.post("/console/settings/retention/run", []).status == .seeOther)
            #expect(try await browser.get("/console/settings").text.contains("Retention ran: 0 events"))
            #expect(try await retentionRuns(harness).count == 1)
        }
    }
}

import Foundation
import KontorCore
import KontorPostgres
import KontorSQLite
import KontorStore
import Logging
import Testing

/// A storage backend under test. Every test below runs against each one: a backend is done when
/// this whole suite passes on it.
struct Backend: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> any KontorStore
    var testDescription: String { name }

    /// SQLite always; PostgreSQL too when `KONTOR_TEST_POSTGRES_URL` names a server (scripts/test starts one):
    /// each store gets a schema of its own.
    static let all: [Backend] = {
        var backends = [
            Backend(name: "sqlite-memory") { try SQLiteStore.inMemory() },
            Backend(name: "sqlite-file") {
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-store-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                return try SQLiteStore(path: dir.appendingPathComponent("kontor.sqlite").path)
            },
        ]
        if let url = ProcessInfo.processInfo.environment["KONTOR_TEST_POSTGRES_URL"], !url.isEmpty {
            backends.append(Backend(name: "postgres") { try await TestPostgres.store(url: url) })
        }
        return backends
    }()
}

/// Throwaway PostgreSQL stores for tests: a fresh schema each, a small pool. The pool runs for the rest
/// of the test process, as a server's service group runs it until shutdown.
enum TestPostgres {
    static func store(url: String) async throws -> PostgresStore {
        var logger = Logger(label: "kontor-test-postgres")
        logger.logLevel = .error
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let store = try PostgresStore(url: url, schema: schema, maxConnections: 4, logger: logger)
        Task { await store.run() }
        try await store.migrate()
        return store
    }
}

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

private func facts(_ machine: String = "m1") -> DeviceFacts {
    DeviceFacts(hostname: "laptop-1", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: machine, agentVersion: "0.1.0")
}

private func newDevice(_ machine: String = "m1", terms: String? = nil) -> NewDevice {
    let id = IdentifierGenerator.uuidV7(now: t0)
    return NewDevice(id: id, keyId: "key-\(id)", publicKey: "pk-\(id)", facts: facts(machine), acceptedTermsVersion: terms)
}

private func token(_ store: any KontorStore, uses: Int = 1, person: String? = nil, group: String? = nil, expires: Date = t0 + 3600) async throws -> String {
    let secret = IssuedSecret.generate(.enrollmentToken)
    try await store.insertEnrollmentToken(
        StoredEnrollmentToken(
            token: EnrollmentToken(id: secret.id, personId: person, group: group, maxUses: uses, expiresAt: expires, createdAt: t0),
            secretHash: secret.secretHash))
    return secret.id
}

@Suite("Store conformance")
struct StoreConformanceTests {
    @Test("API tokens are stored with their hash, listed, and revoked once", arguments: Backend.all)
    func apiTokens(backend: Backend) async throws {
        let store = try await backend.make()
        let secret = IssuedSecret.generate(.apiToken)
        try await store.insertAPIToken(
            StoredAPIToken(token: APIToken(id: secret.id, name: "ci", role: .operator, createdAt: t0), secretHash: secret.secretHash))
        let stored = try #require(try await store.apiToken(id: secret.id))
        #expect(stored.secretHash == secret.secretHash)
        #expect(stored.token.role == .operator)
        #expect(try await store.apiTokens().map(\.name) == ["ci"])
        #expect(try await store.revokeAPIToken(id: secret.id, at: t0 + 10))
        #expect(try await store.revokeAPIToken(id: secret.id, at: t0 + 20))
        #expect(try await store.apiToken(id: secret.id)?.token.revokedAt == t0 + 10)
        #expect(try await store.revokeAPIToken(id: "nope", at: t0) == false)
        await #expect(throws: StoreError.conflict("API token \(secret.id) exists")) {
            try await store.insertAPIToken(StoredAPIToken(token: APIToken(id: secret.id, name: "again", role: .admin, createdAt: t0), secretHash: "h"))
        }
        #expect(try await store.apiToken(id: secret.id)?.token.name == "ci")
    }

    @Test("a token's last use only moves forward, and touching an unknown token changes nothing", arguments: Backend.all)
    func apiTokenLastUse(backend: Backend) async throws {
        let store = try await backend.make()
        let secret = IssuedSecret.generate(.apiToken)
        try await store.insertAPIToken(StoredAPIToken(token: APIToken(id: secret.id, name: "ci", role: .auditor, createdAt: t0), secretHash: secret.secretHash))
        #expect(try await store.apiToken(id: secret.id)?.token.lastUsedAt == nil)
        try await store.touchAPIToken(id: secret.id, at: t0 + 60)
        #expect(try await store.apiToken(id: secret.id)?.token.lastUsedAt == t0 + 60)
        try await store.touchAPIToken(id: secret.id, at: t0 + 30)
        #expect(try await store.apiTokens().first?.lastUsedAt == t0 + 60)
        try await store.touchAPIToken(id: secret.id, at: t0 + 120.5)
        #expect(try await store.apiToken(id: secret.id)?.token.lastUsedAt == t0 + 120.5)
        try await store.touchAPIToken(id: "nope", at: t0)
        #expect(try await store.apiTokens().count == 1)
    }

    @Test("a person's email is unique regardless of case", arguments: Backend.all)
    func personsUnique(backend: Backend) async throws {
        let store = try await backend.make()
        try await store.insertPerson(Person(id: "p1", email: "Ada@Example.org", displayName: "Ada", groups: ["staff"], createdAt: t0))
        await #expect(throws: StoreError.conflict("a person with email ada@example.org exists")) {
            try await store.insertPerson(Person(id: "p2", email: "ada@example.org", displayName: "Other", groups: [], createdAt: t0))
        }
        #expect(try await store.person(email: "ADA@example.org")?.id == "p1")
        #expect(try await store.person(id: "p1")?.groups == ["staff"])
        #expect(try await store.persons().count == 1)
    }

    @Test("enrolling uses the token once and takes person and group from it", arguments: Backend.all)
    func enrollConsumesToken(backend: Backend) async throws {
        let store = try await backend.make()
        try await store.insertPerson(Person(id: "p1", email: "ada@example.org", displayName: "Ada", groups: ["office"], createdAt: t0))
        let tokenId = try await token(store, person: "p1")
        let device = try await store.enroll(newDevice(terms: "2026-01"), tokenId: tokenId, now: t0)
        #expect(device.personId == "p1")
        #expect(device.group == "office")
        #expect(device.status == .active)
        #expect(device.acceptedTermsVersion == "2026-01")
        #expect(try await store.enrollmentToken(id: tokenId)?.token.uses == 1)
        await #expect(throws: StoreError.enrollmentTokenUnusable(.usedUp)) {
            try await store.enroll(newDevice("m2"), tokenId: tokenId, now: t0)
        }
        #expect(try await store.deviceCount() == 1)
    }

    @Test("expired, revoked and unknown tokens enroll nothing", arguments: Backend.all)
    func unusableTokens(backend: Backend) async throws {
        let store = try await backend.make()
        let expired = try await token(store, expires: t0 - 1)
        await #expect(throws: StoreError.enrollmentTokenUnusable(.expired)) { try await store.enroll(newDevice(), tokenId: expired, now: t0) }
        let revoked = try await token(store)
        #expect(try await store.revokeEnrollmentToken(id: revoked, at: t0))
        await #expect(throws: StoreError.enrollmentTokenUnusable(.revoked)) { try await store.enroll(newDevice(), tokenId: revoked, now: t0) }
        await #expect(throws: StoreError.enrollmentTokenUnknown) { try await store.enroll(newDevice(), tokenId: "missing", now: t0) }
        #expect(try await store.deviceCount() == 0)
        #expect(try await store.enrollmentToken(id: expired)?.token.uses == 0)
    }

    @Test("enrollment tokens are listed newest first, with their uses and revocation", arguments: Backend.all)
    func enrollmentTokenListing(backend: Backend) async throws {
        let store = try await backend.make()
        #expect(try await store.enrollmentTokens().isEmpty)
        try await store.insertPerson(Person(id: "p1", email: "ada@example.org", displayName: "Ada", groups: [], createdAt: t0))
        var inserted: [EnrollmentToken] = []
        for (n, person) in [nil, "p1", nil].enumerated() {
            let secret = IssuedSecret.generate(.enrollmentToken)
            let token = EnrollmentToken(
                id: secret.id, personId: person, group: person == nil ? "lab" : nil, maxUses: n + 1, expiresAt: t0 + 3600, createdAt: t0 + Double(n),
                createdBy: "token:admin")
            try await store.insertEnrollmentToken(StoredEnrollmentToken(token: token, secretHash: secret.secretHash))
            inserted.append(token)
        }
        _ = try await store.enroll(newDevice(), tokenId: inserted[2].id, now: t0 + 10)
        #expect(try await store.revokeEnrollmentToken(id: inserted[0].id, at: t0 + 20))
        inserted[2].uses = 1
        inserted[0].revokedAt = t0 + 20
        #expect(try await store.enrollmentTokens() == inserted.reversed())
        await #expect(throws: StoreError.notFound("person nobody")) {
            try await store.insertEnrollmentToken(
                StoredEnrollmentToken(
                    token: EnrollmentToken(id: "x", personId: "nobody", group: nil, maxUses: 1, expiresAt: t0, createdAt: t0), secretHash: "h"))
        }
    }

    @Test("a failed enrollment leaves the token unused", arguments: Backend.all)
    func enrollIsAtomic(backend: Backend) async throws {
        let store = try await backend.make()
        let first = try await token(store)
        let device = newDevice()
        _ = try await store.enroll(device, tokenId: first, now: t0)
        let second = try await token(store)
        var duplicate = newDevice("m9")
        duplicate.keyId = device.keyId
        await #expect(throws: StoreError.conflict("device id or key already enrolled")) { try await store.enroll(duplicate, tokenId: second, now: t0) }
        #expect(try await store.enrollmentToken(id: second)?.token.uses == 0)
        #expect(try await store.device(id: device.id)?.status == .active)
    }

    @Test("re-enrolling a machine gives a new ID and keeps the old one as a tombstone", arguments: Backend.all)
    func reenrollment(backend: Backend) async throws {
        let store = try await backend.make()
        let tokenId = try await token(store, uses: 2)
        let first = try await store.enroll(newDevice("same"), tokenId: tokenId, now: t0)
        let second = try await store.enroll(newDevice("same"), tokenId: tokenId, now: t0 + 60)
        #expect(first.id != second.id)
        #expect(second.predecessorId == first.id)
        let tombstone = try #require(try await store.device(id: first.id))
        #expect(tombstone.status == .replaced)
        #expect(tombstone.successorId == second.id)
        #expect(try await store.devices(personId: nil).map(\.id) == [first.id, second.id])
        #expect(try await store.device(keyId: second.keyId)?.id == second.id)
    }

    @Test("active devices are read page by page in ID order, each once, without revoked or replaced ones", arguments: Backend.all)
    func activePages(backend: Backend) async throws {
        let store = try await backend.make()
        let tokenId = try await token(store, uses: 10)
        var enrolled: [Device] = []
        for n in 0..<7 { enrolled.append(try await store.enroll(newDevice("m\(n)"), tokenId: tokenId, now: t0 + Double(n))) }
        _ = try await store.revokeDevice(id: enrolled[2].id, at: t0 + 10)
        let replacement = try await store.enroll(newDevice("m4"), tokenId: tokenId, now: t0 + 20)  // replaces enrolled[4]
        var seen: [String] = []
        var after: String?
        while true {
            let page = try await store.activeDevices(after: after, limit: 3)
            seen += page.map(\.id)
            guard page.count == 3 else { break }
            after = page.last?.id
        }
        let expected = (enrolled.map(\.id) + [replacement.id]).filter { $0 != enrolled[2].id && $0 != enrolled[4].id }.sorted()
        #expect(seen == expected)
        #expect(try await store.activeDevices(after: nil, limit: 0).isEmpty)
    }

    @Test("check-ins are recorded in batches and never move last-seen backwards", arguments: Backend.all)
    func checkins(backend: Backend) async throws {
        let store = try await backend.make()
        let device = try await store.enroll(newDevice(), tokenId: try await token(store), now: t0)
        try await store.recordCheckins([
            CheckinRecord(deviceId: device.id, at: t0 + 100, appliedPolicyHash: "sha256:a", status: AgentReport(state: "ok"), facts: nil),
            CheckinRecord(deviceId: "unknown", at: t0 + 100, appliedPolicyHash: nil, status: nil, facts: nil),
        ])
        try await store.recordCheckins([CheckinRecord(deviceId: device.id, at: t0 + 50, appliedPolicyHash: nil, status: nil, facts: nil)])
        let seen = try #require(try await store.device(id: device.id))
        #expect(seen.lastSeen == t0 + 100)
        #expect(seen.appliedPolicyHash == "sha256:a")
        #expect(seen.agentStatus == AgentReport(state: "ok"))
    }

    @Test("settings are upserted", arguments: Backend.all)
    func settings(backend: Backend) async throws {
        let store = try await backend.make()
        #expect(try await store.setting("x") == nil)
        try await store.setSetting("x", value: "1")
        try await store.setSetting("x", value: "2")
        #expect(try await store.setting("x") == "2")
        try await store.ping()
    }
}

@Suite("Audit log conformance")
struct AuditStoreConformanceTests {
    @Test("entries are chained, filtered and verify", arguments: Backend.all)
    func chained(backend: Backend) async throws {
        let store = try await backend.make()
        let a = try await store.appendAudit(at: t0, actor: "token:admin", action: "person.created", target: "ada@example.org", detail: ["groups": "office"])
        let b = try await store.appendAudit(at: t0 + 60.5, actor: "token:admin", action: "enroll-token.created", target: "abc", detail: nil)
        #expect(a.seq == 1 && b.seq == 2)
        #expect(b.previousHash == a.hash)
        let all = try await store.auditEntries(since: nil, target: nil)
        #expect(all == [a, b])
        #expect(AuditChain.verify(all).ok)
        #expect(try await store.auditEntries(since: t0 + 30, target: nil) == [b])
        #expect(try await store.auditEntries(since: nil, target: "ada@example.org") == [a])
    }
}

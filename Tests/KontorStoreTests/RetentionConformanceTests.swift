import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)
private let day: TimeInterval = 86_400

/// Inserts an enrollment token; returns its ID.
private func token(_ store: any KontorStore, person: String? = nil, uses: Int = 1, expires: Date, created: Date = t0) async throws -> String {
    let secret = IssuedSecret.generate(.enrollmentToken)
    try await store.insertEnrollmentToken(
        StoredEnrollmentToken(
            token: EnrollmentToken(id: secret.id, personId: person, group: "staff", maxUses: uses, expiresAt: expires, createdAt: created),
            secretHash: secret.secretHash))
    return secret.id
}

/// Enrolls a device with `tokenId` at `at` on machine `machine`; returns its ID.
private func enroll(_ store: any KontorStore, tokenId: String, machine: String, at: Date) async throws -> String {
    let id = IdentifierGenerator.uuidV7(now: at)
    let facts = DeviceFacts(hostname: "laptop-\(machine)", osRelease: "Debian", kernel: "6.1", machineIdHash: machine, agentVersion: "0.2.0")
    return try await store.enroll(
        NewDevice(id: id, keyId: "k-\(id)", publicKey: "p-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: tokenId, now: at
    ).id
}

/// Deletes with `batch` until it returns less than `limit`; returns the calls made and the total.
private func drain(limit: Int, _ batch: (Int) async throws -> Int) async throws -> (calls: Int, total: Int) {
    var calls = 0
    var total = 0
    while true {
        let n = try await batch(limit)
        calls += 1
        total += n
        #expect(n <= limit, "a batch deletes at most its limit")
        if n < limit { return (calls, total) }
    }
}

@Suite("Store conformance: retention")
struct RetentionConformanceTests {
    @Test("events older than the limit are deleted in batches of at most the limit; newer ones stay", arguments: Backend.all)
    func events(backend: Backend) async throws {
        let store = try await backend.make()
        let tokenId = try await token(store, uses: 2, expires: t0 + day)
        let a = try await enroll(store, tokenId: tokenId, machine: "a", at: t0)
        let b = try await enroll(store, tokenId: tokenId, machine: "b", at: t0)
        let old = (0..<7).map { DeviceEvent(at: t0 - 400 * day + TimeInterval($0), kind: "quiet.begin", id: "old-\($0)") }
        let recent = (0..<3).map { DeviceEvent(at: t0 - 10 * day + TimeInterval($0), kind: "quiet.end", id: "new-\($0)") }
        try await store.appendEvents(deviceId: a, old + recent)
        try await store.appendEvents(deviceId: b, [DeviceEvent(at: t0 - 366 * day, kind: "app.violation"), DeviceEvent(at: t0, kind: "app.violation")])
        #expect(try await store.eventCount() == 12)

        let (calls, total) = try await drain(limit: 3) { try await store.deleteEvents(before: t0 - 365 * day, limit: $0) }
        #expect(total == 8)
        #expect(calls == 3, "8 rows in batches of 3: 3, 3, 2")
        #expect(try await store.eventCount() == 4)
        #expect(try await store.events(deviceId: a, limit: 100).compactMap(\.id) == ["new-2", "new-1", "new-0"])
        #expect(try await store.events(deviceId: b, limit: 100).map(\.at) == [t0])
        #expect(try await store.deleteEvents(before: t0 - 365 * day, limit: 3) == 0)
    }

    @Test("enrollment tokens spent more than the grace ago are deleted; usable and recently spent ones stay", arguments: Backend.all)
    func tokens(backend: Backend) async throws {
        let store = try await backend.make()
        let cutoff = t0 - 30 * day
        let expiredLong = try await token(store, expires: t0 - 31 * day, created: t0 - 40 * day)
        let expiredRecently = try await token(store, expires: t0 - 29 * day, created: t0 - 40 * day)
        let live = try await token(store, uses: 5, expires: t0 + day, created: t0 - 40 * day)
        let revokedLong = try await token(store, expires: t0 + day, created: t0 - 40 * day)
        #expect(try await store.revokeEnrollmentToken(id: revokedLong, at: t0 - 31 * day))
        let usedLong = try await token(store, expires: t0 + day, created: t0 - 40 * day)
        let oldDevice = try await enroll(store, tokenId: usedLong, machine: "old", at: t0 - 35 * day)
        let usedRecently = try await token(store, expires: t0 + day, created: t0 - 40 * day)
        _ = try await enroll(store, tokenId: usedRecently, machine: "new", at: t0 - 5 * day)
        // One use left: still usable, however old.
        _ = try await enroll(store, tokenId: live, machine: "live", at: t0 - 35 * day)
        #expect(try await store.enrollmentTokens().count == 6)

        let (_, total) = try await drain(limit: 2) { try await store.deleteSpentEnrollmentTokens(before: cutoff, limit: $0) }
        #expect(total == 3)
        let left = Set(try await store.enrollmentTokens().map(\.id))
        #expect(left == [expiredRecently, live, usedRecently])
        // The device enrolled with a deleted token is still there.
        #expect(try await store.device(id: oldDevice)?.status == .active)
        #expect(try await store.deleteSpentEnrollmentTokens(before: cutoff, limit: 2) == 0)
        #expect(try await store.enrollmentToken(id: expiredLong) == nil)
    }

    @Test("persons whose offboarding completed before the cutoff are due for pseudonymisation, earliest first", arguments: Backend.all)
    func pseudonymisationDue(backend: Backend) async throws {
        let store = try await backend.make()
        var ids: [String] = []
        for (i, name) in ["ada", "bob", "cy", "dee"].enumerated() {
            let person = Person(
                id: IdentifierGenerator.uuidV7(now: t0 + TimeInterval(i)), email: "\(name)@example.org", displayName: name, groups: [], createdAt: t0)
            try await store.insertPerson(person)
            ids.append(person.id)
        }
        let completed = [t0 - 800 * day, t0 - 900 * day, t0 - 100 * day]
        for (id, at) in zip(ids, completed) {
            try await store.startOffboarding(
                Offboarding(personId: id, requestedAt: at - day, requestedBy: "it", wipeAt: at, restrictedProfile: nil, reason: "left"), now: at - day)
            try await store.completeOffboarding(personId: id, at: at)
        }
        // dee is being offboarded, not offboarded.
        try await store.startOffboarding(
            Offboarding(personId: ids[3], requestedAt: t0 - 900 * day, requestedBy: "it", wipeAt: t0, restrictedProfile: nil, reason: nil),
            now: t0 - 900 * day)
        #expect(try await store.personsOffboarded(before: t0 - 730 * day) == [ids[1], ids[0]])
        #expect(try await store.personsOffboarded(before: t0 - 1000 * day).isEmpty)
    }

    @Test("purging nonces counts the expired ones it deleted", arguments: Backend.all)
    func nonces(backend: Backend) async throws {
        let store = try await backend.make()
        try await store.recordNonces(["a", "b"], expiresAt: 100)
        try await store.recordNonces(["c"], expiresAt: 300)
        #expect(try await store.purgeNonces(before: 200) == 2)
        #expect(try await store.purgeNonces(before: 200) == 0)
        #expect(try await store.liveNonces(at: 0) == ["c": 300])
    }
}

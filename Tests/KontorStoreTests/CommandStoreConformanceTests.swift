import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

/// A person with one enrolled device and a live enrollment token; returns the person and device IDs.
private func enrolledDevice(_ store: any KontorStore) async throws -> (String, String, String) {
    let person = Person(id: IdentifierGenerator.uuidV7(now: t0), email: "ada@example.org", displayName: "Ada", groups: [], createdAt: t0)
    try await store.insertPerson(person)
    var tokens: [String] = []
    for _ in 0..<2 {
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(id: secret.id, personId: person.id, group: nil, maxUses: 1, expiresAt: t0 + 3600, createdAt: t0),
                secretHash: secret.secretHash))
        tokens.append(secret.id)
    }
    let id = IdentifierGenerator.uuidV7(now: t0)
    let facts = DeviceFacts(hostname: "laptop", osRelease: "Debian", kernel: "6.1", machineIdHash: "m", agentVersion: "0.1.0")
    _ = try await store.enroll(NewDevice(id: id, keyId: "k-\(id)", publicKey: "p-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: tokens[0], now: t0)
    return (person.id, id, tokens[1])
}

private func command(_ device: String, _ type: CommandType, expires: Date? = nil, at: Date = t0) -> CommandRecord {
    CommandRecord(id: IdentifierGenerator.uuidV7(now: at), deviceId: device, type: type, issuedAt: at, issuedBy: "test", expiresAt: expires)
}

@Suite("Store conformance: commands, receipts, offboarding")
struct CommandStoreConformanceTests {
    @Test("commands are delivered until they move on, expire when due, and only move forward", arguments: Backend.all)
    func queue(backend: Backend) async throws {
        let store = try await backend.make()
        let (_, device, _) = try await enrolledDevice(store)
        let lock = command(device, .lock)
        let sync = command(device, .sync, expires: t0 + 60, at: t0 + 1)
        try await store.insertCommand(lock)
        try await store.insertCommand(sync)
        await #expect(throws: StoreError.self) { try await store.insertCommand(command("no-such-device", .sync)) }
        #expect(try await store.devicesWithOpenCommands() == [device])

        #expect(try await store.deliverCommands(deviceId: device, now: t0 + 10).map(\.id) == [lock.id, sync.id])
        #expect(try await store.command(id: lock.id)?.deliveredAt == t0 + 10)
        #expect(try await store.deliverCommands(deviceId: device, now: t0 + 61).map(\.id) == [lock.id])
        #expect(try await store.command(id: sync.id)?.state == .expired)
        // Delivering again keeps the first delivery time.
        #expect(try await store.command(id: lock.id)?.deliveredAt == t0 + 10)

        let moved = try #require(try await store.transitionCommand(id: lock.id, deviceId: device, to: .succeeded, at: t0 + 70, error: nil))
        #expect(moved.1 && moved.0.state == .succeeded && moved.0.completedAt == t0 + 70)
        let repeated = try #require(try await store.transitionCommand(id: lock.id, deviceId: device, to: .failed, at: t0 + 80, error: "x"))
        #expect(!repeated.1 && repeated.0.state == .succeeded && repeated.0.completedAt == t0 + 70)
        #expect(try await store.transitionCommand(id: lock.id, deviceId: "other", to: .failed, at: t0, error: nil) == nil)
        #expect(try await store.transitionCommand(id: "nope", deviceId: nil, to: .failed, at: t0, error: nil) == nil)
        #expect(try await store.devicesWithOpenCommands().isEmpty)
        #expect(try await store.commands(deviceId: device).map(\.id) == [sync.id, lock.id])
    }

    @Test("a receipt is stored once, completes its wipe and revokes the device in one step", arguments: Backend.all)
    func receipts(backend: Backend) async throws {
        let store = try await backend.make()
        let (_, device, _) = try await enrolledDevice(store)
        let wipe = command(device, .wipe)
        try await store.insertCommand(wipe)
        let receipt = StoredReceipt(
            id: IdentifierGenerator.uuidV7(now: t0), deviceId: device, commandId: wipe.id, trigger: "command", receivedAt: t0 + 5,
            signed: SignedReceipt(payload: "{}", signature: "sig"))
        #expect(try await store.recordReceipt(receipt, revoke: true))
        #expect(try await store.recordReceipt(receipt, revoke: true) == false)
        #expect(try await store.receipt(id: receipt.id) == receipt)
        #expect(try await store.receipts(deviceId: device) == [receipt])
        let stored = try #require(try await store.command(id: wipe.id))
        #expect(stored.state == .succeeded && stored.receiptId == receipt.id)
        let revoked = try #require(try await store.device(id: device))
        #expect(revoked.status == .revoked && revoked.wipeConfirmedAt == t0 + 5 && revoked.wipeReceiptId == receipt.id)
        await #expect(throws: (any Error).self) {
            try await store.recordReceipt(
                StoredReceipt(id: "r2", deviceId: "nope", commandId: nil, trigger: "offline", receivedAt: t0, signed: receipt.signed), revoke: false)
        }
    }

    @Test("offboarding marks the person, revokes their tokens, can be rescheduled until the wipes go out, and completes", arguments: Backend.all)
    func offboarding(backend: Backend) async throws {
        let store = try await backend.make()
        let (person, _, spareToken) = try await enrolledDevice(store)
        let plan = Offboarding(
            personId: person, requestedAt: t0, requestedBy: "it", wipeAt: t0 + 86_400, restrictedProfile: "restricted", reason: "contract ends")
        try await store.startOffboarding(plan, now: t0)
        #expect(try await store.person(id: person)?.status == .offboarding)
        #expect(try await store.enrollmentToken(id: spareToken)?.token.revokedAt == t0)
        var later = plan
        later.wipeAt = t0 + 2 * 86_400
        try await store.startOffboarding(later, now: t0 + 1)
        #expect(try await store.offboarding(personId: person)?.wipeAt == t0 + 2 * 86_400)
        #expect(try await store.openOffboardings().map(\.personId) == [person])

        try await store.markWipesIssued(personId: person, at: t0 + 3)
        try await store.markWipesIssued(personId: person, at: t0 + 4)
        #expect(try await store.offboarding(personId: person)?.wipesIssuedAt == t0 + 3)
        await #expect(throws: StoreError.self) { try await store.startOffboarding(plan, now: t0 + 5) }

        try await store.completeOffboarding(personId: person, at: t0 + 9)
        #expect(try await store.person(id: person)?.status == .offboarded)
        #expect(try await store.openOffboardings().isEmpty)
        await #expect(throws: StoreError.self) { try await store.startOffboarding(plan, now: t0 + 10) }
        await #expect(throws: StoreError.self) {
            try await store.startOffboarding(
                Offboarding(personId: "nobody", requestedAt: t0, requestedBy: nil, wipeAt: t0, restrictedProfile: nil, reason: nil), now: t0)
        }
    }
}

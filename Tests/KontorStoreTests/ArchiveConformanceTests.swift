import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

/// A device to hang archives on.
private func device(_ store: any KontorStore) async throws -> Device {
    let secret = IssuedSecret.generate(.enrollmentToken)
    try await store.insertEnrollmentToken(
        StoredEnrollmentToken(
            token: EnrollmentToken(id: secret.id, personId: nil, group: "techs", maxUses: 1, expiresAt: t0 + 86_400, createdAt: t0),
            secretHash: secret.secretHash))
    let id = IdentifierGenerator.uuidV7(now: t0)
    let facts = DeviceFacts(hostname: "laptop", osRelease: "Debian", kernel: "6.1", machineIdHash: "m-archive", agentVersion: "0.1.0")
    return try await store.enroll(
        NewDevice(id: id, keyId: "k-\(id)", publicKey: "p-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id, now: t0)
}

@Suite("Store conformance: archives of retained work data")
struct ArchiveConformanceTests {
    @Test("an archive uploads forward only, completes only when whole, and is kept as written", arguments: Backend.all)
    func upload(backend: Backend) async throws {
        let store = try await backend.make()
        let laptop = try await device(store)
        let archive = ArchiveRecord(
            id: "a1", deviceId: laptop.id, personId: nil, receiptId: "r1", size: 5_000_000_000, sha256: String(repeating: "ab", count: 32), files: 12,
            createdAt: t0)
        try await store.insertArchive(archive)
        await #expect(throws: StoreError.archiveExists("a1")) { try await store.insertArchive(archive) }
        var ghost = archive
        ghost.id = "a2"
        ghost.deviceId = "no-such-device"
        await #expect(throws: StoreError.self) { try await store.insertArchive(ghost) }
        #expect(try await store.archive(id: "a1") == archive)

        #expect(try await store.completeArchive(id: "a1", at: t0, retainUntil: t0 + 86_400) == false, "not whole yet")
        #expect(try await store.recordArchiveProgress(id: "a1", received: 4_000_000_000))
        #expect(try await store.recordArchiveProgress(id: "a1", received: 1_000) == false, "progress never goes back")
        #expect(try await store.recordArchiveProgress(id: "a1", received: 6_000_000_000) == false, "never past the size")
        #expect(try await store.recordArchiveProgress(id: "a1", received: 5_000_000_000))
        #expect(try await store.completeArchive(id: "a1", at: t0 + 60, retainUntil: t0 + 86_400))
        let done = try #require(try await store.archive(id: "a1"))
        #expect(done.state == .complete && done.received == 5_000_000_000 && done.completedAt == t0 + 60 && done.retainUntil == t0 + 86_400)
        #expect(try await store.recordArchiveProgress(id: "a1", received: 5_000_000_000) == false)
        #expect(try await store.archives(deviceId: laptop.id).map(\.id) == ["a1"])
        #expect(try await store.archives(deviceId: "other").isEmpty)
        #expect(try await store.archives(deviceId: nil).count == 1)
    }

    @Test("a legal hold stops the purge until it is released; a purged archive stays purged", arguments: Backend.all)
    func holdAndPurge(backend: Backend) async throws {
        let store = try await backend.make()
        let laptop = try await device(store)
        try await store.insertArchive(
            ArchiveRecord(id: "a1", deviceId: laptop.id, personId: nil, receiptId: nil, size: 0, sha256: "e3b0", files: 0, createdAt: t0))
        #expect(try await store.completeArchive(id: "a1", at: t0, retainUntil: t0 + 10))
        #expect(try await store.archive(id: "a1")?.isDue(at: t0 + 10) == true)
        #expect(try await store.setArchiveHold(id: "a1", true))
        #expect(try await store.archive(id: "a1")?.isDue(at: t0 + 10) == false)
        await #expect(throws: StoreError.archiveOnHold) { _ = try await store.markArchivePurged(id: "a1", at: t0 + 20) }
        #expect(try await store.setArchiveHold(id: "a1", false))
        #expect(try await store.markArchivePurged(id: "a1", at: t0 + 30))
        #expect(try await store.markArchivePurged(id: "a1", at: t0 + 40) == false)
        let purged = try #require(try await store.archive(id: "a1"))
        #expect(purged.state == .purged && purged.purgedAt == t0 + 30)
        #expect(try await store.setArchiveHold(id: "a1", true) == false, "a purged archive cannot be held")
        #expect(try await store.markArchivePurged(id: "nope", at: t0) == false)
    }
}

import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

/// Enrolls `count` devices with one token; returns their IDs.
private func enrolled(_ store: any KontorStore, count: Int) async throws -> [String] {
    let secret = IssuedSecret.generate(.enrollmentToken)
    try await store.insertEnrollmentToken(
        StoredEnrollmentToken(
            token: EnrollmentToken(id: secret.id, personId: nil, group: "lab", maxUses: count, expiresAt: t0 + 3600, createdAt: t0),
            secretHash: secret.secretHash))
    var ids: [String] = []
    for n in 0..<count {
        let id = IdentifierGenerator.uuidV7(now: t0 + Double(n))
        let facts = DeviceFacts(hostname: "pc-\(n)", osRelease: "Debian GNU/Linux 12", kernel: "6.1.0", machineIdHash: "m\(n)", agentVersion: "0.1.0")
        ids.append(
            try await store.enroll(
                NewDevice(id: id, keyId: "k-\(id)", publicKey: "p-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id, now: t0
            ).id)
    }
    return ids
}

@Suite("Store conformance: device events")
struct CheckinStoreConformanceTests {
    @Test("a device's events are read back newest first, at most as many as asked, and only its own", arguments: Backend.all)
    func events(backend: Backend) async throws {
        let store = try await backend.make()
        let ids = try await enrolled(store, count: 2)
        let first = [DeviceEvent(at: t0 + 1, kind: "quiet.start", detail: "Feierabend"), DeviceEvent(at: t0 + 2, kind: "app.blocked", detail: nil)]
        let later = [DeviceEvent(at: t0 + 3, kind: "quiet.end", detail: "ß ✓ \"quoted\"")]
        try await store.appendEvents(deviceId: ids[0], first)
        try await store.appendEvents(deviceId: ids[1], [DeviceEvent(at: t0 + 9, kind: "other", detail: nil)])
        try await store.appendEvents(deviceId: ids[0], later)
        try await store.appendEvents(deviceId: ids[0], [])

        #expect(try await store.events(deviceId: ids[0], limit: 10) == (first + later).reversed())
        #expect(try await store.events(deviceId: ids[0], limit: 2) == [later[0], first[1]])
        #expect(try await store.events(deviceId: ids[1], limit: 10).map(\.kind) == ["other"])
        #expect(try await store.events(deviceId: "unknown", limit: 10).isEmpty)
    }

    @Test("events are ordered by when they were appended, not by the time the device gave them", arguments: Backend.all)
    func appendOrder(backend: Backend) async throws {
        let store = try await backend.make()
        let id = try await enrolled(store, count: 1)[0]
        // A device whose clock went back: the later batch carries an earlier time.
        try await store.appendEvents(deviceId: id, [DeviceEvent(at: t0 + 100, kind: "first")])
        try await store.appendEvents(deviceId: id, [DeviceEvent(at: t0 + 5, kind: "second")])
        #expect(try await store.events(deviceId: id, limit: 10).map(\.kind) == ["second", "first"])
    }

    @Test("events of an unknown device are refused and nothing of the batch is kept", arguments: Backend.all)
    func unknownDevice(backend: Backend) async throws {
        let store = try await backend.make()
        await #expect(throws: (any Error).self) {
            try await store.appendEvents(deviceId: "no-such-device", [DeviceEvent(at: t0, kind: "a"), DeviceEvent(at: t0, kind: "b")])
        }
        #expect(try await store.events(deviceId: "no-such-device", limit: 10).isEmpty)
    }
}

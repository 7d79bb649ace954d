import Foundation
import KontorCore
import KontorStore
import Testing

@Suite("Store conformance: device events sent again")
struct EventIDConformanceTests {
    @Test(
        "an event whose ID the device already sent is not stored again; events without an ID always are; other devices may use the same ID",
        arguments: Backend.all)
    func deduplicated(backend: Backend) async throws {
        let store = try await backend.make()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        var ids: [String] = []
        for machine in ["a", "b"] {
            let secret = IssuedSecret.generate(.enrollmentToken)
            try await store.insertEnrollmentToken(
                StoredEnrollmentToken(
                    token: EnrollmentToken(id: secret.id, personId: nil, group: nil, maxUses: 1, expiresAt: t0 + 86_400, createdAt: t0),
                    secretHash: secret.secretHash))
            let id = IdentifierGenerator.uuidV7(now: t0)
            let facts = DeviceFacts(hostname: "laptop-\(machine)", osRelease: "Debian", kernel: "6.1", machineIdHash: machine, agentVersion: "0.2.0")
            ids.append(
                try await store.enroll(
                    NewDevice(id: id, keyId: "k-\(id)", publicKey: "p-\(id)", facts: facts, acceptedTermsVersion: nil), tokenId: secret.id, now: t0
                ).id)
        }
        let first = DeviceEvent(at: t0, kind: "quiet.begin", detail: "18:00", id: "e-1")
        let second = DeviceEvent(at: t0 + 1, kind: "quiet.override", detail: "until 19:00", id: "e-2")
        #expect(try await store.appendEvents(deviceId: ids[0], [first, second]) == [first, second])
        #expect(try await store.appendEvents(deviceId: ids[0], [first, second]).isEmpty)
        let third = DeviceEvent(at: t0 + 2, kind: "quiet.end", id: "e-3")
        #expect(try await store.appendEvents(deviceId: ids[0], [second, third]) == [third])
        let plain = DeviceEvent(at: t0 + 3, kind: "app.violation", detail: "/usr/bin/x")
        #expect(try await store.appendEvents(deviceId: ids[0], [plain, plain]).count == 2)
        #expect(try await store.appendEvents(deviceId: ids[1], [first]) == [first])
        let stored = try await store.events(deviceId: ids[0], limit: 10)
        #expect(stored.count == 5)
        #expect(stored.first?.id == nil)
        #expect(stored.compactMap(\.id) == ["e-3", "e-2", "e-1"])
        #expect(try await store.events(deviceId: ids[1], limit: 10).map(\.id) == ["e-1"])
    }
}

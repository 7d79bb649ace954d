import Foundation
import KontorStore
import Testing

@Suite("Store conformance: replay nonces")
struct ReplayNonceConformanceTests {
    @Test("a nonce is recorded once while it is live, and again once it has expired", arguments: Backend.all)
    func recordOnce(backend: Backend) async throws {
        let store = try await backend.make()
        #expect(try await store.recordNonce("a", expiresAt: 100, now: 50))
        #expect(try await store.recordNonce("a", expiresAt: 160, now: 60) == false)
        #expect(try await store.liveNonces(at: 0) == ["a": 100], "a refused nonce keeps its expiry")
        #expect(try await store.recordNonce("a", expiresAt: 200, now: 101))
        #expect(try await store.liveNonces(at: 0) == ["a": 200])
        #expect(try await store.recordNonce("b", expiresAt: 200, now: 101))
    }

    @Test("nonces are read back while in their window and purged after it", arguments: Backend.all)
    func liveAndPurged(backend: Backend) async throws {
        let store = try await backend.make()
        _ = try await store.recordNonce("a", expiresAt: 100, now: 0)
        _ = try await store.recordNonce("b", expiresAt: 200, now: 0)
        try await store.recordNonces(["c", "d", "a"], expiresAt: 150)
        try await store.recordNonces([], expiresAt: 150)
        #expect(try await store.liveNonces(at: 120) == ["a": 150, "b": 200, "c": 150, "d": 150])
        #expect(try await store.liveNonces(at: 150) == ["a": 150, "b": 200, "c": 150, "d": 150], "a nonce expiring now is still live")
        #expect(try await store.liveNonces(at: 160) == ["b": 200])
        try await store.purgeNonces(before: 160)
        #expect(try await store.liveNonces(at: 0) == ["b": 200])
        #expect(try await store.recordNonce("a", expiresAt: 300, now: 0), "a purged nonce is new again")
    }
}

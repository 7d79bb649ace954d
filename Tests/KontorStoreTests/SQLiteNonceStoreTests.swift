import Foundation
import KontorSQLite
import Testing

/// The SQLite store's part of the replay window (PostgreSQL keeps the whole window in its own table).
@Suite("SQLite store: nonces kept across restarts")
struct SQLiteNonceStoreTests {
    @Test("recorded nonces are read back while in their window, and purged after it")
    func recordReadPurge() async throws {
        let store = try SQLiteStore.inMemory()
        try await store.recordNonce("a", expiresAt: 100)
        try await store.recordNonce("b", expiresAt: 200)
        try await store.recordNonce("a", expiresAt: 150)
        #expect(try await store.liveNonces(at: 120) == ["a": 150, "b": 200])
        #expect(try await store.liveNonces(at: 160) == ["b": 200])
        try await store.purgeNonces(before: 160)
        #expect(try await store.liveNonces(at: 0) == ["b": 200])
    }
}

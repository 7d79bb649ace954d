import Foundation
import KontorCore
import KontorStore
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

private func apiToken(_ store: any KontorStore, name: String) async throws -> String {
    let secret = IssuedSecret.generate(.apiToken)
    try await store.insertAPIToken(StoredAPIToken(token: APIToken(id: secret.id, name: name, role: .admin, createdAt: t0), secretHash: secret.secretHash))
    return secret.id
}

private func session(_ id: String, token: String, lastSeen: Date = t0, expires: Date = t0 + 8 * 3600) -> StoredConsoleSession {
    StoredConsoleSession(id: id, secretHash: "hash-\(id)", tokenId: token, createdAt: t0, lastSeenAt: lastSeen, expiresAt: expires)
}

@Suite("Store conformance: console sessions")
struct ConsoleSessionConformanceTests {
    @Test("a session is stored with its hash, touched forward only, and deleted once", arguments: Backend.all)
    func lifecycle(backend: Backend) async throws {
        let store = try await backend.make()
        let token = try await apiToken(store, name: "ada")
        try await store.insertConsoleSession(session("s1", token: token))
        #expect(try await store.consoleSession(id: "s1") == session("s1", token: token))
        try await store.touchConsoleSession(id: "s1", at: t0 + 600)
        try await store.touchConsoleSession(id: "s1", at: t0 + 300)
        #expect(try await store.consoleSession(id: "s1")?.lastSeenAt == t0 + 600)
        #expect(try await store.deleteConsoleSession(id: "s1"))
        #expect(try await store.deleteConsoleSession(id: "s1") == false)
        #expect(try await store.consoleSession(id: "s1") == nil)
    }

    @Test("a session needs an existing API token and a fresh id", arguments: Backend.all)
    func integrity(backend: Backend) async throws {
        let store = try await backend.make()
        await #expect(throws: StoreError.self) { try await store.insertConsoleSession(session("s1", token: "000000000000")) }
        let token = try await apiToken(store, name: "ada")
        try await store.insertConsoleSession(session("s1", token: token))
        await #expect(throws: StoreError.conflict("console session s1 exists")) { try await store.insertConsoleSession(session("s1", token: token)) }
    }

    @Test("expired and idle sessions are swept; a revoked token's sessions end", arguments: Backend.all)
    func sweep(backend: Backend) async throws {
        let store = try await backend.make()
        let ada = try await apiToken(store, name: "ada")
        let bob = try await apiToken(store, name: "bob")
        try await store.insertConsoleSession(session("fresh", token: ada, lastSeen: t0 + 3000))
        try await store.insertConsoleSession(session("idle", token: ada, lastSeen: t0))
        try await store.insertConsoleSession(session("over", token: ada, lastSeen: t0 + 3000, expires: t0 + 3600))
        try await store.insertConsoleSession(session("bob", token: bob, lastSeen: t0 + 3000))
        #expect(try await store.deleteExpiredConsoleSessions(now: t0 + 3600, idleBefore: t0 + 1800) == 2)
        #expect(try await store.consoleSession(id: "fresh") != nil)
        #expect(try await store.consoleSession(id: "idle") == nil)
        #expect(try await store.consoleSession(id: "over") == nil)
        try await store.deleteConsoleSessions(tokenId: ada)
        #expect(try await store.consoleSession(id: "fresh") == nil)
        #expect(try await store.consoleSession(id: "bob") != nil)
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import Testing

@testable import KontorServer

@Suite("API tokens: last use")
struct APITokenUseTests {
    @Test("a token's last use is written when it authenticates, then at most once a minute")
    func lastUsedAt() async throws {
        let harness = try await Harness()
        let (token, secret) = try await harness.services.tokens.create(name: "ci", role: .auditor)
        let start = harness.clock.now
        @Sendable func lastUsed() async throws -> Date? { try await harness.store.apiToken(id: token.id)?.token.lastUsedAt }
        #expect(try await lastUsed() == nil)
        try await harness.test { client in
            let first = try await client.api(.get, "/api/v1/me", token: secret)
            #expect(first.status == .ok)
            #expect(try await lastUsed() == start)
            harness.clock.advance(59)
            #expect(try await client.api(.get, "/api/v1/me", token: secret).status == .ok)
            #expect(try await lastUsed() == start, "a second use within the minute writes nothing")
            harness.clock.advance(1)
            #expect(try await client.api(.get, "/api/v1/me", token: secret).status == .ok)
            #expect(try await lastUsed() == start + 60)
        }
    }

    @Test("a wrong secret for a real token ID, or a revoked token, does not count as a use")
    func refusedIsNoUse() async throws {
        let harness = try await Harness()
        let (token, secret) = try await harness.services.tokens.create(name: "ci", role: .admin)
        let forged = String(secret.dropLast(43)) + String(repeating: "A", count: 43)
        #expect(forged != secret)
        try await harness.test { client in
            let refused = try await client.api(.get, "/api/v1/me", token: forged)
            #expect(refused.status == .unauthorized)
            #expect(try await harness.store.apiToken(id: token.id)?.token.lastUsedAt == nil)
            _ = try await harness.services.tokens.revoke(id: token.id)
            harness.clock.advance(120)
            #expect(try await client.api(.get, "/api/v1/me", token: secret).status == .unauthorized)
            #expect(try await harness.store.apiToken(id: token.id)?.token.lastUsedAt == nil)
        }
    }

    @Test("the token listing shows when each token was last used")
    func listed() async throws {
        let harness = try await Harness()
        let (_, secret) = try await harness.services.tokens.create(name: "admin", role: .admin)
        try await harness.test { client in
            let response = try await client.api(.get, "/api/v1/api-tokens", token: secret)
            #expect(response.status == .ok)
            let listed = try KontorJSON.decode([APIToken].self, from: Data(buffer: response.body))
            #expect(listed.first?.lastUsedAt == harness.clock.now)
        }
    }
}

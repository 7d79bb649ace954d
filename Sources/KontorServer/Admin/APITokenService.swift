import Crypto
import Foundation
import KontorCore
import KontorStore
import Logging

/// Admin API tokens: minting, authentication, listing and revocation.
public struct APITokenService: Sendable {
    let store: any APITokenStore & ConsoleSessionStore
    let clock: WallClock

    /// Mints a token; the returned string is the only time the secret exists outside the caller.
    public func create(
        name: String, role: Role, purpose: TokenPurpose = .automation, owner: String? = nil, ownerName: String? = nil
    ) async throws -> (APIToken, String) {
        let (token, secret) = try prepare(name: name, role: role, purpose: purpose, owner: owner, ownerName: ownerName)
        try await store.insertAPIToken(StoredAPIToken(token: token, secretHash: secret.secretHash))
        return (token, secret.token)
    }

    /// A token checked and its secret minted, not stored yet: a token that waits for approval is stored (with the
    /// hash kept in the request) only when approved, so its secret works from then on.
    func prepare(
        name: String, role: Role, purpose: TokenPurpose = .automation, owner: String? = nil, ownerName: String? = nil
    ) throws -> (APIToken, IssuedSecret) {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(trimmed.count) else { throw KontorError.invalid("name: must be 1 to 100 characters") }
        if let owner { guard (1...255).contains(owner.count) else { throw KontorError.invalid("owner: must be 1 to 255 characters") } }
        let secret = IssuedSecret.generate(.apiToken)
        let token = APIToken(
            id: secret.id, name: trimmed, role: role, createdAt: clock.now(), purpose: purpose, owner: owner,
            ownerName: ownerName.map { String($0.prefix(200)) })
        return (token, secret)
    }

    /// Stores a token prepared earlier (``prepare(name:role:purpose:owner:ownerName:)``), created now.
    func insert(_ token: APIToken, secretHash: String) async throws -> APIToken {
        var token = token
        token.createdAt = clock.now()
        try await store.insertAPIToken(StoredAPIToken(token: token, secretHash: secretHash))
        return token
    }

    /// `lastUsedAt` is written at most this often per token, not on every request.
    static let touchInterval: TimeInterval = 60

    /// The principal behind a bearer token, or nil for unknown, malformed or revoked tokens. A valid token's
    /// `lastUsedAt` moves to now when it is a minute old or more.
    public func authenticate(bearer: String) async throws -> Principal? {
        guard let presented = PresentedSecret(bearer, kind: .apiToken), let stored = try await store.apiToken(id: presented.id) else {
            return nil
        }
        guard presented.matches(storedHash: stored.secretHash), stored.token.revokedAt == nil else { return nil }
        let now = clock.now()
        if stored.token.lastUsedAt.map({ now.timeIntervalSince($0) >= Self.touchInterval }) ?? true {
            try await store.touchAPIToken(id: stored.token.id, at: now)
        }
        return .token(stored.token)
    }

    public func list() async throws -> [APIToken] { try await store.apiTokens() }

    public func revoke(id: String) async throws -> APIToken {
        guard try await store.revokeAPIToken(id: id, at: clock.now()), let stored = try await store.apiToken(id: id) else {
            throw KontorError.notFound("no API token \(id)")
        }
        // Console sessions opened with the token end with it.
        try await store.deleteConsoleSessions(tokenId: id)
        return stored.token
    }
}

import Crypto
import Foundation
import KontorCore
import KontorStore

/// A signed-in console user: who they are and the token every form of theirs must carry.
public struct ConsoleSession: Sendable, Equatable {
    public let id: String
    public let principal: Principal
    /// Derived from the session secret, which only the HttpOnly cookie holds: a page from another site
    /// can neither read the cookie nor this token.
    public let csrfToken: String
    public let expiresAt: Date
}

/// Console sign-in, sessions and CSRF tokens. The session secret lives only in the browser's cookie;
/// the store keeps its hash, so a copy of the database opens no session.
public struct ConsoleSessionService: Sendable {
    let store: any ConsoleSessionStore & APITokenStore & PersonSessionStore
    let tokens: APITokenService
    let clock: WallClock
    let idleTimeout: TimeInterval
    let lifetime: TimeInterval
    /// `lastSeenAt` is written at most this often per session, not on every page.
    static let touchInterval: TimeInterval = 60

    /// Opens a session for a valid API token; nil (and no hint why) for a wrong, malformed or revoked one,
    /// and for a `feed` or `directory` token (each has one door of its own).
    public func signIn(apiToken: String) async throws -> (cookie: String, session: ConsoleSession)? {
        guard let principal = try await tokens.authenticate(bearer: apiToken.trimmingCharacters(in: .whitespacesAndNewlines)), principal.role.usesAdminAPI
        else { return nil }
        let now = clock.now()
        _ = try await store.deleteExpiredConsoleSessions(now: now, idleBefore: now - idleTimeout)
        let secret = IssuedSecret.generate(.consoleSession)
        let stored = StoredConsoleSession(
            id: secret.id, secretHash: secret.secretHash, tokenId: principal.credentialId, createdAt: now, lastSeenAt: now, expiresAt: now + lifetime)
        try await store.insertConsoleSession(stored)
        return (secret.token, ConsoleSession(id: secret.id, principal: principal, csrfToken: Self.csrfToken(cookie: secret.token), expiresAt: stored.expiresAt))
    }

    /// Opens a console session for a person the provider vouched for, with the role their groups give.
    public func signIn(person: SignedInPerson) async throws -> (cookie: String, session: ConsoleSession) {
        guard let role = person.role else { throw SignInRefused("none of your groups has a Kontor role") }
        let now = clock.now()
        _ = try await store.deleteExpiredPersonSessions(now: now, idleBefore: now - idleTimeout)
        let secret = IssuedSecret.generate(.personSession)
        let stored = StoredPersonSession(
            id: secret.id, secretHash: secret.secretHash, channel: .console, subject: person.subject, displayName: person.name, role: role,
            groups: person.groups, createdAt: now, lastSeenAt: now, expiresAt: now + lifetime)
        try await store.insertPersonSession(stored)
        let session = ConsoleSession(id: secret.id, principal: .person(stored), csrfToken: Self.csrfToken(cookie: secret.token), expiresAt: stored.expiresAt)
        return (secret.token, session)
    }

    /// The live session behind a cookie value, or nil when it is unknown, forged, expired, idle too long,
    /// or its API token was revoked.
    public func session(cookie: String) async throws -> ConsoleSession? {
        if PresentedSecret(cookie, kind: .personSession) != nil { return try await personSession(cookie: cookie) }
        guard let presented = PresentedSecret(cookie, kind: .consoleSession), let stored = try await store.consoleSession(id: presented.id),
            presented.matches(storedHash: stored.secretHash)
        else { return nil }
        let now = clock.now()
        guard now < stored.expiresAt, now.timeIntervalSince(stored.lastSeenAt) <= idleTimeout,
            let token = try await store.apiToken(id: stored.tokenId), token.token.revokedAt == nil
        else {
            _ = try await store.deleteConsoleSession(id: stored.id)
            return nil
        }
        if now.timeIntervalSince(stored.lastSeenAt) >= Self.touchInterval { try await store.touchConsoleSession(id: stored.id, at: now) }
        return ConsoleSession(id: stored.id, principal: .token(token.token), csrfToken: Self.csrfToken(cookie: cookie), expiresAt: stored.expiresAt)
    }

    private func personSession(cookie: String) async throws -> ConsoleSession? {
        guard let presented = PresentedSecret(cookie, kind: .personSession), let stored = try await store.personSession(id: presented.id),
            presented.matches(storedHash: stored.secretHash), stored.channel == .console
        else { return nil }
        let now = clock.now()
        guard now < stored.expiresAt, now.timeIntervalSince(stored.lastSeenAt) <= idleTimeout else {
            _ = try await store.deletePersonSession(id: stored.id)
            return nil
        }
        if now.timeIntervalSince(stored.lastSeenAt) >= Self.touchInterval { try await store.touchPersonSession(id: stored.id, at: now) }
        return ConsoleSession(id: stored.id, principal: .person(stored), csrfToken: Self.csrfToken(cookie: cookie), expiresAt: stored.expiresAt)
    }

    /// Ends the session everywhere.
    public func signOut(_ session: ConsoleSession) async throws {
        switch session.principal.kind {
        case .token: _ = try await store.deleteConsoleSession(id: session.id)
        case .person: _ = try await store.deletePersonSession(id: session.id)
        }
    }

    /// HMAC-SHA256 of a fixed label under the cookie value, base64url.
    static func csrfToken(cookie: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("kontor-console-csrf-v1".utf8), using: SymmetricKey(data: Data(cookie.utf8)))
        return Bytes.base64URL(Array(mac))
    }

    /// Constant-time comparison of a submitted form token with the expected one.
    static func tokensMatch(_ submitted: String?, _ expected: String) -> Bool {
        guard let submitted else { return false }
        return Bytes.constantTimeEqual(Array(submitted.utf8), Array(expected.utf8))
    }
}

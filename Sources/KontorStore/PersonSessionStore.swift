import Foundation
import KontorCore

/// Where a person's session is used: the console (an HttpOnly cookie, with CSRF tokens) or the API (kontorctl's
/// bearer). A secret of one channel never opens the other.
public enum PersonSessionChannel: String, Sendable, Codable {
    case console
    case api
}

/// A session of a person signed in through OpenID Connect: who the provider said they are, the role their groups
/// gave them then, and the hash of its secret. The role is a snapshot: it is worked out again at the next sign-in
/// (console) or token refresh (kontorctl), so a change of groups at the provider holds within one lifetime.
public struct StoredPersonSession: Sendable, Equatable {
    public var id: String
    public var secretHash: String
    public var channel: PersonSessionChannel
    /// The provider's `sub`.
    public var subject: String
    public var displayName: String
    public var role: Role
    public var groups: [String]
    public var createdAt: Date
    public var lastSeenAt: Date
    /// The absolute end, however active the session is.
    public var expiresAt: Date

    public init(
        id: String, secretHash: String, channel: PersonSessionChannel, subject: String, displayName: String, role: Role, groups: [String],
        createdAt: Date, lastSeenAt: Date, expiresAt: Date
    ) {
        self.id = id
        self.secretHash = secretHash
        self.channel = channel
        self.subject = subject
        self.displayName = displayName
        self.role = role
        self.groups = groups
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.expiresAt = expiresAt
    }
}

/// A console sign-in on its way through the provider: kept from the redirect to the callback, used once.
public struct PendingSignIn: Sendable, Equatable {
    /// SHA-256 of the `state` parameter (hex): the state itself is only in the browser's round trip.
    public var id: String
    public var nonce: String
    /// The PKCE verifier; the provider saw only its S256 challenge.
    public var codeVerifier: String
    /// Where the console goes after signing in (a console path).
    public var next: String?
    public var createdAt: Date
    public var expiresAt: Date

    public init(id: String, nonce: String, codeVerifier: String, next: String?, createdAt: Date, expiresAt: Date) {
        self.id = id
        self.nonce = nonce
        self.codeVerifier = codeVerifier
        self.next = next
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// Sessions of people and sign-ins in flight, in the store so that every server instance knows them.
public protocol PersonSessionStore: Sendable {
    func insertPersonSession(_ session: StoredPersonSession) async throws
    func personSession(id: String) async throws -> StoredPersonSession?
    /// Moves `lastSeenAt` forward (never back).
    func touchPersonSession(id: String, at: Date) async throws
    /// False when there was no such session.
    func deletePersonSession(id: String) async throws -> Bool
    /// Deletes sessions past their absolute end, and console sessions idle since before `idleBefore`; returns how many.
    func deleteExpiredPersonSessions(now: Date, idleBefore: Date) async throws -> Int

    func insertPendingSignIn(_ pending: PendingSignIn) async throws
    /// The sign-in with this id, deleted as it is read, so a state (and its nonce) is good for one callback only; nil
    /// when unknown, already used or expired at `now`.
    func takePendingSignIn(id: String, now: Date) async throws -> PendingSignIn?
}

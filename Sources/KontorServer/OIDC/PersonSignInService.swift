import Crypto
import Foundation
import KontorCore
import KontorOIDC
import KontorStore

/// Someone the provider vouched for, and the role their groups give (nil: none of their groups is mapped).
public struct SignedInPerson: Sendable, Equatable {
    public var subject: String
    public var name: String
    public var groups: [String]
    public var role: Role?

    /// The log's name for them, the same as their ``Principal/auditActor`` once signed in.
    var auditActor: String { Principal.personActor(name: name, subject: subject) }
}

/// Why a sign-in through the provider did not open a session; the message is for the person and the log.
public struct SignInRefused: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Signing people in through the provider: the console's authorization-code flow with PKCE, and kontorctl's
/// sessions opened with an ID token from the device grant.
public struct PersonSignInService: Sendable {
    let provider: OIDCProvider
    let store: any PersonSessionStore
    let clock: WallClock
    /// A sign-in must come back from the provider within this long.
    static let pendingLifetime: TimeInterval = 600

    public var settings: OIDCSettings { provider.settings }

    /// Starts a console sign-in: keeps the state's hash, the nonce and the PKCE verifier, and returns where to send
    /// the browser.
    public func begin(redirectURI: String, next: String?) async throws -> (location: String, state: String) {
        let metadata = try await provider.discover()
        let state = Self.random()
        let nonce = Self.random()
        let verifier = Self.random()
        let now = clock.now()
        try await store.insertPendingSignIn(
            PendingSignIn(id: Self.digest(state), nonce: nonce, codeVerifier: verifier, next: next, createdAt: now, expiresAt: now + Self.pendingLifetime))
        let challenge = Bytes.base64URL(Array(SHA256.hash(data: Data(verifier.utf8))))
        let query = OIDCProvider.form([
            "response_type": "code", "client_id": settings.clientId, "redirect_uri": redirectURI, "scope": settings.scopes.joined(separator: " "),
            "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256",
        ])
        return (metadata.authorizationEndpoint + (metadata.authorizationEndpoint.contains("?") ? "&" : "?") + query, state)
    }

    /// Finishes a console sign-in: the state must be one this server handed out and not yet used (so a callback
    /// works once), the code is exchanged with its verifier, and the ID token must carry this sign-in's nonce.
    public func complete(state: String, code: String, redirectURI: String) async throws -> (SignedInPerson, next: String?) {
        guard let pending = try await store.takePendingSignIn(id: Self.digest(state), now: clock.now()) else {
            throw SignInRefused("this sign-in was already used or took longer than ten minutes; start again")
        }
        let tokens = try await provider.exchange(code: code, verifier: pending.codeVerifier, redirectURI: redirectURI)
        guard let idToken = tokens.idToken else { throw SignInRefused("the provider sent no ID token (is the openid scope allowed?)") }
        let claims = try await provider.validate(idToken: idToken, audience: settings.clientId, nonce: pending.nonce)
        return (person(claims), pending.next)
    }

    /// Opens a kontorctl session for an ID token issued to kontorctl's client. Each token opens one session: it is
    /// remembered until it expires, so a copied token opens nothing more.
    public func openAPISession(idToken: String) async throws -> (token: String, session: StoredPersonSession, person: SignedInPerson) {
        guard let cliClientId = settings.cliClientId else { throw SignInRefused("kontorctl login is not set up on this server (oidcCliClientId)") }
        let claims = try await provider.validate(idToken: idToken, audience: cliClientId, nonce: nil)
        let person = person(claims)
        guard let role = person.role else { throw SignInRefused("none of your groups has a Kontor role") }
        let now = clock.now()
        do {
            try await store.insertPendingSignIn(
                PendingSignIn(
                    id: "id-token:" + Self.digest(idToken), nonce: "", codeVerifier: "", next: nil, createdAt: now, expiresAt: max(claims.expires, now) + 120))
        } catch StoreError.conflict {
            throw SignInRefused("this ID token has opened a session already; fetch a fresh one (kontorctl login)")
        }
        _ = try await store.deleteExpiredPersonSessions(now: now, idleBefore: .distantPast)
        let secret = IssuedSecret.generate(.personSession)
        let session = StoredPersonSession(
            id: secret.id, secretHash: secret.secretHash, channel: .api, subject: person.subject, displayName: person.name, role: role,
            groups: person.groups, createdAt: now, lastSeenAt: now, expiresAt: now + settings.apiSessionLifetime)
        try await store.insertPersonSession(session)
        return (secret.token, session, person)
    }

    /// The person behind a kontorctl bearer, or nil for an unknown, forged, expired or console secret.
    public func authenticate(bearer: String) async throws -> Principal? {
        guard let presented = PresentedSecret(bearer, kind: .personSession), let stored = try await store.personSession(id: presented.id),
            presented.matches(storedHash: stored.secretHash), stored.channel == .api, clock.now() < stored.expiresAt
        else { return nil }
        return .person(stored)
    }

    /// Ends a kontorctl session.
    public func end(sessionId: String) async throws { _ = try await store.deletePersonSession(id: sessionId) }

    private func person(_ claims: IDTokenClaims) -> SignedInPerson {
        let name = String(claims.displayName.prefix(200))
        return SignedInPerson(subject: claims.subject, name: name, groups: claims.groups, role: settings.role(for: claims.groups))
    }

    /// 32 random bytes, base64url (43 characters: a PKCE verifier's length, RFC 7636 §4.1).
    static func random() -> String { Bytes.base64URL(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }) }

    static func digest(_ text: String) -> String { Bytes.sha256Hex(Data(text.utf8)) }
}

import Foundation

/// What Kontor takes from a verified ID token.
public struct IDTokenClaims: Sendable, Equatable {
    public var issuer: String
    public var subject: String
    public var audience: [String]
    public var expires: Date
    public var issuedAt: Date?
    public var nonce: String?
    public var name: String?
    public var email: String?
    public var preferredUsername: String?
    /// The groups claim (its name is a setting: `groups` for Keycloak, `groups` or `roles` for Entra ID).
    public var groups: [String]

    /// The name to show for the person: name, else preferred_username, else email, else the subject.
    public var displayName: String { [name, preferredUsername, email].compactMap { $0 }.first { !$0.isEmpty } ?? subject }
}

/// Checks an ID token (OpenID Connect Core §3.1.3.7): the signature with the provider's keys, the issuer
/// exactly, the audience (and `azp` when there are several), the expiry and issue time with a leeway, and the
/// nonce of this sign-in.
public struct IDTokenValidator: Sendable {
    public var issuer: String
    public var clientId: String
    public var groupsClaim: String
    /// Clock difference tolerated between Kontor and the provider.
    public var leeway: TimeInterval

    public init(issuer: String, clientId: String, groupsClaim: String = "groups", leeway: TimeInterval = 60) {
        self.issuer = issuer
        self.clientId = clientId
        self.groupsClaim = groupsClaim
        self.leeway = leeway
    }

    /// The claims of `token`, or an error naming the first check it fails. `nonce` is the one this sign-in
    /// sent (nil for tokens that carry none, e.g. from a refresh).
    public func validate(_ token: String, keys: JWKSet, nonce: String?, now: Date) throws -> IDTokenClaims {
        let jws = try JWS(compact: token)
        try jws.verify(with: keys)
        guard let object = try? JSONSerialization.jsonObject(with: Data(jws.payload)) as? [String: Any] else {
            throw JOSEError.malformed("the payload is not a JSON object")
        }
        guard let iss = object["iss"] as? String, iss == issuer else {
            throw JOSEError.claim("iss: the token is from \"\(object["iss"] as? String ?? "")\", not from the configured issuer \(issuer)")
        }
        guard let sub = object["sub"] as? String, !sub.isEmpty, sub.utf8.count <= 255 else { throw JOSEError.claim("sub: missing or longer than 255 bytes") }
        let audience = (object["aud"] as? String).map { [$0] } ?? (object["aud"] as? [String]) ?? []
        guard audience.contains(clientId) else { throw JOSEError.claim("aud: the token is for \(audience), not for this client (\(clientId))") }
        if audience.count > 1, object["azp"] as? String != clientId {
            throw JOSEError.claim("azp: a token for several audiences must name this client as its authorized party")
        }
        guard let exp = Self.seconds(object["exp"]) else { throw JOSEError.claim("exp: missing") }
        guard Date(timeIntervalSince1970: exp) > now.addingTimeInterval(-leeway) else { throw JOSEError.claim("exp: the token expired") }
        let iat = Self.seconds(object["iat"]).map { Date(timeIntervalSince1970: $0) }
        if let iat, iat > now.addingTimeInterval(leeway) { throw JOSEError.claim("iat: the token was issued in the future") }
        if let nonce, object["nonce"] as? String != nonce { throw JOSEError.claim("nonce: not the one this sign-in sent (a replayed or foreign token)") }
        return IDTokenClaims(
            issuer: iss, subject: sub, audience: audience, expires: Date(timeIntervalSince1970: exp), issuedAt: iat, nonce: object["nonce"] as? String,
            name: object["name"] as? String, email: object["email"] as? String, preferredUsername: object["preferred_username"] as? String,
            groups: (object[groupsClaim] as? [String]) ?? (object[groupsClaim] as? String).map { [$0] } ?? [])
    }

    /// A NumericDate (seconds since 1970, possibly fractional).
    private static func seconds(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
}

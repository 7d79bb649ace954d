import AsyncHTTPClient
import Foundation
import KontorCore
import KontorOIDC
import NIOCore
import NIOHTTP1

/// Why talking to the provider failed; the message names the step and never a secret.
public struct OIDCError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The provider as Kontor uses it: its discovery document, its keys (fetched again when a token names a key not
/// yet seen, at most once a minute) and its token endpoint.
public actor OIDCProvider {
    /// The parts of the discovery document (OpenID Connect Discovery 1.0) Kontor reads.
    public struct Metadata: Codable, Sendable, Equatable {
        public var issuer: String
        public var authorizationEndpoint: String
        public var tokenEndpoint: String
        public var jwksURI: String
        public var deviceAuthorizationEndpoint: String?
        public var endSessionEndpoint: String?

        enum CodingKeys: String, CodingKey {
            case issuer
            case authorizationEndpoint = "authorization_endpoint"
            case tokenEndpoint = "token_endpoint"
            case jwksURI = "jwks_uri"
            case deviceAuthorizationEndpoint = "device_authorization_endpoint"
            case endSessionEndpoint = "end_session_endpoint"
        }
    }

    /// A token endpoint's answer.
    public struct Tokens: Decodable, Sendable {
        public var idToken: String?
        public var refreshToken: String?
        enum CodingKeys: String, CodingKey {
            case idToken = "id_token"
            case refreshToken = "refresh_token"
        }
    }

    public let settings: OIDCSettings
    let http: HTTPClient
    let clock: WallClock
    /// The discovery document is fetched again after this long.
    let metadataLifetime: TimeInterval = 3600
    /// A token naming an unknown key fetches the key set again at most this often.
    let keyRefetchInterval: TimeInterval = 60
    private var metadata: (Metadata, fetchedAt: Date)?
    private var keys: (JWKSet, fetchedAt: Date)?

    public init(settings: OIDCSettings, http: HTTPClient = .shared, clock: WallClock) {
        self.settings = settings
        self.http = http
        self.clock = clock
    }

    /// The discovery document, cached; its issuer must be the configured one exactly.
    public func discover() async throws -> Metadata {
        if let metadata, clock.now().timeIntervalSince(metadata.fetchedAt) < metadataLifetime { return metadata.0 }
        let url = settings.issuer.hasSuffix("/") ? settings.issuer + ".well-known/openid-configuration" : settings.issuer + "/.well-known/openid-configuration"
        let found = try await getJSON(Metadata.self, url, what: "the discovery document")
        guard found.issuer == settings.issuer else {
            throw OIDCError("the discovery document names the issuer \"\(found.issuer)\", not the configured \(settings.issuer)")
        }
        metadata = (found, clock.now())
        return found
    }

    /// Checks an ID token for `audience` (the console's or kontorctl's client) and, for a console sign-in, its
    /// nonce. A token signed by a key not in the cached set fetches the set again (a rotation), once a minute
    /// at most; keys no longer published are forgotten then.
    public func validate(idToken: String, audience: String, nonce: String?) async throws -> IDTokenClaims {
        let validator = IDTokenValidator(issuer: settings.issuer, clientId: audience, groupsClaim: settings.groupsClaim)
        let now = clock.now()
        _ = try JWS(compact: idToken)  // a malformed token is refused before the provider is asked for anything
        let current = try await keySet(refresh: false)
        do {
            return try validator.validate(idToken, keys: current, nonce: nonce, now: now)
        } catch JOSEError.unknownKey(let kid) {
            guard let keys, now.timeIntervalSince(keys.fetchedAt) >= keyRefetchInterval else { throw JOSEError.unknownKey(kid) }
            return try validator.validate(idToken, keys: try await keySet(refresh: true), nonce: nonce, now: now)
        }
    }

    private func keySet(refresh: Bool) async throws -> JWKSet {
        if !refresh, let keys { return keys.0 }
        let fetched = try await getJSON(JWKSet.self, try await discover().jwksURI, what: "the key set")
        keys = (fetched, clock.now())
        return fetched
    }

    /// Exchanges an authorization code (with its PKCE verifier) at the token endpoint, as the console's client.
    public func exchange(code: String, verifier: String, redirectURI: String) async throws -> Tokens {
        try await token(
            ["grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": redirectURI, "client_id": settings.clientId])
    }

    private func token(_ form: [String: String]) async throws -> Tokens {
        var request = HTTPClientRequest(url: try await discover().tokenEndpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        if let secret = settings.clientSecret {
            let pair = "\(Self.formEncode(settings.clientId)):\(Self.formEncode(secret))"
            request.headers.add(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        }
        request.body = .bytes(ByteBuffer(string: Self.form(form)))
        let (status, body) = try await send(request, what: "the token endpoint")
        guard status == 200 else {
            let error = (try? JSONDecoder().decode([String: String].self, from: body))?["error"] ?? "HTTP \(status)"
            throw OIDCError("the token endpoint refused the code: \(error.prefix(100))")
        }
        do {
            return try JSONDecoder().decode(Tokens.self, from: body)
        } catch {
            throw OIDCError("the token endpoint's answer is not a token response")
        }
    }

    private func getJSON<T: Decodable>(_ type: T.Type, _ url: String, what: String) async throws -> T {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let (status, body) = try await send(request, what: what)
        guard status == 200 else { throw OIDCError("\(what) at \(url) answered HTTP \(status)") }
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch {
            throw OIDCError("\(what) at \(url) is not what OpenID Connect describes")
        }
    }

    private func send(_ request: HTTPClientRequest, what: String) async throws -> (Int, Data) {
        do {
            let response = try await http.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 512 * 1024)
            return (Int(response.status.code), Data(buffer: body))
        } catch let error as OIDCError {
            throw error
        } catch {
            throw OIDCError("\(what) could not be reached (\(type(of: error)))")
        }
    }

    /// `application/x-www-form-urlencoded`, keys sorted.
    static func form(_ fields: [String: String]) -> String {
        fields.sorted { $0.key < $1.key }.map { "\(formEncode($0.key))=\(formEncode($0.value))" }.joined(separator: "&")
    }

    static func formEncode(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

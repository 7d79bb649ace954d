import Crypto
import Foundation
import KontorClient
import KontorCore
import KontorOIDC
import KontorServer
import KontorTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The Authlib provider of Tests/Interop/oidc_provider.py, started for one test on a free port.
final class TestProvider {
    let url: String
    private let process = Process()
    let transport = HTTP1Transport()
    static let redirect = "http://127.0.0.1:8080/console/oidc/callback"

    init(alg: String) async throws {
        let port = try ServerProcess.freePort()
        url = "http://127.0.0.1:\(port)"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Interop/oidc_provider.py")
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] ?? "python3")
        process.arguments = ["-W", "ignore", script.path, String(port), alg]
        process.environment = ProcessInfo.processInfo.environment.merging(["AUTHLIB_INSECURE_TRANSPORT": "1"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if (try? await plainGET(url + "/.well-known/openid-configuration", timeout: .seconds(1)))?.status == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await call(.PUT, "/test/users/ada", json: #"{"name": "Ada Lovelace", "email": "ada@example.org", "groups": ["kontor-admins"]}"#)
        try await call(.PUT, "/test/clients/kontor-console", json: #"{"secret": "s3cret", "redirect_uris": ["\#(Self.redirect)"]}"#)
    }

    /// Ends the provider (a child process outlives the test otherwise). SIGKILL: the Python process started
    /// from the test runner ignores SIGTERM (seen), and a killed test server holds nothing worth a clean exit.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitForExit()
    }

    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, json: String? = nil, form: [String: String]? = nil, basic: String? = nil) async throws -> HTTPExchange {
        var headers: [(String, String)] = []
        var body: Data?
        if let json {
            headers.append(("Content-Type", "application/json"))
            body = Data(json.utf8)
        }
        if let form {
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            body = Data(form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&").utf8)
        }
        if let basic { headers.append(("Authorization", "Basic " + Data(basic.utf8).base64EncodedString())) }
        return try await transport.send(method: method, url: url + path, headers: headers, body: body, limit: 1 << 20, timeout: .seconds(10))
    }

    /// The code flow with PKCE, as a browser and the console would do it; returns the ID token.
    func idToken(nonce: String) async throws -> String {
        let verifier = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
        let challenge = Base64URL.encode(SHA256.hash(data: Array(verifier.utf8)))
        let query = [
            "response_type=code", "client_id=kontor-console", "redirect_uri=\(Self.redirect.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)",
            "scope=openid%20profile%20email", "state=st", "nonce=\(nonce)", "code_challenge=\(challenge)", "code_challenge_method=S256",
        ].joined(separator: "&")
        let approved = try await call(.POST, "/authorize?" + query, form: ["sub": "ada"])
        let location = try #require(approved.headers.first { $0.0.lowercased() == "location" }?.1)
        let code = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "code" }?.value)
        let token = try await call(
            .POST, "/token", form: ["grant_type": "authorization_code", "code": code, "redirect_uri": Self.redirect, "code_verifier": verifier],
            basic: "kontor-console:s3cret")
        let object = try JSONSerialization.jsonObject(with: token.body) as? [String: Any]
        return try #require(object?["id_token"] as? String, "\(String(decoding: token.body, as: UTF8.self))")
    }

    func keys() async throws -> JWKSet { try JSONDecoder().decode(JWKSet.self, from: try await call(.GET, "/jwks").body) }
}

/// Kontor's ID-token checks against an independent OpenID provider (Authlib): tokens it signs with RS256,
/// ES256 and EdDSA verify with the keys it publishes; the tokens it spoils on request are each refused.
@Suite(
    "OpenID Connect against an independent provider (Authlib)", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil, "set KONTOR_INTEROP_PYTHON to a Python with authlib and flask"))
struct OIDCProviderEndToEndTests {
    @Test("each algorithm the provider rotates to verifies; after a rotation that drops the old key, its tokens are refused")
    func algorithmsAndRotation() async throws {
        let provider = try await TestProvider(alg: "RS256")
        defer { provider.stop() }
        let validator = IDTokenValidator(issuer: provider.url, clientId: "kontor-console")
        let first = try await provider.idToken(nonce: "n-rs")
        for (alg, nonce) in [("ES256", "n-es"), ("EdDSA", "n-ed"), ("RS256", "n-rs2")] {
            try await provider.call(.POST, "/test/rotate", json: #"{"alg": "\#(alg)", "keep_old": true}"#)
            let claims = try validator.validate(try await provider.idToken(nonce: nonce), keys: try await provider.keys(), nonce: nonce, now: Date())
            #expect(claims.subject == "ada" && claims.displayName == "Ada Lovelace" && claims.groups == ["kontor-admins"], "\(alg)")
        }
        #expect(throws: JOSEError.self, "a token of a key no longer published") {
            try validator.validate(first, keys: JWKSet(keys: []), nonce: "n-rs", now: Date())
        }
        try await provider.call(.POST, "/test/rotate", json: #"{"alg": "ES256", "keep_old": false}"#)
        let keys = try await provider.keys()
        #expect(keys.keys.count == 1)
        #expect(throws: JOSEError.self) { try validator.validate(first, keys: keys, nonce: "n-rs", now: Date()) }
    }

    @Test("the server's provider client fetches the keys again for a rotated key, at most once a minute, and forgets dropped keys")
    func keyCacheFollowsRotation() async throws {
        let provider = try await TestProvider(alg: "RS256")
        defer { provider.stop() }
        let now = Mutex(Date())
        let settings = OIDCSettings(
            issuer: provider.url, clientId: "kontor-console", clientSecret: "s3cret", cliClientId: nil, groupsClaim: "groups",
            roles: ["kontor-admins": .admin], scopes: ["openid"], apiSessionLifetime: 3600)
        let client = OIDCProvider(settings: settings, clock: WallClock { now.withLock { $0 } })
        let first = try await provider.idToken(nonce: "n1")
        #expect(try await client.validate(idToken: first, audience: "kontor-console", nonce: "n1").subject == "ada")
        try await provider.call(.POST, "/test/rotate", json: #"{"alg": "ES256", "keep_old": true}"#)
        let rotated = try await provider.idToken(nonce: "n2")
        // Within a minute of the last fetch a key not seen is refused without asking the provider again.
        await #expect(throws: JOSEError.self) { try await client.validate(idToken: rotated, audience: "kontor-console", nonce: "n2") }
        now.withLock { $0 += 61 }
        #expect(try await client.validate(idToken: rotated, audience: "kontor-console", nonce: "n2").subject == "ada")
        #expect(try await client.validate(idToken: first, audience: "kontor-console", nonce: "n1").subject == "ada", "the old key is still published")
        try await provider.call(.POST, "/test/rotate", json: #"{"alg": "EdDSA", "keep_old": false}"#)
        now.withLock { $0 += 61 }
        let third = try await provider.idToken(nonce: "n3")
        #expect(try await client.validate(idToken: third, audience: "kontor-console", nonce: "n3").subject == "ada")
        await #expect(throws: JOSEError.self, "a dropped key is forgotten") {
            try await client.validate(idToken: rotated, audience: "kontor-console", nonce: "n2")
        }
        await #expect(throws: JOSEError.self, "the console's token is not kontorctl's") {
            try await client.validate(idToken: third, audience: "kontorctl", nonce: String?.none)
        }
    }

    @Test(
        "the provider's spoiled tokens are refused: another audience, expired, another issuer, a bad signature, a replayed nonce",
        arguments: [
            (#"{"aud": "someone-else"}"#, "aud"), (#"{"exp": -600}"#, "exp"), (#"{"iss": "http://evil.example"}"#, "iss"),
            (#"{"bad_sig": true}"#, "the signature"), (#"{"nonce": "n-old"}"#, "nonce"),
        ])
    func faults(fault: String, named: String) async throws {
        let provider = try await TestProvider(alg: "RS256")
        defer { provider.stop() }
        let validator = IDTokenValidator(issuer: provider.url, clientId: "kontor-console")
        try await provider.call(.POST, "/test/fault", json: fault)
        let token = try await provider.idToken(nonce: "n-now")
        let keys = try await provider.keys()
        #expect {
            try validator.validate(token, keys: keys, nonce: "n-now", now: Date())
        } throws: { error in
            "\(error)".contains(named)
        }
    }
}

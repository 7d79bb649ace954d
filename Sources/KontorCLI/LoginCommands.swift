import ArgumentParser
import Foundation
import Glibc
import KontorClient
import KontorCore

/// `kontorctl login`: the person signs in at the organisation's provider (the device authorization grant,
/// RFC 8628: a code to enter in any browser), and kontorctl keeps a short session for the server and the
/// provider's refresh token in the user's config (0600).
struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sign in as yourself through your organisation's account (single sign-on).")
    @Option(name: .long, help: "Server URL (or KONTOR_SERVER).") var server: String?
    @Option(name: .customLong("ca-file"), help: "PEM CA certificates to trust for the server and the provider (or KONTOR_CA_FILE).") var caFile: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        do {
            guard let serverText = server ?? env["KONTOR_SERVER"] else { throw ClientError.usage("no server: pass --server URL or set KONTOR_SERVER") }
            let caFile = caFile ?? env["KONTOR_CA_FILE"]
            let server = try ServerURL(serverText)
            let client = SignInClient(transport: HTTP1Transport(.init(caFile: caFile)))
            let signIn = try await client.getJSON(ServerSignIn.self, server.url("/api/v1/auth/oidc"), what: "the server's sign-in settings")
            let provider = try await DeviceGrant.endpoints(client, issuer: signIn.issuer)
            let tokens = try await DeviceGrant(client: client, provider: provider, clientId: signIn.clientId).run(scopes: signIn.scopes)
            guard let idToken = tokens.idToken else { throw ClientError.badResponse("the provider sent no ID token") }
            let opened = try await client.openSession(server: server, idToken: idToken)
            let session = LoginSession(
                server: serverText, caFile: caFile, sessionToken: opened.token, expiresAt: opened.expiresAt, name: opened.name, subject: opened.subject,
                role: opened.role, issuer: signIn.issuer, clientId: signIn.clientId, tokenEndpoint: provider.tokenEndpoint, refreshToken: tokens.refreshToken)
            try session.save()
            print("Signed in as \(opened.name) (\(opened.role)) on \(server.url("")); the session is kept in \(LoginSession.path).")
        } catch let error as ClientError {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}

/// `kontorctl logout`: ends the session at the server and forgets it here.
struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "End your single sign-on session and forget it.")

    func run() async throws {
        guard let session = try? LoginSession.load() else {
            print("Not signed in.")
            return
        }
        if session.expiresAt > Date(),
            let client = try? AdminClient(server: session.server, token: session.sessionToken, transport: HTTP1Transport(.init(caFile: session.caFile)))
        {
            _ = try? await client.raw(.DELETE, "/auth/session")
        }
        LoginSession.remove()
        print("Signed out of \(session.server).")
    }
}

/// The device authorization grant (RFC 8628) as a public client.
struct DeviceGrant {
    let client: SignInClient
    let provider: ProviderEndpoints
    let clientId: String
    static let grantType = "urn:ietf:params:oauth:grant-type:device_code"

    struct Authorization: Decodable {
        var deviceCode: String
        var userCode: String
        var verificationURI: String
        var verificationURIComplete: String?
        var expiresIn: Int
        var interval: Int?
        enum CodingKeys: String, CodingKey {
            case deviceCode = "device_code"
            case userCode = "user_code"
            case verificationURI = "verification_uri"
            case verificationURIComplete = "verification_uri_complete"
            case expiresIn = "expires_in"
            case interval
        }
    }

    static func endpoints(_ client: SignInClient, issuer: String) async throws -> ProviderEndpoints {
        let url = (issuer.hasSuffix("/") ? issuer : issuer + "/") + ".well-known/openid-configuration"
        let found = try await client.getJSON(ProviderEndpoints.self, url, what: "the provider's discovery document")
        guard found.issuer == issuer else { throw ClientError.badResponse("the provider's discovery document names another issuer (\(found.issuer))") }
        return found
    }

    /// Asks for a code, shows it, and waits (at the provider's pace) until the person has entered it.
    func run(scopes: [String]) async throws -> ProviderTokens {
        guard let endpoint = provider.deviceAuthorizationEndpoint else {
            throw ClientError.usage("the provider offers no device authorization (RFC 8628); enable it for kontorctl's client")
        }
        let (status, authorization) = try await client.postForm(
            Authorization.self, endpoint, ["client_id": clientId, "scope": scopes.joined(separator: " ")], what: "the device authorization")
        guard status == 200 else { throw ClientError.badResponse("the device authorization answered HTTP \(status)") }
        print("To sign in, open \(authorization.verificationURI) and enter the code \(authorization.userCode)")
        if let complete = authorization.verificationURIComplete { print("(or open \(complete))") }
        fflush(nil)  // the person needs the code now, also when the output is a pipe
        var interval = max(authorization.interval ?? 5, 1)
        let deadline = Date().addingTimeInterval(TimeInterval(min(authorization.expiresIn, 3600)))
        while Date() < deadline {
            try await Task.sleep(for: .seconds(interval))
            let (status, tokens) = try await client.postForm(
                ProviderTokens.self, provider.tokenEndpoint,
                ["grant_type": Self.grantType, "device_code": authorization.deviceCode, "client_id": clientId], what: "the token endpoint")
            if status == 200 { return tokens }
            switch tokens.error {
            case "authorization_pending": continue
            case "slow_down": interval += 5
            case "access_denied": throw ClientError.usage("the sign-in was declined at the provider")
            case "expired_token": throw ClientError.usage("the code expired before it was entered; run kontorctl login again")
            default: throw ClientError.badResponse("the token endpoint refused: \(tokens.error ?? "HTTP \(status)") \(tokens.errorDescription ?? "")")
            }
        }
        throw ClientError.usage("the code expired before it was entered; run kontorctl login again")
    }

    /// A fresh ID token for a saved session, from its refresh token.
    static func refresh(_ session: LoginSession, client: SignInClient) async throws -> ProviderTokens {
        guard let refreshToken = session.refreshToken else { throw ClientError.usage("your session has ended; run kontorctl login") }
        let (status, tokens) = try await client.postForm(
            ProviderTokens.self, session.tokenEndpoint, ["grant_type": "refresh_token", "refresh_token": refreshToken, "client_id": session.clientId],
            what: "the token endpoint")
        guard status == 200, tokens.idToken != nil else {
            throw ClientError.usage("your session has ended and the provider did not renew it (\(tokens.error ?? "HTTP \(status)")); run kontorctl login")
        }
        return tokens
    }
}

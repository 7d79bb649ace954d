import Foundation
import Glibc
import KontorClient
import KontorCore

/// What `kontorctl login` keeps: the server, a short session for its API, and the provider's refresh token to get
/// the next session without asking the person again. One file, readable only by its owner (0600).
struct LoginSession: Codable, Equatable {
    var server: String
    var caFile: String?
    var sessionToken: String
    var expiresAt: Date
    var name: String
    var subject: String
    var role: String
    var issuer: String
    var clientId: String
    var tokenEndpoint: String
    var refreshToken: String?

    /// `KONTORCTL_CONFIG`, else `$XDG_CONFIG_HOME/kontor/kontorctl.json`, else `~/.config/kontor/kontorctl.json`.
    static var path: String {
        let env = ProcessInfo.processInfo.environment
        if let path = env["KONTORCTL_CONFIG"], !path.isEmpty { return path }
        let base = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((env["HOME"] ?? NSHomeDirectory()) + "/.config")
        return base + "/kontor/kontorctl.json"
    }

    /// The saved session, or nil when there is none. A file others may read is refused (it holds a secret).
    static func load(from path: String = path) throws -> LoginSession? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        guard info.st_mode & 0o077 == 0 else { throw ClientError.usage("\(path): others may read it; chmod 600 it or run kontorctl login again") }
        guard let data = FileManager.default.contents(atPath: path) else { throw ClientError.usage("\(path): cannot read it") }
        do {
            return try KontorJSON.decode(LoginSession.self, from: data)
        } catch {
            throw ClientError.usage("\(path): not a kontorctl session file (\(error)); run kontorctl login again")
        }
    }

    /// Writes the file with mode 0600 from its first byte (in a 0700 folder), replacing any old one at once.
    func save(to path: String = path) throws {
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw ClientError.usage("\(temp): cannot create (\(String(cString: strerror(errno))))") }
        let data = try KontorJSON.encode(self)
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == data.count, synced, rename(temp, path) == 0 else {
            unlink(temp)
            throw ClientError.usage("\(path): cannot write (\(String(cString: strerror(errno))))")
        }
    }

    static func remove(at path: String = path) { unlink(path) }
}

/// The provider's endpoints kontorctl uses (OpenID Connect Discovery, RFC 8628).
struct ProviderEndpoints: Decodable {
    var issuer: String
    var tokenEndpoint: String
    var deviceAuthorizationEndpoint: String?

    enum CodingKeys: String, CodingKey {
        case issuer
        case tokenEndpoint = "token_endpoint"
        case deviceAuthorizationEndpoint = "device_authorization_endpoint"
    }
}

/// A token endpoint's answer, or its error.
struct ProviderTokens: Decodable {
    var idToken: String?
    var refreshToken: String?
    var error: String?
    var errorDescription: String?

    enum CodingKeys: String, CodingKey {
        case idToken = "id_token"
        case refreshToken = "refresh_token"
        case error
        case errorDescription = "error_description"
    }
}

/// What the server says about its provider (`GET /api/v1/auth/oidc`), and the session it opens.
struct ServerSignIn: Decodable {
    var issuer: String
    var clientId: String
    var scopes: [String]
}
struct OpenedSession: Decodable {
    var token: String
    var expiresAt: Date
    var subject: String
    var name: String
    var role: String
}

/// Talking to the provider and to the server's session door, without an API token.
struct SignInClient {
    let transport: any HTTPTransport

    func getJSON<T: Decodable>(_ type: T.Type, _ url: String, what: String) async throws -> T {
        let exchange = try await transport.send(
            method: .GET, url: url, headers: [("Accept", "application/json")], body: nil, limit: 1 << 20, timeout: .seconds(15))
        guard exchange.status == 200 else { throw apiErrorOrStatus(exchange, what: what) }
        do {
            return try KontorJSON.decode(type, from: exchange.body)
        } catch {
            throw ClientError.badResponse("\(what): \(error)")
        }
    }

    /// POSTs a form; returns the status and the decoded body (errors included: the device grant answers 400 while it waits).
    func postForm<T: Decodable>(_ type: T.Type, _ url: String, _ fields: [String: String], what: String) async throws -> (Int, T) {
        let body = fields.sorted { $0.key < $1.key }.map { "\(Self.formValue($0.key))=\(Self.formValue($0.value))" }.joined(separator: "&")
        let exchange = try await transport.send(
            method: .POST, url: url, headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: Data(body.utf8), limit: 1 << 20, timeout: .seconds(15))
        do {
            return (exchange.status, try KontorJSON.decode(type, from: exchange.body))
        } catch {
            throw ClientError.badResponse("\(what) answered HTTP \(exchange.status) without JSON")
        }
    }

    /// Opens a Kontor session for an ID token.
    func openSession(server: ServerURL, idToken: String) async throws -> OpenedSession {
        let exchange = try await transport.send(
            method: .POST, url: server.url("/api/v1/auth/oidc/session"), headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: try KontorJSON.encode(["idToken": idToken]), limit: 1 << 20, timeout: .seconds(15))
        guard exchange.status == 201 else { throw apiError(exchange) }
        do {
            return try KontorJSON.decode(OpenedSession.self, from: exchange.body)
        } catch {
            throw ClientError.badResponse("the session answer: \(error)")
        }
    }

    /// A form value: everything but the unreserved characters percent-encoded (`+`, `&`, `=` included).
    static func formValue(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(UnicodeScalar(byte))
            if byte < 0x80, c.isLetter || c.isNumber || "-._~".contains(c) { out.append(c) } else { out += String(format: "%%%02X", byte) }
        }
        return out
    }

    private func apiErrorOrStatus(_ exchange: HTTPExchange, what: String) -> ClientError {
        if case .api(_, let code, _) = apiError(exchange), !code.hasPrefix("http_") { return apiError(exchange) }
        return .badResponse("\(what) answered HTTP \(exchange.status)")
    }
}

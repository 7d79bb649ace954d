import KontorCore
import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What went wrong talking to a Kontor server, in words a person can act on.
public enum ClientError: Error, CustomStringConvertible, Equatable {
    /// The server answered with a JSON error.
    case api(status: Int, code: String, message: String)
    /// The server could not be reached or the connection failed.
    case transport(String)
    /// The server's answer was not what the protocol allows (not JSON, unsigned, tampered, too large).
    case badResponse(String)
    /// The caller's input was unusable before anything was sent.
    case usage(String)
    /// The server is busy or limiting this client and asked to retry after this many seconds.
    case retryLater(seconds: Int, status: Int)
    /// The server said, in a reply signed by the pinned server key, that this device is revoked.
    case deviceRevoked(String)

    public var description: String {
        switch self {
        case .api(let status, let code, let message): "\(code) (HTTP \(status)): \(message)"
        case .transport(let why): "cannot reach the server: \(why)"
        case .badResponse(let why): "unexpected answer from the server: \(why)"
        case .usage(let why): why
        case .retryLater(let seconds, let status): "server busy (HTTP \(status)); asked to retry in \(seconds) s"
        case .deviceRevoked(let message): "device_revoked (signed by the server): \(message)"
        }
    }

    /// The stable API error code, when the server sent one.
    public var code: String? {
        if case .api(_, let code, _) = self { return code }
        return nil
    }
}

/// A raw HTTP exchange.
public struct HTTPExchange: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public init(status: Int, headers: [(String, String)], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A server base URL split into what requests and signatures need.
public struct ServerURL: Sendable, Equatable {
    public let scheme: String
    public let host: String
    public let port: Int
    /// `host[:port]`, the port left out when it is the scheme's default: what goes in Host and @authority.
    public let authority: String
    public let basePath: String

    public init(_ text: String) throws {
        guard let components = URLComponents(string: text.trimmingSpaces()), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { throw ClientError.usage("\"\(text)\" is not a server URL such as https://kontor.example.org") }
        self.scheme = scheme
        self.host = host
        let defaultPort = scheme == "https" ? 443 : 80
        self.port = components.port ?? defaultPort
        let shownHost = host.contains(":") ? "[\(host)]" : host
        self.authority = (port == defaultPort ? shownHost : "\(shownHost):\(port)").lowercased()
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.basePath = path
    }

    /// The absolute URL of `path` (which starts with /) and an optional encoded query.
    public func url(_ path: String, query: String? = nil) -> String {
        "\(scheme)://\(authority)\(basePath)\(path)" + (query.map { "?\($0)" } ?? "")
    }
}

/// Carries one HTTP exchange. The agent and tests may bring their own (a custom CA, a fault injector).
public protocol HTTPTransport: Sendable {
    func send(method: HTTPMethod, url: String, headers: [(String, String)], body: Data?, limit: Int, timeout: TimeAmount) async throws -> HTTPExchange
}

/// Decodes a JSON error body, falling back to the status line. 429 and 503 with Retry-After become
/// `retryLater`.
public func apiError(_ exchange: HTTPExchange) -> ClientError {
    if exchange.status == 429 || exchange.status == 503,
        let value = exchange.headers.first(where: { $0.0.lowercased() == "retry-after" })?.1.trimmingSpaces(),
        let seconds = Int(value), seconds >= 0
    {
        return .retryLater(seconds: min(seconds, 86_400), status: exchange.status)
    }
    if let body = try? KontorJSON.decode(APIErrorBody.self, from: exchange.body) {
        return .api(status: exchange.status, code: body.error.code, message: body.error.message)
    }
    let snippet = String(decoding: exchange.body.prefix(200), as: UTF8.self)
    return .api(status: exchange.status, code: "http_\(exchange.status)", message: snippet.isEmpty ? "no error body" : snippet)
}

/// A plain GET, for health probes and scraping /metrics.
public func plainGET(_ url: String, transport: any HTTPTransport = HTTP1Transport(), timeout: TimeAmount = .seconds(5)) async throws -> HTTPExchange {
    try await transport.send(method: .GET, url: url, headers: [], body: nil, limit: 16 << 20, timeout: timeout)
}

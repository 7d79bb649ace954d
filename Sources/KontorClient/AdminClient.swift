import KontorCore
import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A client of the admin API, authenticated with an API token.
public struct AdminClient: Sendable {
    public let server: ServerURL
    let token: String
    let transport: any HTTPTransport

    public init(server: String, token: String, transport: any HTTPTransport = HTTP1Transport()) throws {
        self.server = try ServerURL(server)
        guard !token.isEmpty else { throw ClientError.usage("no API token: pass --token or set KONTOR_TOKEN") }
        self.token = token
        self.transport = transport
    }

    /// Performs a request and returns the raw exchange when it succeeded (2xx).
    public func raw(
        _ method: HTTPMethod, _ path: String, query: String? = nil, json body: Data? = nil, limit: Int = 512 << 20, timeout: TimeAmount = .seconds(15)
    ) async throws -> HTTPExchange {
        var headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let exchange = try await transport.send(
            method: method, url: server.url("/api/v1" + path, query: query), headers: headers, body: body, limit: limit, timeout: timeout)
        guard (200..<300).contains(exchange.status) else { throw apiError(exchange) }
        return exchange
    }

    /// Sends `body` as JSON (if any) and decodes the JSON answer.
    public func call<Output: Decodable>(
        _ method: HTTPMethod, _ path: String, query: String? = nil, body: (some Encodable)? = Optional<Int>.none, as: Output.Type
    ) async throws -> Output {
        let data = try body.map { try KontorJSON.encode($0) }
        let exchange = try await raw(method, path, query: query, json: data)
        do {
            return try KontorJSON.decode(Output.self, from: exchange.body)
        } catch {
            throw ClientError.badResponse("\(method) \(path): \(error)")
        }
    }

    /// Percent-encodes one path segment (an ID or an email): everything but RFC 3986's unreserved
    /// characters and `!$&'()*+,=:@` (Foundation's `urlPathAllowed` without `/`).
    public static func segment(_ text: String) -> String { percentEncoded(text, keeping: "!$&'()*+,=:@") }

    /// Percent-encodes a query value: everything but the unreserved characters and `!$'()*,;:@/`
    /// (Foundation's `urlQueryAllowed` without `&=+?`).
    public static func queryValue(_ text: String) -> String { percentEncoded(text, keeping: "!$'()*,;:@/") }

    /// UTF-8 bytes other than ASCII letters, digits, `-._~` and `keeping` as `%XX`.
    static func percentEncoded(_ text: String, keeping: String) -> String {
        let kept = Set(keeping.utf8).union("-._~".utf8)
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80, c.isLetter || c.isNumber || kept.contains(byte) {
                out.append(c)
            } else {
                out += "%" + byte.padded(2, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

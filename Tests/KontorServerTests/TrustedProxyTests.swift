import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import KontorServer

/// A console sign-in attempt with a wrong token from `forwardedFor`: the status it gets.
private func badSignIn(_ client: any TestClientProtocol, forwardedFor: String) async throws -> HTTPResponse.Status {
    let page = try await client.execute(uri: "/console/sign-in", method: .get, headers: [:], body: nil)
    let cookie = try #require(page.headers[values: .setCookie].first { $0.hasPrefix(ConsoleController.signInCookie + "=") })
    let pair = String(cookie.split(separator: ";")[0])
    let csrf = String(pair.dropFirst(ConsoleController.signInCookie.count + 1))
    var headers: HTTPFields = [.cookie: pair, .contentType: "application/x-www-form-urlencoded"]
    headers[ClientAddresses.forwardedFor] = forwardedFor
    let body = "token=kat_000000000000_\(String(repeating: "a", count: 43))&csrf=\(csrf)"
    return try await client.execute(uri: "/console/sign-in", method: .post, headers: headers, body: ByteBuffer(string: body)).status
}

@Suite("Trusted proxies: networks, client addresses, rate limits behind a proxy")
struct TrustedProxyTests {
    @Test(
        "networks are read as CIDRs; a bare address is a single host; IPv4-mapped IPv6 is IPv4",
        arguments: [
            ("10.0.0.0/8", "10.0.0.0/8"), ("127.0.0.1", "127.0.0.1/32"), ("::1", "::1/128"), ("fd00::/8", "fd00::/8"),
            ("2001:DB8::/32", "2001:db8::/32"), ("::ffff:10.1.2.3", "10.1.2.3/32"), ("0.0.0.0/0", "0.0.0.0/0"),
        ])
    func parses(text: String, expected: String) throws {
        #expect(try IPNetwork(parsing: text).description == expected)
    }

    @Test(
        "a bad network is refused with a message saying what is wrong",
        arguments: [
            ("10.0.0.0/33", "\"10.0.0.0/33\": the prefix length must be 0 to 32 for an IPv4 network"),
            ("fd00::/129", "\"fd00::/129\": the prefix length must be 0 to 128 for an IPv6 network"),
            ("10.0.0.0/", "\"10.0.0.0/\": the prefix length must be 0 to 32 for an IPv4 network"),
            ("10.0.0.1/8", "\"10.0.0.1/8\" has bits set beyond its /8 prefix; the network is 10.0.0.0/8"),
            ("proxy.example.org", "\"proxy.example.org\" is not an IPv4 or IPv6 address or network"),
            ("", "\"\" is not an IPv4 or IPv6 address or network"),
        ])
    func refuses(text: String, message: String) {
        #expect {
            try IPNetwork(parsing: text)
        } throws: { error in
            "\(error)".hasPrefix(message)
        }
    }

    @Test("trustedProxies is a YAML list or a comma-separated environment variable; a bad entry names the file, line and setting")
    func configuration() throws {
        var config = ServerConfig()
        try config.apply(yaml: "port: 8080\ntrustedProxies:\n  - 127.0.0.1/32\n  - fd00::/8\n", file: "server.yaml")
        #expect(config.trustedProxies.map(\.description) == ["127.0.0.1/32", "fd00::/8"])
        try config.apply(environment: ["KONTOR_TRUSTED_PROXIES": "10.0.0.0/8, ::1"])
        #expect(config.trustedProxies.map(\.description) == ["10.0.0.0/8", "::1/128"])
        try config.apply(environment: ["KONTOR_TRUSTED_PROXIES": ""])
        #expect(config.trustedProxies.isEmpty)
        #expect {
            try config.apply(yaml: "trustedProxies:\n  - 10.0.0.1/8\n", file: "server.yaml")
        } throws: { error in
            "\(error)".hasPrefix("server.yaml:1: trustedProxies: \"10.0.0.1/8\" has bits set beyond its /8 prefix")
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var trusted: [String]
        var peer: String
        var forwardedFor: [String]
        var client: String
        var testDescription: String { "peer \(peer), X-Forwarded-For \(forwardedFor), trusted \(trusted) → \(client)" }
    }

    @Test(
        "the client is the peer, unless the peer is a trusted proxy: then the right-most untrusted X-Forwarded-For hop",
        arguments: [
            // No proxy is trusted: the header is the client's word and ignored.
            Case(trusted: [], peer: "203.0.113.9", forwardedFor: ["198.51.100.1"], client: "203.0.113.9"),
            // A peer that is not a trusted proxy cannot choose its address.
            Case(trusted: ["10.0.0.0/8"], peer: "203.0.113.9", forwardedFor: ["198.51.100.1"], client: "203.0.113.9"),
            Case(trusted: ["10.0.0.0/8"], peer: "10.0.0.5", forwardedFor: ["198.51.100.1"], client: "198.51.100.1"),
            // What the client sent before the proxy appended the address it saw is not believed.
            Case(trusted: ["10.0.0.0/8"], peer: "10.0.0.5", forwardedFor: ["6.6.6.6, 198.51.100.1"], client: "198.51.100.1"),
            Case(trusted: ["10.0.0.0/8"], peer: "10.0.0.5", forwardedFor: ["6.6.6.6", "198.51.100.1"], client: "198.51.100.1"),
            // Two trusted proxies in a row.
            Case(trusted: ["10.0.0.0/8"], peer: "10.0.0.5", forwardedFor: ["198.51.100.1, 10.0.0.7"], client: "198.51.100.1"),
            // A trusted proxy that sent no header: the proxy itself.
            Case(trusted: ["10.0.0.0/8"], peer: "10.0.0.5", forwardedFor: [], client: "10.0.0.5"),
            // A hop that is not an address stops the walk at the last trusted proxy.
            Case(trusted: ["10.0.0.0/8"], peer: "10.0.0.5", forwardedFor: ["198.51.100.1, unknown, 10.0.0.7"], client: "10.0.0.7"),
            // Ports and brackets, IPv6, and an IPv4 peer seen through a dual-stack socket.
            Case(trusted: ["::1/128"], peer: "::1", forwardedFor: ["[2001:db8::1]:443"], client: "2001:db8::1"),
            Case(trusted: ["127.0.0.1/32"], peer: "::ffff:127.0.0.1", forwardedFor: ["198.51.100.1:5555"], client: "198.51.100.1"),
        ])
    func resolves(_ c: Case) throws {
        let addresses = ClientAddresses(trustedProxies: try c.trusted.map { try IPNetwork(parsing: $0) })
        var headers = HTTPFields()
        for line in c.forwardedFor { headers.append(HTTPField(name: ClientAddresses.forwardedFor, value: line)) }
        #expect(addresses.client(peer: try SocketAddress(ipAddress: c.peer, port: 40_000), headers: headers) == c.client)
    }

    @Test("behind a trusted proxy one client's ten bad sign-ins lock out that client only, not every admin behind the same proxy")
    func signInLimitedPerForwardedClient() async throws {
        let harness = try await Harness { $0.trustedProxies = [try! IPNetwork(parsing: "127.0.0.1/32")] }
        try await harness.testLive { client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<11 { statuses.append(try await badSignIn(client, forwardedFor: "198.51.100.7")) }
            #expect(statuses == Array(repeating: .unauthorized, count: 10) + [.tooManyRequests])
            let other = try await badSignIn(client, forwardedFor: "198.51.100.8")
            #expect(other == .unauthorized)
        }
    }

    @Test("from a peer that is not a trusted proxy, a changing X-Forwarded-For does not escape the sign-in limit")
    func spoofedForwardedForIgnored() async throws {
        let harness = try await Harness { $0.trustedProxies = [try! IPNetwork(parsing: "10.0.0.0/8")] }
        try await harness.testLive { client in
            var statuses: [HTTPResponse.Status] = []
            for i in 0..<11 { statuses.append(try await badSignIn(client, forwardedFor: "198.51.100.\(i)")) }
            #expect(statuses == Array(repeating: .unauthorized, count: 10) + [.tooManyRequests])
        }
    }

    @Test("behind a trusted proxy enrollment attempts are limited per forwarded client")
    func enrollmentLimitedPerForwardedClient() async throws {
        let harness = try await Harness {
            $0.enrollRatePerMinute = 2
            $0.trustedProxies = [try! IPNetwork(parsing: "127.0.0.1/32")]
        }
        try await harness.testLive { client in
            func enroll(_ from: String) async throws -> HTTPResponse.Status {
                var headers: HTTPFields = [.contentType: "application/json"]
                headers[ClientAddresses.forwardedFor] = from
                return try await client.execute(uri: "/api/v1/enroll", method: .post, headers: headers, body: ByteBuffer(string: "{}")).status
            }
            var statuses: [HTTPResponse.Status] = []
            for from in ["203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.2"] { statuses.append(try await enroll(from)) }
            // The body is refused (400) once the limiter has let the attempt through.
            #expect(statuses == [.badRequest, .badRequest, .tooManyRequests, .badRequest])
        }
    }
}

@Suite("Reference configuration files")
struct ReferenceConfigurationTests {
    private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the shipped server.yaml files load; the scaled set-up trusts nginx on the same machine for X-Forwarded-For")
    func load() throws {
        for path in ["Server/server.yaml", "Server/scaled/server.yaml"] {
            var config = ServerConfig()
            let text = try String(contentsOf: Self.repository.appendingPathComponent(path), encoding: .utf8)
            try config.apply(yaml: text, file: path)
            if path.contains("scaled") {
                #expect(config.trustedProxies.map(\.description) == ["127.0.0.1/32", "::1/128"])
            }
        }
    }
}

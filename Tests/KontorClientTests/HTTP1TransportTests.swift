import Foundation
import KontorClient
import NIOCore
import NIOHTTP1
import Testing

/// The agent's and kontorctl's HTTP/1.1 transport against a real server on loopback.
@Suite struct HTTP1TransportTests {
    let transport = HTTP1Transport()

    func get(_ url: String, on transport: HTTP1Transport? = nil, limit: Int = 1 << 20, timeout: TimeAmount = .seconds(10)) async throws -> HTTPExchange {
        try await (transport ?? self.transport).send(method: .GET, url: url, headers: [], body: nil, limit: limit, timeout: timeout)
    }

    /// The error `body` throws, or nil.
    func failure(_ body: () async throws -> HTTPExchange) async -> ClientError? {
        do {
            _ = try await body()
            return nil
        } catch {
            return error as? ClientError
        }
    }

    @Test("a POST over plain HTTP arrives whole, with Host, Content-Length and Connection: close, and its answer comes back")
    func plainHTTP() async throws {
        try await TestHTTPServer.with(.answer(status: .created, body: Array("{\"ok\":true}".utf8))) { server in
            let exchange = try await transport.send(
                method: .POST, url: "http://127.0.0.1:\(server.port)/api/v1/x?since=2026-01-01T00%3A00%3A00Z", headers: [("X-Kontor", "1")],
                body: Data("hello".utf8), limit: 1024, timeout: .seconds(10))
            #expect(exchange.status == 201)
            #expect(String(decoding: exchange.body, as: UTF8.self) == "{\"ok\":true}")
            #expect(exchange.headers.contains { $0.0 == "X-Test" && $0.1 == "yes" })
            let (head, body) = try #require(server.seen.withLockedValue { $0.first })
            #expect(head.method == .POST)
            #expect(head.uri == "/api/v1/x?since=2026-01-01T00%3A00%3A00Z")
            #expect(head.headers["host"] == ["127.0.0.1:\(server.port)"])
            #expect(head.headers["content-length"] == ["5"])
            #expect(head.headers["connection"] == ["close"])
            #expect(head.headers["x-kontor"] == ["1"])
            #expect(body == Array("hello".utf8))
        }
    }

    @Test("a chunked answer is collected whole")
    func chunked() async throws {
        let payload = (0..<5000).map { UInt8($0 % 251) }
        try await TestHTTPServer.with(.answer(status: .ok, body: payload, chunked: true)) { server in
            let exchange = try await get("http://127.0.0.1:\(server.port)/")
            #expect(Array(exchange.body) == payload)
        }
    }

    @Test("an answer larger than the limit is refused, announced by Content-Length or not", arguments: [false, true])
    func oversized(chunked: Bool) async throws {
        try await TestHTTPServer.with(.answer(status: .ok, body: Array(repeating: 0x61, count: 5000), chunked: chunked)) { server in
            let error = await failure { try await get("http://127.0.0.1:\(server.port)/", limit: 4096) }
            #expect(error == .badResponse("body larger than 4096 bytes"))
        }
    }

    @Test("a server that never answers runs into the request's timeout")
    func requestTimeout() async throws {
        try await TestHTTPServer.with(.silent) { server in
            let error = await failure { try await get("http://127.0.0.1:\(server.port)/", timeout: .milliseconds(200)) }
            #expect(error == .transport("the server did not answer in time"))
        }
    }

    @Test("a server that stays silent longer than the read timeout is given up on, however long the request may take")
    func readTimeout() async throws {
        try await TestHTTPServer.with(.silent) { server in
            let impatient = HTTP1Transport(.init(readTimeout: .milliseconds(200)))
            let error = await failure { try await get("http://127.0.0.1:\(server.port)/", on: impatient, timeout: .seconds(60)) }
            #expect(error == .transport("the server did not answer in time"))
        }
    }

    @Test("a server that closes the connection without an answer, or in the middle of one, is a transport error")
    func closedEarly() async throws {
        for behaviour in [TestHTTPServer.Behaviour.close, .truncated(announced: 100, sent: 10)] {
            try await TestHTTPServer.with(behaviour) { server in
                let error = await failure { try await get("http://127.0.0.1:\(server.port)/") }
                #expect(error == .transport("the server closed the connection"), "\(behaviour)")
            }
        }
    }

    @Test("a refused connection says so")
    func refused() async throws {
        let server = try await TestHTTPServer(.close)
        let port = server.port
        try await server.stop()
        let error = await failure { try await get("http://127.0.0.1:\(port)/") }
        #expect(error == .transport("connection refused (is kontor-server running?)"))
    }

    @Test("a cancelled request ends at once with CancellationError")
    func cancelled() async throws {
        try await TestHTTPServer.with(.silent) { server in
            let request = Task { try await get("http://127.0.0.1:\(server.port)/", timeout: .seconds(60)) }
            while server.seen.withLockedValue({ $0.isEmpty }) { await Task.yield() }
            request.cancel()
            await #expect(throws: CancellationError.self) { try await request.value }
        }
    }
}

/// HTTPS: the system's roots plus `caFile`, the name checked, SNI sent.
@Suite struct HTTP1TransportTLSTests {
    @Test("HTTPS to a server whose certificate a test CA signed works when caFile names that CA, and sends the host as SNI")
    func trustedThroughCAFile() async throws {
        let certificates = try TestCertificates()
        try await TestHTTPServer.with(.answer(status: .ok, body: Array("secret".utf8)), tls: (certificates.cert, certificates.key)) { server in
            let transport = HTTP1Transport(.init(caFile: certificates.ca))
            let exchange = try await transport.send(
                method: .GET, url: "https://localhost:\(server.port)/healthz", headers: [], body: nil, limit: 1024, timeout: .seconds(10))
            #expect(String(decoding: exchange.body, as: UTF8.self) == "secret")
            #expect(server.serverNames.withLockedValue { $0 } == ["localhost"])
        }
    }

    @Test("without the CA the same server is not trusted")
    func untrusted() async throws {
        let certificates = try TestCertificates()
        try await TestHTTPServer.with(.answer(status: .ok, body: []), tls: (certificates.cert, certificates.key)) { server in
            do {
                _ = try await HTTP1Transport().send(
                    method: .GET, url: "https://localhost:\(server.port)/", headers: [], body: nil, limit: 1024, timeout: .seconds(10))
                Issue.record("an untrusted certificate was accepted")
            } catch let error as ClientError {
                #expect(error.description.contains("not trusted"), "\(error)")
            }
            #expect(server.seen.withLockedValue { $0.isEmpty })
        }
    }

    @Test("a trusted certificate for another name is refused: the host name is checked")
    func wrongName() async throws {
        let certificates = try TestCertificates()
        try await TestHTTPServer.with(.answer(status: .ok, body: []), tls: (certificates.cert, certificates.key)) { server in
            do {
                _ = try await HTTP1Transport(.init(caFile: certificates.ca)).send(
                    method: .GET, url: "https://127.0.0.1:\(server.port)/", headers: [], body: nil, limit: 1024, timeout: .seconds(10))
                Issue.record("a certificate for localhost was accepted for 127.0.0.1")
            } catch let error as ClientError {
                #expect(error.description.contains("not for this server's name"), "\(error)")
            }
            #expect(server.seen.withLockedValue { $0.isEmpty })
        }
    }

    @Test("a caFile that cannot be read fails each HTTPS request with a transport error naming it")
    func missingCAFile() async throws {
        let transport = HTTP1Transport(.init(caFile: "/nonexistent/ca.pem"))
        do {
            _ = try await transport.send(method: .GET, url: "https://localhost:1/", headers: [], body: nil, limit: 1024, timeout: .seconds(10))
            Issue.record("no error")
        } catch let error as ClientError {
            guard case .transport(let why) = error else { throw error }
            #expect(why.contains("/nonexistent/ca.pem"))
        }
    }
}

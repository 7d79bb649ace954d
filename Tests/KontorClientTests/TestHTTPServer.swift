import Foundation
import KontorTestSupport
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers as a test tells it to, over TLS when given a
/// certificate, and remembers what it was sent (request heads, bodies, SNI names).
final class TestHTTPServer: Sendable {
    /// What the server does with a complete request.
    enum Behaviour: Sendable {
        /// Answers `status` with `body`, framed by Content-Length or, when `chunked`, in chunks with none.
        case answer(status: HTTPResponseStatus, body: [UInt8], chunked: Bool = false)
        /// Never answers and keeps the connection open.
        case silent
        /// Closes the connection without a byte of answer.
        case close
        /// Announces `announced` bytes, sends `sent` of them and closes.
        case truncated(announced: Int, sent: Int)
    }

    let channel: any Channel
    let group: MultiThreadedEventLoopGroup
    let seen: NIOLockedValueBox<[(HTTPRequestHead, [UInt8])]>
    let serverNames: NIOLockedValueBox<[String?]>

    var port: Int { channel.localAddress!.port! }

    init(_ behaviour: Behaviour, tls: (cert: String, key: String)? = nil) async throws {
        let seen = NIOLockedValueBox<[(HTTPRequestHead, [UInt8])]>([])
        let names = NIOLockedValueBox<[String?]>([])
        var context: NIOSSLContext?
        if let tls {
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.cert).map { .certificate($0) }, privateKey: .file(tls.key))
            configuration.sslContextCallback = { values, promise in
                names.withLockedValue { $0.append(values.serverHostname) }
                promise.succeed(.noChanges)
            }
            context = try NIOSSLContext(configuration: configuration)
        }
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [context] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Responder(behaviour: behaviour, seen: seen))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.seen = seen
        self.serverNames = names
    }

    /// Runs `body` with a server, stopped afterwards.
    static func with(_ behaviour: Behaviour, tls: (cert: String, key: String)? = nil, _ body: (TestHTTPServer) async throws -> Void) async throws {
        let server = try await TestHTTPServer(behaviour, tls: tls)
        do {
            try await body(server)
            try await server.stop()
        } catch {
            try? await server.stop()
            throw error
        }
    }

    func stop() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }

    /// Answers one connection's requests.
    final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let behaviour: Behaviour
        let seen: NIOLockedValueBox<[(HTTPRequestHead, [UInt8])]>
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(behaviour: Behaviour, seen: NIOLockedValueBox<[(HTTPRequestHead, [UInt8])]>) {
            self.behaviour = behaviour
            self.seen = seen
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): self.head = head
            case .body(let part): body += part.readableBytesView
            case .end:
                seen.withLockedValue { $0.append((head!, body)) }
                respond(context)
            }
        }

        func respond(_ context: ChannelHandlerContext) {
            switch behaviour {
            case .answer(let status, let body, let chunked):
                var headers = HTTPHeaders()
                headers.add(name: chunked ? "Transfer-Encoding" : "Content-Length", value: chunked ? "chunked" : "\(body.count)")
                headers.add(name: "X-Test", value: "yes")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
                for start in stride(from: 0, to: body.count, by: 1000) {
                    let piece = body[start..<min(start + 1000, body.count)]
                    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: piece)))), promise: nil)
                }
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .silent: break
            case .close: context.close(promise: nil)
            case .truncated(let announced, let sent):
                let headers = HTTPHeaders([("Content-Length", "\(announced)")])
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(repeating: 0x61, count: sent)))), promise: nil)
                context.close(promise: nil)
            }
        }
    }
}

/// A CA and a certificate it signed for `localhost` only, made with openssl in a scratch directory.
struct TestCertificates {
    let directory: URL
    var ca: String { directory.appendingPathComponent("ca.pem").path }
    var cert: String { directory.appendingPathComponent("cert.pem").path }
    var key: String { directory.appendingPathComponent("key.pem").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-client-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let dir = directory.path
        try "subjectAltName=DNS:localhost\n".write(toFile: dir + "/ext.cnf", atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req", "-x509"] + ec + ["-keyout", dir + "/ca.key", "-out", ca, "-days", "2", "-subj", "/CN=Kontor Test CA"])
        try Self.openssl(["req"] + ec + ["-keyout", key, "-out", dir + "/cert.csr", "-subj", "/CN=localhost"])
        try Self.openssl([
            "x509", "-req", "-in", dir + "/cert.csr", "-CA", ca, "-CAkey", dir + "/ca.key", "-CAcreateserial", "-out", cert, "-days", "2",
            "-extfile", dir + "/ext.cnf",
        ])
    }

    static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitForExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["openssl": arguments.joined(separator: " ")]) }
    }
}

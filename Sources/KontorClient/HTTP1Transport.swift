import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// HTTP/1.1 on SwiftNIO, one connection per request (`Connection: close`): what the agent and kontorctl
/// use. A check-in goes out once a minute at most, so a connection pool would save one handshake a
/// minute and cost the agent's binary several megabytes (AsyncHTTPClient with HTTP/2; docs/benchmarks.md).
/// HTTPS verifies the server's certificate against the system's trust roots and `caFile`, and its name
/// against the URL's host (sent as SNI when it is a name, not an address).
public final class HTTP1Transport: HTTPTransport {
    /// How connections are made and how long the server may stay silent.
    public struct Configuration: Sendable {
        /// PEM certificates trusted besides the system's (a private CA).
        public var caFile: String?
        public var connectTimeout: TimeAmount
        /// The longest the server may send nothing while an answer is due; nil: only the request's own timeout.
        public var readTimeout: TimeAmount?

        public init(caFile: String? = nil, connectTimeout: TimeAmount = .seconds(10), readTimeout: TimeAmount? = nil) {
            self.caFile = caFile
            self.connectTimeout = connectTimeout
            self.readTimeout = readTimeout
        }
    }

    public let configuration: Configuration
    let group: any EventLoopGroup
    /// Made on the first https request and kept: reading the system's trust roots is not free.
    private let tls = Mutex<Result<NIOSSLContext, ClientError>?>(nil)

    /// A transport on `group` (by default NIO's shared one, which the agent sizes to one thread).
    public init(_ configuration: Configuration = Configuration(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
    }

    public func send(
        method: HTTPMethod, url: String, headers: [(String, String)], body: Data?, limit: Int, timeout: TimeAmount
    ) async throws -> HTTPExchange {
        let target = try Target(url)
        let sslContext = target.secure ? try tlsContext().get() : nil
        let request = body.map { ByteBuffer(bytes: $0) }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: target.pathAndQuery)
        head.headers.add(contentsOf: headers)
        if !head.headers.contains(name: "host") { head.headers.add(name: "Host", value: target.authority) }
        if body != nil || [.POST, .PUT, .PATCH].contains(method) { head.headers.replaceOrAdd(name: "Content-Length", value: "\(body?.count ?? 0)") }
        head.headers.replaceOrAdd(name: "Connection", value: "close")

        let loop = group.next()
        let exchange = loop.makePromise(of: HTTPExchange.self)
        let readTimeout = configuration.readTimeout
        let connect = ClientBootstrap(group: loop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let readTimeout { try pipeline.addHandler(IdleStateHandler(readTimeout: readTimeout)) }
                    if let sslContext { try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: target.serverName)) }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(ExchangeHandler(head: head, body: request, limit: limit, promise: exchange))
                }
            }
            .connect(host: target.host, port: target.port)
        connect.whenFailure { exchange.fail(ClientError.transport(describe($0))) }
        let deadline = loop.scheduleTask(in: timeout) { exchange.fail(ClientError.transport(TransportText.tooSlow)) }
        // However the exchange ends (answer, error, timeout, cancellation), the connection goes.
        exchange.futureResult.whenComplete { _ in
            deadline.cancel()
            connect.whenSuccess { $0.close(promise: nil) }
        }
        return try await withTaskCancellationHandler {
            try await exchange.futureResult.get()
        } onCancel: {
            exchange.fail(CancellationError())
        }
    }

    /// The TLS context, made once; a CA file that cannot be read fails every https request, as it did before.
    func tlsContext() -> Result<NIOSSLContext, ClientError> {
        tls.withLock { cached in
            if let cached { return cached }
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile = configuration.caFile { tls.additionalTrustRoots = [.file(caFile)] }
            let made = Result { try NIOSSLContext(configuration: tls) }.mapError { error in
                ClientError.transport("cannot set up TLS (caFile \(configuration.caFile ?? "-")): \(error)")
            }
            cached = made
            return made
        }
    }

    /// Where a URL points.
    struct Target {
        var secure: Bool
        var host: String
        var port: Int
        var authority: String
        var pathAndQuery: String
        /// The host for SNI and the certificate check; nil for an address (checked against the certificate's IP entries).
        var serverName: String? { (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil }

        init(_ url: String) throws {
            let server = try ServerURL(url)
            guard let components = URLComponents(string: url) else { throw ClientError.usage("\"\(url)\" is not a URL") }
            secure = server.scheme == "https"
            host = server.host
            port = server.port
            authority = server.authority
            let path = components.percentEncodedPath
            pathAndQuery = (path.isEmpty ? "/" : path) + (components.percentEncodedQuery.map { "?\($0)" } ?? "")
        }
    }
}

/// Sends one request when the connection is up and collects the answer, refusing one over `limit`.
/// A handler of one channel: NIO calls it on that channel's event loop only.
final class ExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let head: HTTPRequestHead
    let body: ByteBuffer?
    let limit: Int
    let promise: EventLoopPromise<HTTPExchange>
    var response: HTTPResponseHead?
    var collected = ByteBuffer()
    /// A 1xx head: its end is not the answer's.
    var informational = false

    init(head: HTTPRequestHead, body: ByteBuffer?, limit: Int, promise: EventLoopPromise<HTTPExchange>) {
        self.head = head
        self.body = body
        self.limit = limit
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            informational = (100..<200).contains(head.status.code)
            if informational { return }
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > limit { return tooLarge(context) }
            response = head
        case .body(var part):
            guard !informational else { return }
            guard collected.readableBytes + part.readableBytes <= limit else { return tooLarge(context) }
            collected.writeBuffer(&part)
        case .end:
            if informational {
                informational = false
                return
            }
            guard let response else { return }
            let exchange = HTTPExchange(
                status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Data(collected.readableBytesView))
            promise.succeed(exchange)
            context.close(promise: nil)
        }
    }

    func tooLarge(_ context: ChannelHandlerContext) {
        promise.fail(ClientError.badResponse("body larger than \(limit) bytes"))
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .read = event as? IdleStateHandler.IdleStateEvent {
            promise.fail(ClientError.transport(TransportText.tooSlow))
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(ClientError.transport(describe(error)))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ClientError.transport(TransportText.closed))
        context.fireChannelInactive()
    }
}

/// The words for what went wrong on the way.
enum TransportText {
    static let tooSlow = "the server did not answer in time"
    static let closed = "the server closed the connection"
}

/// A transport error in words a person can act on.
func describe(_ error: any Error) -> String {
    if case .connectTimeout = error as? ChannelError { return "connection timed out" }
    if case .invalidEOFState = error as? HTTPParserError { return TransportText.closed }
    if case .uncleanShutdown = error as? NIOSSLError { return TransportText.closed }
    let text = "\(error)"
    if text.contains("CERTIFICATE_VERIFY_FAILED") {
        return "the server's TLS certificate is not trusted (give its CA with --ca-file, KONTOR_CA_FILE or the agent's caFile)"
    }
    if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
        return "the server's TLS certificate is not trusted: it is not for this server's name (\(error))"
    }
    if text.contains("Connection refused") { return "connection refused (is kontor-server running?)" }
    return text
}

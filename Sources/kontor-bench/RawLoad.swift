import Foundation
import Histogram
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A lean load generator for the throughput and latency runs (`checkin`): plain keep-alive HTTP/1.1
/// connections driven on one event loop, no tasks or continuations per request. The server and the
/// generator share two cores, and AsyncHTTPClient spends as much CPU per request as the server does,
/// which would show up as server latency; this spends about a third of that. Same measurements as
/// ``runLoad(name:concurrency:duration:schedule:limit:serverPID:stop:operation:)``: latency from when a
/// request was due, errors by kind.
enum RawLoad {
    /// What to send as request `k`.
    typealias Build = @Sendable (_ k: Int) throws -> (HTTPRequestHead, ByteBuffer?)

    struct Settings: Sendable {
        var host: String
        var port: Int
        var connections: Int
        var duration: Double
        var schedule: PollSchedule?
        var limit: Int?
    }

    final class Shared: Sendable {
        let settings: Settings
        let build: Build
        let next = NIOLockedValueBox(0)
        let start: NIODeadline
        let deadline: NIODeadline
        let results = NIOLockedValueBox<(Histogram<UInt64>, [String: Int])>((LoadResult.histogram(), [:]))

        init(settings: Settings, build: @escaping Build) {
            self.settings = settings
            self.build = build
            self.start = .now()
            self.deadline = start + .milliseconds(Int64(settings.duration * 1000))
        }

        /// The next request number and when it is due, or nil when the run is over.
        func take() -> (Int, NIODeadline)? {
            let k = next.withLockedValue { value in
                defer { value += 1 }
                return value
            }
            if let limit = settings.limit ?? settings.schedule?.due.count, k >= limit { return nil }
            let due = settings.schedule.map { start + .microseconds(Int64($0.due[k] * 1_000_000)) } ?? .now()
            guard due < deadline else { return nil }
            return (k, due)
        }
    }

    /// One connection: sends a request, waits for the whole response, records it, takes the next.
    final class Connection: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        let shared: Shared
        let done: EventLoopPromise<Void>
        var histogram = LoadResult.histogram()
        var errors: [String: Int] = [:]
        var current: (k: Int, due: NIODeadline)?
        var status: HTTPResponseStatus = .ok
        var finished = false

        init(shared: Shared, done: EventLoopPromise<Void>) {
            self.shared = shared
            self.done = done
        }

        func channelActive(context: ChannelHandlerContext) { next(context: context) }

        func next(context: ChannelHandlerContext) {
            guard let (k, due) = shared.take() else { return finish(context: context) }
            if due > .now() {
                let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(deadline: due) { self.send(context: ctx.value, k: k, due: due) }
            } else {
                send(context: context, k: k, due: due)
            }
        }

        func send(context: ChannelHandlerContext, k: Int, due: NIODeadline) {
            do {
                let (head, body) = try shared.build(k)
                current = (k, due)
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            } catch {
                errors["\(error)".prefix(160).description, default: 0] += 1
                next(context: context)
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = head.status
            case .body: break
            case .end:
                guard let (_, due) = current else { return }
                current = nil
                let micros = (NIODeadline.now() - due).nanoseconds / 1_000
                _ = histogram.record(UInt64(min(max(micros, 0), 60_000_000)))
                if status != .ok { errors["HTTP \(status.code)", default: 0] += 1 }
                next(context: context)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            errors["\(error)".prefix(160).description, default: 0] += 1
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            if current != nil { errors["connection closed with a request in flight", default: 0] += 1 }
            finish(context: context)
        }

        func finish(context: ChannelHandlerContext) {
            guard !finished else { return }
            finished = true
            let (h, e) = (histogram, errors)
            shared.results.withLockedValue { merged in
                merged.0.add(h)
                merged.1.merge(e, uniquingKeysWith: +)
            }
            context.close(promise: nil)
            done.succeed(())
        }
    }

    static func run(name: String, settings: Settings, serverPID: Int32?, build: @escaping Build) async throws -> LoadResult {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let before = serverPID.flatMap(ProcessSample.read)
        let shared = Shared(settings: settings, build: build)
        var finished: [EventLoopFuture<Void>] = []
        for _ in 0..<settings.connections {
            let loop = group.next()
            let done = loop.makePromise(of: Void.self)
            finished.append(done.futureResult)
            let connect = ClientBootstrap(group: loop)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(Connection(shared: shared, done: done))
                    }
                }
                .connect(host: settings.host, port: settings.port)
            connect.whenFailure { error in
                shared.results.withLockedValue { $0.1["connect: \(error)", default: 0] += 1 }
                done.succeed(())
            }
        }
        for future in finished { try await future.get() }
        let seconds = Double((NIODeadline.now() - shared.start).nanoseconds) / 1e9
        try await group.shutdownGracefully()
        let (h, errors) = shared.results.withLockedValue { $0 }
        return LoadResult(name: name, latencies: h, errors: errors, seconds: seconds, server: (before, serverPID.flatMap(ProcessSample.read)))
    }
}

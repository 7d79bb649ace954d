import Logging
import NIOCore
import NIOHTTPTypes

/// Puts the deadlines of ``ConnectionDeadlineState`` on one HTTP connection and registers it with the
/// connection limit (``OpenConnections``). Sits after the HTTP decoder, so it sees whole request heads:
/// a head trickled a byte at a time is not a head until it is complete, and the header deadline, set
/// when the connection opened, closes the connection first.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var state: ConnectionDeadlineState
    private let connections: OpenConnections
    private var timer: Scheduled<Void>?
    private var started = false

    init(timeouts: ConnectionTimeouts, connections: OpenConnections) {
        self.state = ConnectionDeadlineState(timeouts: timeouts)
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        connections.closed(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = context.eventLoop.now
        switch unwrapInboundIn(data) {
        case .head:
            apply(state.readHead(now: now), context)
            connections.busy(context.channel)
        case .body:
            break
        case .end:
            apply(state.readEnd(now: now), context)
            if state.isWaiting { connections.waiting(context.channel, since: now) }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            let now = context.eventLoop.now
            apply(state.wroteEnd(now: now), context)
            if state.isWaiting { connections.waiting(context.channel, since: now) }
        }
        context.write(data, promise: promise)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        let now = context.eventLoop.now
        guard connections.open(context.channel, now: now) else {
            // Over the limit with every connection busy: this one goes at once, so the server keeps its
            // reserve of file descriptors.
            connections.closedByServer(.refused)
            context.close(promise: nil)
            return
        }
        apply(state.opened(now: now), context)
    }

    private func apply(_ action: ConnectionDeadlineState.Action, _ context: ChannelHandlerContext) {
        switch action {
        case .keep: break
        case .clear: cancelTimer()
        case .closeAt(let deadline, let reason):
            cancelTimer()
            let connections = self.connections
            timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
                self?.timer = nil
                connections.closedByServer(reason)
                context.close(promise: nil)
            }
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}

@available(*, unavailable)
extension ConnectionGuard: Sendable {}

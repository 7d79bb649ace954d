import Logging
import NIOCore
import NIOHTTPTypes

/// Puts the deadlines of ``ConnectionDeadlineState`` on one HTTP connection and registers it with the
/// connection limit (``OpenConnections``). Sits after the HTTP decoder, so it sees whole request heads:
/// a head trickled a byte at a time is not a head until it is complete, and the header deadline, set
/// when the connection opened, closes the connection first. It also tells ``LongPolls`` when the client
/// closes its side (or the connection goes), so a check-in held on it ends at once.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var state: ConnectionDeadlineState
    private let connections: OpenConnections
    private var timer: Scheduled<Void>?
    private var started = false
    private let longPolls: LongPolls?

    init(timeouts: ConnectionTimeouts, connections: OpenConnections, longPolls: LongPolls? = nil) {
        self.state = ConnectionDeadlineState(timeouts: timeouts)
        self.connections = connections
        self.longPolls = longPolls
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
        longPolls?.connectionClosed(ObjectIdentifier(context.channel))
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server allows half-closed connections, so a client that went away (its process ended, its
        // socket closed) shows up as the end of its input, not as a closed channel.
        if let event = event as? ChannelEvent, event == .inputClosed {
            longPolls?.connectionClosed(ObjectIdentifier(context.channel))
        }
        context.fireUserInboundEventTriggered(event)
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

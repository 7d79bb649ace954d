import NIOCore

/// The time limits every HTTP connection lives by (``ServerConfig`` `headerTimeout`, `bodyTimeout`,
/// `idleTimeout`).
public struct ConnectionTimeouts: Sendable, Equatable {
    /// From the connection's start to its first request's head: bytes trickled meanwhile do not extend it.
    public var header: TimeAmount
    /// From a request's head to the end of its body.
    public var body: TimeAmount
    /// From the end of a response to the next request's head, on a kept-alive connection.
    public var idle: TimeAmount

    public init(header: TimeAmount, body: TimeAmount, idle: TimeAmount) {
        self.header = header
        self.body = body
        self.idle = idle
    }

    public init(_ config: ServerConfig) {
        self.init(header: .seconds(Int64(config.headerTimeout)), body: .seconds(Int64(config.bodyTimeout)), idle: .seconds(Int64(config.idleTimeout)))
    }
}

/// Why a connection was closed by the server rather than by its client.
enum ConnectionCloseReason: String, CaseIterable, Sendable {
    case headerTimeout = "header_timeout"
    case bodyTimeout = "body_timeout"
    case idleTimeout = "idle_timeout"
    /// The connection limit was reached and this connection had waited longest for a request.
    case evicted
    /// The connection limit was reached and every connection had a request in progress.
    case refused
}

/// Where one connection is in its requests, and which deadline that puts on it. Pure: the time is given,
/// so every transition is tested without a clock. A request that has been read whole and is being
/// answered has no deadline, so a held check-in (long poll) is never cut here; the server bounds it.
struct ConnectionDeadlineState: Sendable {
    /// What the caller does with the connection's one timer.
    enum Action: Equatable {
        /// Leave the timer as it is.
        case keep
        /// Cancel it: no deadline now.
        case clear
        /// Close the connection at this time, for this reason (replacing any earlier timer).
        case closeAt(NIODeadline, ConnectionCloseReason)
    }

    let timeouts: ConnectionTimeouts
    /// Between a request's head and the end of its body.
    private(set) var reading = false
    /// Requests whose head was read and whose response has not been written to its end.
    private(set) var inFlight = 0

    init(timeouts: ConnectionTimeouts) { self.timeouts = timeouts }

    /// No request read or being answered: the connection waits for a request head.
    var isWaiting: Bool { !reading && inFlight == 0 }

    mutating func opened(now: NIODeadline) -> Action { .closeAt(now + timeouts.header, .headerTimeout) }

    mutating func readHead(now: NIODeadline) -> Action {
        reading = true
        inFlight += 1
        return .closeAt(now + timeouts.body, .bodyTimeout)
    }

    mutating func readEnd(now: NIODeadline) -> Action {
        guard reading else { return .keep }
        reading = false
        // Answered before its body was in (an early refusal): the connection is idle from here.
        return inFlight == 0 ? .closeAt(now + timeouts.idle, .idleTimeout) : .clear
    }

    mutating func wroteEnd(now: NIODeadline) -> Action {
        guard inFlight > 0 else { return .keep }
        inFlight -= 1
        // A body still coming in keeps its own deadline; a pipelined request being answered has none.
        if reading { return .keep }
        return inFlight == 0 ? .closeAt(now + timeouts.idle, .idleTimeout) : .keep
    }
}

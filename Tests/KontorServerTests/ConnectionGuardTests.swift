import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import KontorServer

private let timeouts = ConnectionTimeouts(header: .seconds(10), body: .seconds(30), idle: .seconds(75))
private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

@Suite("Connection deadlines: the state machine")
struct ConnectionDeadlineStateTests {
    @Test("a new connection must send its first request head within the header timeout")
    func newConnection() {
        var state = ConnectionDeadlineState(timeouts: timeouts)
        #expect(state.opened(now: start) == .closeAt(start + .seconds(10), .headerTimeout))
        #expect(state.isWaiting)
    }

    @Test("once the head is in, the body must be in within the body timeout; a request read whole has no deadline while it is answered")
    func requestInProgress() {
        var state = ConnectionDeadlineState(timeouts: timeouts)
        _ = state.opened(now: start)
        #expect(state.readHead(now: start + .seconds(1)) == .closeAt(start + .seconds(31), .bodyTimeout))
        #expect(!state.isWaiting)
        #expect(state.readEnd(now: start + .seconds(2)) == .clear)
        #expect(!state.isWaiting)
    }

    @Test("after the response the connection waits for the next head at most the idle timeout")
    func keptAlive() {
        var state = ConnectionDeadlineState(timeouts: timeouts)
        _ = state.opened(now: start)
        _ = state.readHead(now: start)
        _ = state.readEnd(now: start)
        #expect(state.wroteEnd(now: start + .seconds(55)) == .closeAt(start + .seconds(130), .idleTimeout))
        #expect(state.isWaiting)
    }

    @Test("a response sent before the body is in leaves the body deadline; the end of the body then starts the idle one")
    func earlyResponse() {
        var state = ConnectionDeadlineState(timeouts: timeouts)
        _ = state.opened(now: start)
        _ = state.readHead(now: start)
        #expect(state.wroteEnd(now: start + .seconds(1)) == .keep)
        #expect(!state.isWaiting)
        #expect(state.readEnd(now: start + .seconds(2)) == .closeAt(start + .seconds(77), .idleTimeout))
        #expect(state.isWaiting)
    }

    @Test("pipelined requests: no idle deadline until every response is written")
    func pipelined() {
        var state = ConnectionDeadlineState(timeouts: timeouts)
        _ = state.opened(now: start)
        _ = state.readHead(now: start)
        _ = state.readEnd(now: start)
        _ = state.readHead(now: start)
        _ = state.readEnd(now: start)
        #expect(state.wroteEnd(now: start + .seconds(1)) == .keep)
        #expect(!state.isWaiting)
        #expect(state.wroteEnd(now: start + .seconds(2)) == .closeAt(start + .seconds(77), .idleTimeout))
    }

    @Test("parts that do not belong to a request change nothing")
    func strayParts() {
        var state = ConnectionDeadlineState(timeouts: timeouts)
        _ = state.opened(now: start)
        #expect(state.readEnd(now: start) == .keep)
        #expect(state.wroteEnd(now: start) == .keep)
        #expect(state.isWaiting)
    }
}

/// An accepted connection with the guard, on an event loop whose time the test moves.
private func connection(_ connections: OpenConnections, loop: EmbeddedEventLoop = EmbeddedEventLoop()) throws -> EmbeddedChannel {
    let channel = EmbeddedChannel(handler: ConnectionGuard(timeouts: timeouts, connections: connections), loop: loop)
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()
    return channel
}

private func head(_ path: String = "/healthz") -> HTTPRequestPart {
    .head(HTTPRequest(method: .get, scheme: nil, authority: "x", path: path))
}

private var quiet: Logger {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}

@Suite("Connection guard on a channel (time moved by the test)")
struct ConnectionGuardTests {
    @Test("a connection that never completes a request head is closed at the header timeout")
    func halfSentHead() throws {
        let channel = try connection(OpenConnections(limit: 10, logger: quiet))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test("a request whose body stops coming is closed at the body timeout, however many parts came before")
    func slowBody() throws {
        let channel = try connection(OpenConnections(limit: 10, logger: quiet))
        try channel.writeInbound(head("/api/v1/checkin"))
        for _ in 0..<5 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(5))
            try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "x")))
        }
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(!channel.isActive)
    }

    @Test("a request read whole and held (a long poll) stays open far past every timeout, then the idle timeout runs from its response")
    func heldRequest() throws {
        let channel = try connection(OpenConnections(limit: 10, logger: quiet))
        try channel.writeInbound(head("/api/v1/checkin"))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(600))
        #expect(channel.isActive)
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(74))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test("at the limit a new connection takes the place of the one that has waited longest for a request")
    func evictsLongestWaiting() throws {
        let connections = OpenConnections(limit: 2, logger: quiet)
        let loop = EmbeddedEventLoop()
        let first = try connection(connections, loop: loop)
        loop.advanceTime(by: .seconds(1))
        let second = try connection(connections, loop: loop)
        loop.advanceTime(by: .seconds(1))
        #expect(connections.count == 2)
        let third = try connection(connections, loop: loop)
        loop.run()
        #expect(!first.isActive)
        #expect(second.isActive && third.isActive)
        #expect(connections.count == 2)
    }

    @Test("a connection that answered a request waits anew: at the limit the one that has waited longest since goes")
    func waitingAgainGoesToTheBack() throws {
        let connections = OpenConnections(limit: 2, logger: quiet)
        let loop = EmbeddedEventLoop()
        let first = try connection(connections, loop: loop)
        loop.advanceTime(by: .seconds(1))
        let second = try connection(connections, loop: loop)
        loop.advanceTime(by: .seconds(1))
        try first.writeInbound(head())
        try first.writeInbound(HTTPRequestPart.end(nil))
        try first.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try first.writeOutbound(HTTPResponsePart.end(nil))
        loop.advanceTime(by: .seconds(1))
        let third = try connection(connections, loop: loop)
        loop.run()
        #expect(first.isActive && third.isActive)
        #expect(!second.isActive)
    }

    @Test("a connection with a request in progress is never closed to make room; when all are busy the new one is closed at once")
    func busyAreKept() throws {
        let connections = OpenConnections(limit: 2, logger: quiet)
        let loop = EmbeddedEventLoop()
        let first = try connection(connections, loop: loop)
        let second = try connection(connections, loop: loop)
        for busy in [first, second] {
            try busy.writeInbound(head("/api/v1/checkin"))
            try busy.writeInbound(HTTPRequestPart.end(nil))
        }
        let third = try connection(connections, loop: loop)
        loop.run()
        #expect(first.isActive && second.isActive)
        #expect(!third.isActive)
        #expect(connections.count == 2)
    }

    @Test("a check-in held on a connection ends when its client closes its side (half-close) or the connection goes; others stay held")
    func heldPollEndsWithItsConnection() async throws {
        let longPolls = LongPolls(sleep: { _ in try await Task.sleep(for: .seconds(3600)) })
        let connections = OpenConnections(limit: 10, logger: quiet)
        var channels: [EmbeddedChannel] = []
        for _ in 0..<3 {
            let channel = EmbeddedChannel(handler: ConnectionGuard(timeouts: timeouts, connections: connections, longPolls: longPolls))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()
            try channel.writeInbound(head("/api/v1/checkin"))
            try channel.writeInbound(HTTPRequestPart.end(nil))
            channels.append(channel)
        }
        let tickets = channels.enumerated().map { n, channel in
            longPolls.register("device-\(n)", connection: ObjectIdentifier(channel), timeout: .seconds(55))
        }
        #expect(longPolls.count == 3)

        channels[0].pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(tickets.map(\.settled) == [.peerGone, nil, nil])
        #expect(await longPolls.wait(tickets[0]) == .peerGone)
        #expect(longPolls.count == 2)

        _ = try channels[1].close().wait()
        #expect(tickets[1].settled == .peerGone)
        #expect(await longPolls.wait(tickets[1]) == .peerGone)
        #expect(tickets[2].settled == nil, "the third client is still there")
        // An event for a connection with nothing held changes nothing.
        channels[1].pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(longPolls.count == 1)
        longPolls.wake("device-2")
        #expect(await longPolls.wait(tickets[2]) == .woken)
        #expect(longPolls.count == 0)
    }

    @Test("a closed connection frees its place")
    func closingFrees() throws {
        let connections = OpenConnections(limit: 1, logger: quiet)
        let first = try connection(connections)
        try first.writeInbound(head())
        try first.writeInbound(HTTPRequestPart.end(nil))
        _ = try first.close().wait()
        #expect(connections.count == 0)
        let second = try connection(connections)
        #expect(second.isActive)
    }
}

@Suite("Open-file limit")
struct OpenFileLimitTests {
    @Test(
        "0 picks the open-file limit less a reserve; a configured limit within it is kept",
        arguments: [
            (0, 65_536, 65_408), (0, 1024, 896), (0, 256, 128), (0, 100, 50), (5000, 65_536, 5000),
        ])
    func picks(configured: Int, openFiles: Int, expected: Int) throws {
        #expect(try OpenFileLimit.connectionLimit(configured: configured, openFiles: openFiles) == expected)
    }

    @Test("a configured limit that leaves no reserve stops the server, saying what to raise")
    func refusesWithoutReserve() {
        #expect {
            try OpenFileLimit.connectionLimit(configured: 1000, openFiles: 1024)
        } throws: { error in
            "\(error)".contains("maxConnections: 1000 connections need 1128 open files") && "\(error)".contains("LimitNOFILE=")
        }
    }
}

@Suite("Settings of issue 14's hardening")
struct HardeningSettingsTests {
    @Test("each is read from the environment under its KONTOR_ name")
    func environment() throws {
        var config = ServerConfig()
        try config.apply(environment: [
            "KONTOR_HEADER_TIMEOUT": "5", "KONTOR_BODY_TIMEOUT": "20", "KONTOR_IDLE_TIMEOUT": "90", "KONTOR_MAX_CONNECTIONS": "5000",
            "KONTOR_LISTEN_BACKLOG": "1024",
            "KONTOR_MAX_EVENT_DETAIL_BYTES": "2048", "KONTOR_DEVICE_EVENTS_PER_HOUR": "100", "KONTOR_DEVICE_AUDIT_EVENTS_PER_HOUR": "5",
        ])
        #expect(ConnectionTimeouts(config) == ConnectionTimeouts(header: .seconds(5), body: .seconds(20), idle: .seconds(90)))
        #expect(config.maxConnections == 5000)
        #expect(config.listenBacklog == 1024)
        #expect(config.maxEventDetailBytes == 2048)
        #expect(config.deviceEventsPerHour == 100)
        #expect(config.deviceAuditEventsPerHour == 5)
    }

    @Test(
        "a value out of range is refused, naming the setting and the range",
        arguments: [
            ("headerTimeout: 0\n", "server.yaml:1: headerTimeout: expected a whole number from 1 to 3600, found \"0\""),
            ("idleTimeout: forever\n", "server.yaml:1: idleTimeout: expected a whole number from 1 to 86400, found \"forever\""),
            ("maxConnections: -1\n", "server.yaml:1: maxConnections: expected a whole number from 0 to 10000000, found \"-1\""),
            ("listenBacklog: 0\n", "server.yaml:1: listenBacklog: expected a whole number from 1 to 65535, found \"0\""),
            ("maxEventDetailBytes: 10\n", "server.yaml:1: maxEventDetailBytes: expected a whole number from 64 to 65536, found \"10\""),
            ("deviceEventsPerHour: 0\n", "server.yaml:1: deviceEventsPerHour: expected a whole number from 10 to 1000000, found \"0\""),
            ("trustedProxies: [10.0.0.0/8, [1]]\n", "server.yaml:1: trustedProxies: expected a list of single values"),
        ])
    func refused(yaml: String, message: String) {
        var config = ServerConfig()
        #expect {
            try config.apply(yaml: yaml, file: "server.yaml")
        } throws: { error in
            "\(error)".hasPrefix(message)
        }
    }
}

import ArgumentParser
import Foundation
import KontorClient
import KontorCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What one load-generator process counted; written as JSON to its `--out` file every second and at
/// the end, so the parent reads it even from a process it killed.
struct HeldPollStats: Codable {
    /// Check-ins answered (whole replies read).
    var answered = 0
    /// Failures by kind: a connect that failed, a reset, a status other than 200, a reply cut short.
    var errors: [String: Int] = [:]
    /// Wipe targets: the device ID and when (Unix seconds) its wipe arrived.
    var delivered: [String: Double] = [:]
    /// Requests sent and not yet answered now.
    var inFlight = 0
}

/// One process of the long-poll load generator (`kontor-bench longpoll` starts several): every device of
/// its fleet file holds a check-in open as running agents do — a new connection per check-in
/// (`Connection: close`, like the agent), `wait` in the signed body, straight back after each answer, one
/// second (±20 %) after a failure — on one event loop, its connections bound to `--source` (a loopback
/// address of its own, so its ports do not run out). The last `--targets` devices of the file are wipe
/// targets: when a wipe arrives the time is noted and the device stops.
struct HeldPollWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longpoll-worker", abstract: "One process of the long-poll load generator (started by longpoll).", shouldDisplay: false)
    @Option var server: String
    @Option var fleet: String
    @Option var targets = 0
    @Option var source = "127.0.0.1"
    @Option var policyHash: String
    @Option var wait = 55
    @Option(help: "Unix time to start at, so every process starts together.") var startAt: Double
    @Option(help: "Seconds over which the devices make their first connection (0: all at once).") var ramp = 0.0
    @Option var out: String

    func run() async throws {
        // One open file per held poll: the soft limit (often 1024) goes up to the hard one.
        var limit = rlimit()
        let nofile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        if getrlimit(nofile, &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(nofile, &limit)
        }
        let devices = try FleetFile(path: fleet).load()
        let url = try ServerURL(server)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let settings = HeldPollDriver.Settings(
            server: url, source: try SocketAddress(ipAddress: source, port: 0), policyHash: policyHash, wait: wait, firstTarget: devices.count - targets)
        let driver = try await loop.submit { HeldPollDriver(loop: loop, devices: devices, settings: settings) }.get()
        let delay = max(0, startAt - Date().timeIntervalSince1970)
        try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
        try await loop.submit { driver.startAll(ramp: ramp) }.get()
        // Until the parent closes our standard input (or goes away): then the last figures are written.
        let stopped = Atomic<Bool>(false)
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while read(0, &byte, 1) > 0 {}
            stopped.store(true, ordering: .releasing)
        }
        while !stopped.load(ordering: .acquiring) {
            try write(try await loop.submit { driver.stats }.get())
            for _ in 0..<10 where !stopped.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(100)) }
        }
        let last = try await loop.submit {
            driver.stopping = true
            return driver.stats
        }.get()
        try write(last)
        try? await group.shutdownGracefully()
    }

    private func write(_ stats: HeldPollStats) throws {
        let temporary = out + ".tmp"
        try KontorJSON.encode(stats).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, out) == 0 else { throw BenchError("\(out): cannot write") }
    }
}

/// The connections of one worker, all on one event loop (so no locks).
final class HeldPollDriver: @unchecked Sendable {
    struct Settings {
        var server: ServerURL
        var source: SocketAddress
        var policyHash: String
        var wait: Int
        /// Devices from this index on are wipe targets.
        var firstTarget: Int
    }

    let loop: any EventLoop
    let devices: [SimulatedDevice]
    let settings: Settings
    var stats = HeldPollStats()
    /// Set when the process stops: no new connections.
    var stopping = false

    init(loop: any EventLoop, devices: [SimulatedDevice], settings: Settings) {
        self.loop = loop
        self.devices = devices
        self.settings = settings
    }

    func startAll(ramp: Double) {
        for index in devices.indices {
            let at = ramp > 0 ? Double.random(in: 0..<ramp) : 0
            loop.scheduleTask(in: .milliseconds(Int64(at * 1000))) { self.connect(index) }
        }
    }

    func failed(_ index: Int, _ kind: String) {
        guard !stopping else { return }
        stats.errors[kind, default: 0] += 1
        let again = Double.random(in: 0.8..<1.2)
        loop.scheduleTask(in: .milliseconds(Int64(again * 1000))) { self.connect(index) }
    }

    func answered(_ index: Int, status: HTTPResponseStatus, body: ByteBuffer) {
        stats.inFlight -= 1
        guard status == .ok else { return failed(index, "HTTP \(status.code)") }
        stats.answered += 1
        if index >= settings.firstTarget, let reply = try? KontorJSON.decode(CheckinResponse.self, from: Data(body.readableBytesView)),
            reply.commands.contains(where: { $0.type == "wipe" })
        {
            stats.delivered[devices[index].id] = Date().timeIntervalSince1970
            return  // a wiped device stops checking in
        }
        connect(index)
    }

    func request(_ index: Int) throws -> (HTTPRequestHead, ByteBuffer) {
        let device = devices[index]
        let body = try KontorJSON.encode(
            CheckinRequest(appliedPolicyHash: settings.policyHash, status: AgentReport(state: "ok"), facts: nil, wait: settings.wait))
        let path = settings.server.basePath + DeviceAPI.checkinPath
        let (headers, _) = try DeviceClient.sign(
            method: "POST", server: settings.server, path: DeviceAPI.checkinPath, body: body, key: device.key, keyID: device.keyID, now: Date())
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Content-Length", value: String(body.count))
        head.headers.add(name: "Connection", value: "close")
        return (head, ByteBuffer(bytes: body))
    }

    func connect(_ index: Int) {
        guard !stopping else { return }
        let (head, body): (HTTPRequestHead, ByteBuffer)
        do { (head, body) = try request(index) } catch { return failed(index, "signing: \(error)") }
        stats.inFlight += 1
        let driver = self
        let connect = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .bind(to: settings.source)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HeldPollConnection(driver: driver, index: index, head: head, body: body))
                }
            }
            .connect(host: settings.server.host, port: settings.server.port)
        connect.whenFailure { error in
            driver.stats.inFlight -= 1
            driver.failed(index, "connect: \(error)".prefix(120).description)
        }
    }
}

/// One check-in on its own connection: sends it, reads the whole answer, hands it to the driver.
final class HeldPollConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let driver: HeldPollDriver
    let index: Int
    let head: HTTPRequestHead
    let body: ByteBuffer
    var status: HTTPResponseStatus = .ok
    var reply: ByteBuffer?
    var done = false

    init(driver: HeldPollDriver, index: Int, head: HTTPRequestHead, body: ByteBuffer) {
        self.driver = driver
        self.index = index
        self.head = head
        self.body = body
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): status = h.status
        case .body(var part):
            if reply == nil { reply = part } else { reply!.writeBuffer(&part) }
        case .end:
            guard !done else { return }
            done = true
            driver.answered(index, status: status, body: reply ?? ByteBuffer())
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            driver.stats.inFlight -= 1
            driver.failed(index, "\(error)".prefix(120).description)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            driver.stats.inFlight -= 1
            driver.failed(index, "connection closed before the answer")
        }
        context.fireChannelInactive()
    }
}

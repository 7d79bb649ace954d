import ArgumentParser
import AsyncHTTPClient
import Crypto
import Foundation
import KontorClient
import KontorCore
import NIOCore
import NIOHTTP1
import Synchronization

/// `kontor-bench`: enrolls a simulated fleet once and drives signed check-ins against a running server
/// with the real device protocol. See docs/benchmarks.md.
@main
struct KontorBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kontor-bench", abstract: "Fleet simulator and load generator for kontor-server.",
        subcommands: [Enroll.self, Checkin.self, Fanout.self, Herd.self, WipeDelivery.self, LongPollDelivery.self, HeldPollWorker.self, Watch.self])
}

struct Common: ParsableArguments {
    @Option(help: "The server's base URL.") var server = "http://127.0.0.1:8080"
    @Option(help: "The fleet file (device IDs and keys), created by enroll.") var fleet = "bench-fleet.txt"
    @Option(help: "Requests in flight at once.") var concurrency = 32
    @Option(help: "The server's PID, to report its CPU time and RSS from /proc.") var serverPid: Int32?

    /// The fleet file's devices (only the first `first` when given).
    func loadFleet(first: Int?, allowEmpty: Bool = false) throws -> [SimulatedDevice] {
        var fleet = try FleetFile(path: self.fleet).load()
        if let first { fleet = Array(fleet.prefix(first)) }
        guard allowEmpty || !fleet.isEmpty else { throw BenchError("\(self.fleet) holds no devices; run kontor-bench enroll first") }
        return fleet
    }

    func client() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

/// One signed POST with the device's key; returns the status and body.
func signedPost(
    _ http: HTTPClient, server: ServerURL, path: String, body: Data, device: SimulatedDevice, timeout: TimeAmount = .seconds(30)
) async throws -> (Int, ByteBuffer) {
    try await signedPost(http, server: server, path: path, body: body, key: device.key, keyID: device.keyID, timeout: timeout)
}

func signedPost(
    _ http: HTTPClient, server: ServerURL, path: String, body: Data, key: Curve25519.Signing.PrivateKey, keyID: String? = nil,
    timeout: TimeAmount = .seconds(30)
) async throws -> (Int, ByteBuffer) {
    let (headers, _) = try DeviceClient.sign(method: "POST", server: server, path: path, body: body, key: key, keyID: keyID, now: Date())
    var request = HTTPClientRequest(url: server.url(path))
    request.method = .POST
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    request.body = .bytes(ByteBuffer(bytes: body))
    let response = try await http.execute(request, timeout: timeout)
    return (Int(response.status.code), try await response.body.collect(upTo: 4 << 20))
}

/// Enrolls `count` new simulated devices with the real protocol (hostnames `prefix-N`), `concurrency` at a time.
func enrollDevices(
    http: HTTPClient, admin: AdminClient, server: ServerURL, count: Int, firstNumber: Int, prefix: String, concurrency: Int, serverPID: Int32?
) async throws -> ([SimulatedDevice], LoadResult) {
    struct Created: Decodable { var token: String }
    struct TokenRequest: Encodable {
        var uses: Int
        var expiresIn: Int
    }
    var tokens: [String] = []
    for _ in 0..<((count + 9_999) / 10_000) {
        tokens.append(try await admin.call(.POST, "/enroll-tokens", body: TokenRequest(uses: 10_000, expiresIn: 86_400), as: Created.self).token)
    }
    let tokenList = tokens
    let enrolled = Mutex<[SimulatedDevice]>([])
    let result = await runLoad(name: "enroll", concurrency: concurrency, duration: 86_400, limit: count, serverPID: serverPID) { k in
        let key = Curve25519.Signing.PrivateKey()
        let facts = DeviceFacts(
            hostname: "\(prefix)-\(firstNumber + k)", osRelease: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0",
            machineIdHash: Bytes.sha256Hex(Data(UUID().uuidString.utf8)), agentVersion: "bench")
        let body = try KontorJSON.encode(
            EnrollRequest(token: tokenList[k / 10_000], publicKey: DeviceKeys.base64(key.publicKey), facts: facts, acceptedTermsVersion: nil))
        let (status, reply) = try await signedPost(http, server: server, path: DeviceAPI.enrollPath, body: body, key: key)
        guard status == 201 else { throw BenchError("HTTP \(status): \(String(buffer: reply).prefix(120))") }
        let id = try KontorJSON.decode(EnrollResponse.self, from: Data(reply.readableBytesView)).deviceId
        enrolled.withLock { $0.append(SimulatedDevice(id: id, key: key)) }
    }
    return (enrolled.withLock { $0 }, result)
}

/// Runs `body` with an HTTP client and shuts the client down afterwards, also on errors.
func withClient<T>(_ common: Common, _ body: (HTTPClient) async throws -> T) async throws -> T {
    let http = common.client()
    do {
        let out = try await body(http)
        try await http.shutdown()
        return out
    } catch {
        try? await http.shutdown()
        throw error
    }
}

struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Enroll simulated devices until the fleet file holds --devices of them.")
    @OptionGroup var common: Common
    @Option(help: "An operator or admin API token, to create enrollment tokens.") var adminToken: String
    @Option(help: "How many devices the fleet should have.") var devices = 1000

    func run() async throws {
        let file = FleetFile(path: common.fleet)
        let existing = try file.load()
        let missing = devices - existing.count
        guard missing > 0 else { return print("\(common.fleet) already holds \(existing.count) devices") }
        try await withClient(common) { http in
            let admin = try AdminClient(server: common.server, token: adminToken, transport: AsyncHTTPTransport(client: http))
            let (enrolled, result) = try await enrollDevices(
                http: http, admin: admin, server: try ServerURL(common.server), count: missing, firstNumber: existing.count, prefix: "sim",
                concurrency: common.concurrency, serverPID: common.serverPid)
            try file.append(enrolled)
            print(result.text())
        }
    }
}

struct Checkin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Signed check-ins of the fleet: as fast as possible (unchanged policy), or steady polling at --interval; with /healthz as the yardstick.")
    @OptionGroup var common: Common
    @Option(help: "Seconds to run each phase.") var duration = 20.0
    @Option(help: "Only the first N devices of the fleet.") var devices: Int?
    @Option(help: "Steady polling: every device checks in once per this many seconds (rate = devices / interval).") var interval: Double?
    @Option(help: "Steady polling: each interval varies by up to this fraction (the agent: 0.1).") var jitter = 0.1
    @Flag(help: "Also measure GET /healthz with the same client and concurrency, and print the ratio.") var healthz = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "First every device checks in once, unmeasured (raw client only).") var warmup = false
    @Option(help: "raw: plain keep-alive connections on one event loop (lean, http only); ahc: AsyncHTTPClient.") var client: ClientKind = .raw

    enum ClientKind: String, ExpressibleByArgument { case raw, ahc }

    func run() async throws {
        let fleet = try common.loadFleet(first: devices)
        try await withClient(common) { http in try await measure(http: http, fleet: fleet) }
    }

    func measure(http: HTTPClient, fleet: [SimulatedDevice]) async throws {
        let server = try ServerURL(common.server)
        // The policy hash the devices enforce, from one check-in: from then on every check-in is "unchanged".
        let first = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil))
        let (status, reply) = try await signedPost(http, server: server, path: DeviceAPI.checkinPath, body: first, device: fleet[0])
        guard status == 200 else { throw BenchError("first check-in: HTTP \(status): \(String(buffer: reply).prefix(200))") }
        let hash = try KontorJSON.decode(CheckinResponse.self, from: Data(reply.readableBytesView)).policyHash
        let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: hash, status: AgentReport(state: "ok"), facts: nil))
        let schedule = interval.map { PollSchedule(devices: fleet.count, interval: $0, jitter: jitter, duration: duration) }
        let name =
            interval.map {
                String(format: "steady polling (%d devices every %.0f s ± %.0f%% = %.0f/s)", fleet.count, $0, jitter * 100, Double(fleet.count) / $0)
            }
            ?? "unchanged check-ins, max"
        let results =
            client == .raw
            ? try await rawLoad(server: server, fleet: fleet, body: body, schedule: schedule, name: name)
            : try await clientLoad(http: http, server: server, fleet: fleet, body: body, schedule: schedule, name: name)
        if json {
            print(String(decoding: try KontorJSON.encode(results, pretty: true), as: UTF8.self))
            return
        }
        for result in results { print(result.text()) }
        if healthz, results.count == 2, results[0].throughput > 0 {
            print(String(format: "check-ins: %.0f%% of /healthz throughput", results[1].throughput / results[0].throughput * 100))
        }
    }

    /// The load with the lean event-loop client: /healthz first (the yardstick), an unmeasured warm-up,
    /// then the check-ins.
    private func rawLoad(server: ServerURL, fleet devices: [SimulatedDevice], body: Data, schedule: PollSchedule?, name: String) async throws -> [LoadResult] {
        var results: [LoadResult] = []
        var settings = RawLoad.Settings(host: server.host, port: server.port, connections: common.concurrency, duration: duration, schedule: nil, limit: nil)
        guard server.scheme == "http" else { throw BenchError("--client raw speaks plain HTTP; use --client ahc for https") }
        if healthz {
            results.append(
                try await RawLoad.run(name: "healthz", settings: settings, serverPID: common.serverPid) { _ in
                    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: server.basePath + "/healthz")
                    head.headers.add(name: "Host", value: server.authority)
                    return (head, nil)
                })
        }
        let path = server.basePath + DeviceAPI.checkinPath
        let build: @Sendable (SimulatedDevice) throws -> (HTTPRequestHead, ByteBuffer?) = { device in
            let (headers, _) = try DeviceClient.sign(
                method: "POST", server: server, path: DeviceAPI.checkinPath, body: body, key: device.key, keyID: device.keyID, now: Date())
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
            for (field, value) in headers { head.headers.add(name: field, value: value) }
            head.headers.add(name: "Content-Length", value: String(body.count))
            return (head, ByteBuffer(bytes: body))
        }
        if warmup {
            // Every device once, unmeasured: the server has then computed each device's policy hash.
            var once = settings
            (once.duration, once.limit) = (3_600, devices.count)
            let done = try await RawLoad.run(name: "warm-up", settings: once, serverPID: nil) { k in try build(devices[k]) }
            if done.errors.values.reduce(0, +) > 0 { print(done.text()) }
        }
        settings.schedule = schedule
        results.append(
            try await RawLoad.run(name: name, settings: settings, serverPID: common.serverPid) { k in
                try build(devices[schedule.map { Int($0.device[k]) } ?? k % devices.count])
            })
        return results
    }

    /// The same load with AsyncHTTPClient (also https).
    private func clientLoad(
        http: HTTPClient, server: ServerURL, fleet devices: [SimulatedDevice], body: Data, schedule: PollSchedule?, name: String
    ) async throws -> [LoadResult] {
        var results: [LoadResult] = []
        if healthz {
            let url = server.url("/healthz")
            results.append(
                await runLoad(name: "healthz", concurrency: common.concurrency, duration: duration, serverPID: common.serverPid) { _ in
                    let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
                    _ = try await response.body.collect(upTo: 1 << 16)
                    guard response.status == .ok else { throw BenchError("HTTP \(response.status.code)") }
                })
        }
        results.append(
            await runLoad(name: name, concurrency: common.concurrency, duration: duration, schedule: schedule, serverPID: common.serverPid) { k in
                let device = devices[schedule.map { Int($0.device[k]) } ?? k % devices.count]
                let (status, reply) = try await signedPost(http, server: server, path: DeviceAPI.checkinPath, body: body, device: device)
                guard status == 200 else { throw BenchError("HTTP \(status): \(String(buffer: reply).prefix(120))") }
            })
        return results
    }
}

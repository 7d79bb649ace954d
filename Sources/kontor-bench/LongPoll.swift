import ArgumentParser
import AsyncHTTPClient
import Foundation
import KontorClient
import KontorCore
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Long polls at the scale one server process can hold: every device of the fleet holds a check-in open
/// as running agents do, spread over several load-generator processes (`longpoll-worker`; one process may
/// open only 20,000 files here), each on its own loopback address. Measures, in this order: the burst
/// of every device connecting at once (how long until the server holds them all, errors), the server's
/// memory per held poll, wipe delivery to extra devices (from the admin API call to the device), and how
/// fast the server lets go of the polls of a generator process that is killed (vanished clients).
struct LongPollDelivery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longpoll",
        abstract: "N devices hold long polls (several processes); burst, memory per held poll, wipe delivery, vanished clients.")
    @OptionGroup var common: Common
    @Option(help: "An operator or admin API token.") var adminToken: String
    @Option(help: "Devices holding long polls besides the wipe targets (the first N of the fleet).") var devices = 10_000
    @Option(help: "Seconds each long poll asks to be held (the agent: 55).") var wait = 55
    @Option(help: "How many wipes, each to its own new device (revoked afterwards).") var wipes = 20
    @Option(help: "Seconds over which the wipes are issued, after every device is holding a poll.") var spread = 10.0
    @Option(help: "Seconds to wait for all devices to hold a poll.") var settle = 60.0
    @Option(help: "Seconds over which the devices first connect (0: all at once, the burst after a restart).") var ramp = 0.0
    @Option(help: "Load-generator processes (0: one per 4,000 devices).") var processes = 0
    @Option(help: "Seconds between all polls held and reading the server's memory (its periodic trim runs every 15 s).") var memorySettle = 20.0
    @Option(help: "A second server URL (another instance on the same PostgreSQL): wipes are issued through it.") var issueVia: String?

    func run() async throws {
        let fleet = try common.loadFleet(first: devices)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await measure(http: http, fleet: fleet)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    func measure(http: HTTPClient, fleet: [SimulatedDevice]) async throws {
        let server = try ServerURL(common.server)
        let admin = try AdminClient(server: common.server, token: adminToken, transport: AsyncHTTPTransport(client: http))
        let issuer = try AdminClient(server: issueVia ?? common.server, token: adminToken, transport: AsyncHTTPTransport(client: http))
        let (targets, _) = try await enrollDevices(
            http: http, admin: admin, server: server, count: wipes, firstNumber: Int(Date().timeIntervalSince1970), prefix: "longpoll-sim", concurrency: 4,
            serverPID: nil)
        guard targets.count == wipes else { throw BenchError("could only enroll \(targets.count) of \(wipes) wipe targets") }
        let hash = try await currentPolicyHash(http: http, server: server, device: fleet[0])
        let total = fleet.count + targets.count
        let workers = try HeldPollWorkers(
            fleet: fleet, targets: targets, processes: processes > 0 ? processes : max(1, (total + 3_999) / 4_000), server: common.server, hash: hash,
            wait: wait, ramp: ramp)
        defer { workers.stopAll() }
        let gauge = HeldGauge(http: http, server: common.server)
        let idle = common.serverPid.flatMap(ProcessSample.read)
        print(
            "\(total) devices (\(targets.count) of them wipe targets) in \(workers.count) processes hold long polls (wait \(wait) s), \(ramp > 0 ? String(format: "connecting over %.0f s", ramp) : "all connecting at once")"
        )

        // 1. The burst: from the common start until the server holds every poll.
        try workers.start()
        let (heldAfter, held) = try await gauge.waitFor(atLeast: total, from: workers.startAt, within: settle)
        let burstErrors = workers.stats().errors
        print(
            String(
                format: "burst: %d of %d polls held %@ %.2f s after the start; %d errors%@", held, total, held >= total ? "at" : "(not all) by", heldAfter,
                burstErrors.values.reduce(0, +), burstErrors.isEmpty ? "" : " \(burstErrors)"))

        try await reportMemory(idle: idle, held: held)

        try await reportDelivery(targets: targets, workers: workers, issuer: issuer)

        if workers.count > 1 { try await reportVanished(workers: workers, gauge: gauge) }

        let stats = workers.stopAll()
        for target in targets {
            _ = try? await admin.call(.POST, "/devices/\(target.id)/revoke", body: ["reason": "kontor-bench long-poll target"], as: EmptyReply.self)
        }
        let end = common.serverPid.flatMap(ProcessSample.read)
        print(
            String(
                format: "long polls: %d check-ins answered, %d errors%@; server CPU %.1f s over the run", stats.answered, stats.errors.values.reduce(0, +),
                stats.errors.isEmpty ? "" : " \(stats.errors)", (end?.cpuSeconds ?? 0) - (idle?.cpuSeconds ?? 0)))
    }

    /// 2. The server's memory with every poll held: right after the burst, and once it gave back what the burst's work took.
    private func reportMemory(idle: ProcessSample?, held: Int) async throws {
        let afterBurst = common.serverPid.flatMap(ProcessSample.read)
        try await Task.sleep(for: .seconds(memorySettle))
        let loaded = common.serverPid.flatMap(ProcessSample.read)
        if let afterBurst { print(String(format: "server: RSS %.0f MB right after the burst", Double(afterBurst.rssBytes) / 1e6)) }
        if let idle, let loaded {
            let perPoll = Double(loaded.rssBytes - idle.rssBytes) / Double(max(held, 1))
            print(
                String(
                    format:
                        "server: RSS %.0f MB before, %.0f MB with %d polls held (%.0f s later): %.1f KB per held poll; 100,000 held polls ≈ %.0f MB + %.0f MB = %.0f MB",
                    Double(idle.rssBytes) / 1e6, Double(loaded.rssBytes) / 1e6, held, memorySettle, perPoll / 1e3, Double(idle.rssBytes) / 1e6,
                    perPoll * 100_000 / 1e6,
                    (Double(idle.rssBytes) + perPoll * 100_000) / 1e6))
        }
    }

    /// 3. Wipes to the targets while everything is held: from the admin API call to the device.
    private func reportDelivery(targets: [SimulatedDevice], workers: HeldPollWorkers, issuer: AdminClient) async throws {
        let issued = try await issueWipes(to: targets, via: issuer)
        var delivered: [String: Double] = [:]
        for _ in 0..<100 where delivered.count < targets.count {
            try await Task.sleep(for: .milliseconds(100))
            delivered = workers.stats().delivered
        }
        let delays = targets.compactMap { t in delivered[t.id].flatMap { d in issued[t.id].map { d - $0 } } }
        let (p50, p99, maxDelay) = percentiles(delays)
        print(
            String(
                format: "wipe delivery with long polls: %d of %d delivered; from issue to the device p50 %.3f s, p99 %.3f s, max %.3f s", delays.count,
                targets.count, p50, p99, maxDelay))
    }

    /// 4. Vanished clients: the first process (no wipe targets) is killed; its polls must be let go.
    private func reportVanished(workers: HeldPollWorkers, gauge: HeldGauge) async throws {
        let before = try await gauge.read()
        let gone = workers.shardSize(0)
        let killedAt = Date().timeIntervalSince1970
        workers.kill(0)
        let (after, now) = try await gauge.waitFor(atMost: before - gone, from: killedAt, within: 60)
        print(
            String(
                format: "vanished clients: a generator process holding %d polls was killed; the server held %d, then %d %.2f s later%@", gone, before, now,
                after, now <= before - gone ? " (all released)" : " (NOT all released)"))
    }

    /// Issues a wipe to each target, spread evenly over `spread` seconds; when each was issued (Unix seconds).
    private func issueWipes(to targets: [SimulatedDevice], via issuer: AdminClient) async throws -> [String: Double] {
        struct Command: Encodable {
            var type: String
            var reason: String
        }
        var issued: [String: Double] = [:]
        for target in targets {
            try await Task.sleep(for: .milliseconds(Int(spread * 1000 / Double(max(targets.count, 1)))))
            let at = Date().timeIntervalSince1970
            _ = try await issuer.call(
                .POST, "/devices/\(target.id)/commands", body: Command(type: "wipe", reason: "kontor-bench long-poll delivery"), as: EmptyReply.self)
            issued[target.id] = at
        }
        return issued
    }
}

struct EmptyReply: Decodable {}

/// The server's `kontor_long_polls_held` gauge, read from `/metrics`.
struct HeldGauge {
    let http: HTTPClient
    let server: String

    func read() async throws -> Int {
        let response = try await http.execute(HTTPClientRequest(url: server + "/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 8 << 20))
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("kontor_long_polls_held ") }),
            let value = Double(line.split(separator: " ")[1])
        else { return 0 }
        return Int(value)
    }

    /// Polls every 50 ms until the gauge reaches `atLeast` (or falls to `atMost`); seconds since `from` and the last value.
    func waitFor(atLeast: Int = .min, atMost: Int = .max, from: Double, within: Double) async throws -> (Double, Int) {
        var value = try await read()
        while !(value >= atLeast && value <= atMost), Date().timeIntervalSince1970 - from < within {
            try await Task.sleep(for: .milliseconds(50))
            value = try await read()
        }
        return (Date().timeIntervalSince1970 - from, value)
    }
}

/// The generator processes: each gets a share of the fleet in a file of its own (the last also the wipe
/// targets) and a loopback address of its own (127.0.0.2, .3, …).
final class HeldPollWorkers {
    private let directory: String
    private var processes: [Process] = []
    private var stdins: [Pipe] = []
    private let shards: [[SimulatedDevice]]
    private let arguments: [[String]]
    let startAt: Double

    var count: Int { shards.count }
    func shardSize(_ n: Int) -> Int { shards[n].count }

    init(fleet: [SimulatedDevice], targets: [SimulatedDevice], processes: Int, server: String, hash: String, wait: Int, ramp: Double) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-longpoll-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let size = (fleet.count + processes - 1) / processes
        var shards = stride(from: 0, to: fleet.count, by: max(size, 1)).map { Array(fleet[$0..<min($0 + size, fleet.count)]) }
        if shards.isEmpty { shards = [[]] }
        shards[shards.count - 1] += targets
        self.shards = shards
        startAt = Date().timeIntervalSince1970 + 3
        var arguments: [[String]] = []
        for (n, shard) in shards.enumerated() {
            let file = "\(directory)/fleet-\(n).txt"
            try? FileManager.default.removeItem(atPath: file)
            try FleetFile(path: file).append(shard)
            arguments.append([
                "longpoll-worker", "--server", server, "--fleet", file, "--targets", String(n == shards.count - 1 ? targets.count : 0),
                "--source", "127.0.0.\(2 + n)", "--policy-hash", hash, "--wait", String(wait), "--start-at", String(startAt), "--ramp", String(ramp),
                "--out", "\(directory)/stats-\(n).json",
            ])
        }
        self.arguments = arguments
    }

    func start() throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        for args in arguments {
            let process = Process()
            process.executableURL = executable
            process.arguments = args
            let input = Pipe()
            process.standardInput = input
            try process.run()
            processes.append(process)
            stdins.append(input)
        }
    }

    func kill(_ n: Int) {
        Glibc.kill(processes[n].processIdentifier, SIGKILL)
    }

    /// What every process has written so far, summed.
    func stats() -> HeldPollStats {
        var sum = HeldPollStats()
        for n in shards.indices {
            guard let data = FileManager.default.contents(atPath: "\(directory)/stats-\(n).json") else { continue }
            let s: HeldPollStats
            do { s = try KontorJSON.decode(HeldPollStats.self, from: data) } catch {
                FileHandle.standardError.write(Data("stats-\(n).json: \(error)\n".utf8))
                continue
            }
            sum.answered += s.answered
            sum.inFlight += s.inFlight
            sum.errors.merge(s.errors, uniquingKeysWith: +)
            sum.delivered.merge(s.delivered) { a, _ in a }
        }
        return sum
    }

    /// Tells every process to stop (its standard input closes), waits for them, and returns the sum of their figures.
    @discardableResult
    func stopAll() -> HeldPollStats {
        for pipe in stdins { try? pipe.fileHandleForWriting.close() }
        stdins = []
        // Not `waitUntilExit`, which spins a core on Linux while the workers finish.
        for process in processes { while process.isRunning { usleep(10_000) } }
        processes = []
        let sum = stats()
        try? FileManager.default.removeItem(atPath: directory)
        return sum
    }
}

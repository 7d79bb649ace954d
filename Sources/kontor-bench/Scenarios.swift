import ArgumentParser
import AsyncHTTPClient
import Foundation
import KontorClient
import KontorCore
import NIOCore
import Synchronization

/// How the simulated fleet polls, as the agent does.
struct Polling: ParsableArguments {
    @Option(help: "Seconds between check-ins of each device.") var interval = 60.0
    @Option(help: "Each interval varies by up to this fraction (the agent: 0.1).") var jitter = 0.1
}

/// The fleet as agents: each device remembers the policy hash it runs and reports it at check-in, and
/// picks up a new policy from the reply, as `kontor-agent` does.
final class SimulatedAgents: Sendable {
    let devices: [SimulatedDevice]
    private let applied: Mutex<[String?]>

    init(_ devices: [SimulatedDevice], runningHash hash: String?) {
        self.devices = devices
        self.applied = Mutex(Array(repeating: hash, count: devices.count))
    }

    func hash(of device: Int) -> String? { applied.withLock { $0[device] } }

    /// One check-in of device `index`; returns the reply. A policy reply is applied (the next check-in
    /// reports its hash).
    func checkin(_ index: Int, http: HTTPClient, server: ServerURL, acks: [CommandAck]? = nil) async throws -> CheckinResponse {
        let hash = hash(of: index)
        let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: hash, status: AgentReport(state: "ok"), facts: nil, acks: acks))
        let (status, reply) = try await signedPost(http, server: server, path: DeviceAPI.checkinPath, body: body, device: devices[index])
        guard status == 200 else { throw BenchError("HTTP \(status): \(String(buffer: reply).prefix(120))") }
        let response = try KontorJSON.decode(CheckinResponse.self, from: Data(reply.readableBytesView))
        if response.policyHash != hash { applied.withLock { $0[index] = response.policyHash } }
        return response
    }
}

/// The policy hash the fleet's devices get now, from one check-in of the first device.
func currentPolicyHash(http: HTTPClient, server: ServerURL, device: SimulatedDevice) async throws -> String {
    let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil))
    let (status, reply) = try await signedPost(http, server: server, path: DeviceAPI.checkinPath, body: body, device: device)
    guard status == 200 else { throw BenchError("first check-in: HTTP \(status): \(String(buffer: reply).prefix(200))") }
    return try KontorJSON.decode(CheckinResponse.self, from: Data(reply.readableBytesView)).policyHash
}

/// Seconds since `start`.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Percentiles of a list of seconds.
func percentiles(_ values: [Double]) -> (p50: Double, p99: Double, max: Double) {
    guard !values.isEmpty else { return (0, 0, 0) }
    let sorted = values.sorted()
    func at(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)] }
    return (at(0.5), at(0.99), sorted.last!)
}

struct Fanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Policy change fan-out: the fleet polls steadily, a new profile revision is applied, and the time until every device runs it is measured.")
    @OptionGroup var common: Common
    @Option(help: "An admin API token, to apply and assign the benchmark profile.") var adminToken: String
    @OptionGroup var polling: Polling
    @Option(help: "Seconds of steady polling before the change.") var lead = 10.0
    @Option(help: "Only the first N devices of the fleet.") var devices: Int?
    @Option(help: "The profile the benchmark applies and assigns as the default.") var profile = "bench-fanout"

    func source(marker: String) -> String {
        """
        apiVersion: kontor/v1
        kind: Profile
        name: \(profile)
        description: kontor-bench policy fan-out
        checkinInterval: \(Int(polling.interval))
        usageTermsVersion: "\(marker)"
        """
    }

    func run() async throws {
        let fleet = try common.loadFleet(first: devices)
        try await withClient(common) { http in try await measure(http: http, fleet: fleet) }
    }

    func measure(http: HTTPClient, fleet: [SimulatedDevice]) async throws {
        let server = try ServerURL(common.server)
        let admin = try AdminClient(server: common.server, token: adminToken, transport: AsyncHTTPTransport(client: http))
        struct Apply: Encodable { var source: String }
        struct Assign: Encodable {
            var profile: String
            var scope: String
        }
        struct Ignored: Decodable {}
        // The baseline: the benchmark profile as the default, the whole fleet running it.
        _ = try await admin.call(.POST, "/profiles", body: Apply(source: source(marker: "before-\(Date().timeIntervalSince1970)")), as: Ignored.self)
        _ = try await admin.call(.PUT, "/assignments", body: Assign(profile: profile, scope: "default"), as: Ignored.self)
        let before = try await currentPolicyHash(http: http, server: server, device: fleet[0])
        let agents = SimulatedAgents(fleet, runningHash: before)

        let total = fleet.count
        let deadline = lead + polling.interval * (1 + polling.jitter) + 30
        let schedule = PollSchedule(devices: total, interval: polling.interval, jitter: polling.jitter, duration: deadline)
        let start = ContinuousClock.now
        // When the change was applied (seconds from start; infinity until then), and per device when it got it.
        let appliedAt = Mutex<Double>(.infinity)
        let arrivals = Mutex<(count: Int, delays: [Double])>((0, []))
        let newHash = Mutex<String?>(nil)

        let change = Task { () -> (Double, Double) in
            try await Task.sleep(for: .milliseconds(Int(lead * 1000)))
            // Delays count from when the admin sends the change, so they include the apply itself.
            let sent = secondsSince(start)
            appliedAt.withLock { $0 = sent }
            _ = try await admin.call(.POST, "/profiles", body: Apply(source: source(marker: "after-\(Date().timeIntervalSince1970)")), as: Ignored.self)
            return (sent, secondsSince(start) - sent)
        }
        let result = await runLoad(
            name: String(format: "fan-out polling (%d devices every %.0f s ± %.0f%%)", total, polling.interval, polling.jitter * 100),
            concurrency: common.concurrency,
            duration: deadline, schedule: schedule, serverPID: common.serverPid, stop: { arrivals.withLock { $0.count } >= total }
        ) { k in
            let index = Int(schedule.device[k])
            let had = agents.hash(of: index)
            let reply = try await agents.checkin(index, http: http, server: server)
            guard reply.policyHash != had, reply.policyHash != before else { return }
            // A device's first reply with the new revision: how long after the change was applied.
            let now = secondsSince(start)
            let sent = appliedAt.withLock { $0 }
            guard now >= sent else { return }
            newHash.withLock { if $0 == nil { $0 = reply.policyHash } }
            arrivals.withLock {
                $0.count += 1
                $0.delays.append(now - sent)
            }
        }
        let (_, applyLatency) = try await change.value
        report(result, applyLatency: applyLatency, delays: arrivals.withLock { $0.delays }, total: total)
    }

    private func report(_ result: LoadResult, applyLatency: Double, delays: [Double], total: Int) {
        let (p50, p99, maxDelay) = percentiles(delays)
        print(result.text())
        print(String(format: "the apply request took %.2f s (the revision is stored first; then every device whose policy changes is listed)", applyLatency))
        print(
            String(
                format:
                    "fan-out: %d of %d devices run the new revision; after the change p50 %.1f s, p99 %.1f s, all by %.1f s (target: interval + 10 s = %.0f s)",
                delays.count, total, p50, p99, maxDelay, polling.interval + 10))
    }
}

struct Herd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Thundering herd: waits until the server is ready (start it just before), then every device of the fleet checks in at once.")
    @OptionGroup var common: Common
    @Option(help: "Only the first N devices of the fleet.") var devices: Int?
    @Option(help: "Seconds to wait for /readyz.") var waitReady = 120.0

    func run() async throws {
        let fleet = try common.loadFleet(first: devices)
        try await withClient(common) { http in
            let server = try ServerURL(common.server)
            let waited = ContinuousClock.now
            while true {
                if let response = try? await http.execute(HTTPClientRequest(url: server.url("/readyz")), timeout: .seconds(2)), response.status == .ok { break }
                guard secondsSince(waited) < waitReady else { throw BenchError("the server was not ready within \(waitReady) s") }
                try await Task.sleep(for: .milliseconds(50))
            }
            print(String(format: "server ready after %.2f s of waiting", secondsSince(waited)))
            // Every agent comes back with the hash it ran before the restart.
            let hash = try await currentPolicyHash(http: http, server: server, device: fleet[0])
            let agents = SimulatedAgents(fleet, runningHash: hash)
            let result = await runLoad(
                name: "thundering herd (\(fleet.count) devices once, \(common.concurrency) at a time)", concurrency: common.concurrency, duration: 3_600,
                limit: fleet.count, serverPID: common.serverPid
            ) { k in _ = try await agents.checkin(k, http: http, server: server) }
            print(result.text())
        }
    }
}

struct WipeDelivery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wipe",
        abstract:
            "Wipe delivery latency: while the fleet polls steadily, wipes are issued to extra devices enrolled for the purpose, and the time until each reaches its device is measured."
    )
    @OptionGroup var common: Common
    @Option(help: "An operator or admin API token.") var adminToken: String
    @OptionGroup var polling: Polling
    @Option(help: "How many wipes (each to its own new device, revoked afterwards).") var wipes = 20
    @Option(help: "Only the first N devices of the fleet poll alongside.") var devices: Int?

    func run() async throws {
        let fleet = try common.loadFleet(first: devices, allowEmpty: true)
        try await withClient(common) { http in try await measure(http: http, fleet: fleet) }
    }

    func measure(http: HTTPClient, fleet: [SimulatedDevice]) async throws {
        let server = try ServerURL(common.server)
        let admin = try AdminClient(server: common.server, token: adminToken, transport: AsyncHTTPTransport(client: http))
        let (targets, _) = try await enrollDevices(
            http: http, admin: admin, server: server, count: wipes, firstNumber: Int(Date().timeIntervalSince1970), prefix: "wipe-sim", concurrency: 4,
            serverPID: nil)
        guard targets.count == wipes else { throw BenchError("could only enroll \(targets.count) of \(wipes) wipe targets") }
        let all = fleet + targets
        let hash = try await currentPolicyHash(http: http, server: server, device: all[0])
        let agents = SimulatedAgents(all, runningHash: hash)
        let firstTarget = fleet.count
        let duration = polling.interval * (2 + polling.jitter) + 10
        let schedule = PollSchedule(devices: all.count, interval: polling.interval, jitter: polling.jitter, duration: duration)
        let start = ContinuousClock.now
        // Per target: when its wipe was issued and when it arrived (seconds from start).
        let issued = Mutex<[Double?]>(Array(repeating: nil, count: wipes))
        let delivered = Mutex<[Double?]>(Array(repeating: nil, count: wipes))

        struct Command: Encodable {
            var type: String
            var reason: String
        }
        struct Ignored: Decodable {}
        let issuer = Task {
            // Spread over the first interval, so each lands at a random point of its device's poll cycle.
            for (i, target) in targets.enumerated() {
                try await Task.sleep(for: .milliseconds(Int(polling.interval * 1000 / Double(wipes))))
                let at = secondsSince(start)
                _ = try await admin.call(
                    .POST, "/devices/\(target.id)/commands", body: Command(type: "wipe", reason: "kontor-bench delivery latency"), as: Ignored.self)
                issued.withLock { $0[i] = at }
            }
        }
        let result = await runLoad(
            name: String(format: "polling (%d devices every %.0f s) while %d wipes are issued", all.count, polling.interval, wipes),
            concurrency: common.concurrency,
            duration: duration, schedule: schedule, serverPID: common.serverPid, stop: { delivered.withLock { $0.allSatisfy { $0 != nil } } }
        ) { k in
            let index = Int(schedule.device[k])
            let reply = try await agents.checkin(index, http: http, server: server)
            guard index >= firstTarget, reply.commands.contains(where: { $0.type == "wipe" }) else { return }
            let now = secondsSince(start)
            delivered.withLock { if $0[index - firstTarget] == nil { $0[index - firstTarget] = now } }
        }
        try await issuer.value
        struct Revoke: Encodable { var reason: String }
        for target in targets {
            _ = try? await admin.call(.POST, "/devices/\(target.id)/revoke", body: Revoke(reason: "kontor-bench wipe target"), as: Ignored.self)
        }
        let pairs = zip(issued.withLock { $0 }, delivered.withLock { $0 })
        let delays = pairs.compactMap { i, d in i.flatMap { i in d.map { $0 - i } } }
        let (p50, p99, maxDelay) = percentiles(delays)
        print(result.text())
        print(
            String(
                format: "wipe delivery: %d of %d delivered; from issue to the device p50 %.1f s, p99 %.1f s, max %.1f s (polling every %.0f s)",
                delays.count, wipes, p50, p99, maxDelay, polling.interval))
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Samples a process's RSS and CPU time from /proc, e.g. an idle kontor-agent between polls.")
    @Option(help: "The process to watch.") var pid: Int32
    @Option(help: "Seconds to watch.") var duration = 300.0
    @Option(help: "Seconds between samples.") var every = 5.0

    func run() async throws {
        guard let first = ProcessSample.read(pid: pid) else { throw BenchError("no process \(pid)") }
        var maxRSS = first.rssBytes
        var last = first
        let start = ContinuousClock.now
        while secondsSince(start) < duration {
            try await Task.sleep(for: .milliseconds(Int(every * 1000)))
            guard let sample = ProcessSample.read(pid: pid) else { throw BenchError("process \(pid) ended") }
            maxRSS = max(maxRSS, sample.rssBytes)
            last = sample
        }
        let seconds = secondsSince(start)
        print(
            String(
                format: "pid %d over %.0f s: RSS now %.1f MB, max %.1f MB; CPU %.3f s (%.3f%% of one core)", pid, seconds, Double(last.rssBytes) / 1_048_576,
                Double(maxRSS) / 1_048_576, last.cpuSeconds - first.cpuSeconds, (last.cpuSeconds - first.cpuSeconds) / seconds * 100))
        // What the RSS is made of: pages only this process dirtied cost memory; clean pages of the
        // binary and libraries are shared with the page cache and dropped under pressure.
        if let rollup = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) {
            var fields: [String: Double] = [:]
            for line in rollup.split(separator: "\n") {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                if parts.count >= 2, let kb = Double(parts[1]) { fields[String(parts[0].dropLast())] = kb / 1024 }
            }
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count) ?? 0
            print(
                String(
                    format: "  of the RSS: anonymous %.1f MB, private dirty %.1f MB, private clean (file) %.1f MB, shared clean %.1f MB; PSS %.1f MB",
                    fields["Anonymous"] ?? 0, fields["Private_Dirty"] ?? 0, fields["Private_Clean"] ?? 0, fields["Shared_Clean"] ?? 0, fields["Pss"] ?? 0))
            print(
                String(
                    format: "  private (clean + dirty) %.1f MB; %d threads", (fields["Private_Clean"] ?? 0) + (fields["Private_Dirty"] ?? 0), threads))
        }
    }
}

import ArgumentParser
import AsyncHTTPClient
import Foundation
import KontorClient
import KontorCore
import NIOCore
import Synchronization

/// Instant delivery: every device of the fleet holds a long poll, as running agents do; wipes are issued
/// to extra devices (enrolled for the purpose, holding long polls too) and the time from issuing each
/// wipe to its arrival at the device is measured.
struct LongPollDelivery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longpoll",
        abstract: "Wipe delivery with long polls: N devices hold check-ins open; wipes to some of them are timed from issue to arrival.")
    @OptionGroup var common: Common
    @Option(help: "An operator or admin API token.") var adminToken: String
    @Option(help: "Devices holding long polls besides the wipe targets (the first N of the fleet).") var devices = 10_000
    @Option(help: "Seconds each long poll asks to be held (the agent: 55).") var wait = 55
    @Option(help: "How many wipes, each to its own new device (revoked afterwards).") var wipes = 100
    @Option(help: "Seconds over which the wipes are issued, after every device is holding a poll.") var spread = 60.0
    @Option(help: "Seconds to wait for all devices to hold a poll before the wipes start.") var settle = 30.0
    @Option(help: "A second server URL (another instance on the same PostgreSQL): wipes are issued through it.") var issueVia: String?

    func run() async throws {
        let fleet = try common.loadFleet(first: devices)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: fleet.count + wipes + 64)
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
        let all = fleet + targets
        let hash = try await currentPolicyHash(http: http, server: server, device: all[0])
        let start = ContinuousClock.now
        let tally = Tally(wipes: wipes)

        print("\(all.count) devices start long polls (wait \(wait) s)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in all.indices {
                let target = index >= fleet.count ? index - fleet.count : nil
                group.addTask { try await poll(http: http, server: server, device: all[index], hash: hash, wipeTarget: target, tally: tally, start: start) }
            }
            // Let every device get its poll held, then issue the wipes spread over `spread` seconds.
            try await Task.sleep(for: .seconds(settle))
            print(
                String(
                    format: "after %.0f s: %d check-ins answered, %d errors; issuing %d wipes over %.0f s", settle, tally.polls.load(ordering: .relaxed),
                    tally.errors.load(ordering: .relaxed), wipes, spread))
            try await issueWipes(to: targets, via: issuer, tally: tally, start: start)
            // Every wipe arrives or a poll cycle passes.
            let deadline = secondsSince(start) + Double(wait) + 10
            while secondsSince(start) < deadline, !tally.delivered.withLock({ $0.allSatisfy { $0 != nil } }) {
                try await Task.sleep(for: .milliseconds(100))
            }
            group.cancelAll()
        }
        struct Revoke: Encodable { var reason: String }
        struct Ignored: Decodable {}
        for target in targets {
            _ = try? await admin.call(.POST, "/devices/\(target.id)/revoke", body: Revoke(reason: "kontor-bench long-poll target"), as: Ignored.self)
        }
        report(tally, devices: all.count, seconds: secondsSince(start))
    }

    /// One device's long polls, one after the other, until cancelled (or, for a wipe target, its wipe arrives).
    private func poll(
        http: HTTPClient, server: ServerURL, device: SimulatedDevice, hash: String, wipeTarget: Int?, tally: Tally, start: ContinuousClock.Instant
    ) async throws {
        let wait = self.wait
        while !Task.isCancelled {
            let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: hash, status: AgentReport(state: "ok"), facts: nil, wait: wait))
            do {
                let (status, reply) = try await signedPost(
                    http, server: server, path: DeviceAPI.checkinPath, body: body, device: device, timeout: .seconds(Int64(wait + 30)))
                tally.polls.add(1, ordering: .relaxed)
                guard status == 200 else {
                    tally.errors.add(1, ordering: .relaxed)
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                let response = try KontorJSON.decode(CheckinResponse.self, from: Data(reply.readableBytesView))
                if let wipeTarget, response.commands.contains(where: { $0.type == "wipe" }) {
                    let at = secondsSince(start)
                    tally.delivered.withLock { if $0[wipeTarget] == nil { $0[wipeTarget] = at } }
                    return  // a wiped device stops checking in
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                tally.errors.add(1, ordering: .relaxed)
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Issues a wipe to each target, spread evenly over `spread` seconds, noting when.
    private func issueWipes(to targets: [SimulatedDevice], via issuer: AdminClient, tally: Tally, start: ContinuousClock.Instant) async throws {
        struct Command: Encodable {
            var type: String
            var reason: String
        }
        struct Ignored: Decodable {}
        for (i, target) in targets.enumerated() {
            try await Task.sleep(for: .milliseconds(Int(spread * 1000 / Double(wipes))))
            let at = secondsSince(start)
            _ = try await issuer.call(
                .POST, "/devices/\(target.id)/commands", body: Command(type: "wipe", reason: "kontor-bench long-poll delivery"), as: Ignored.self)
            tally.issued.withLock { $0[i] = at }
        }
    }

    private func report(_ tally: Tally, devices: Int, seconds: Double) {
        let delays = zip(tally.issued.withLock { $0 }, tally.delivered.withLock { $0 }).compactMap { i, d in i.flatMap { i in d.map { $0 - i } } }
        let (p50, p99, maxDelay) = percentiles(delays)
        print(
            String(
                format: "long polls: %d devices held polls for %.0f s; %d check-ins answered (%.0f/s), %d errors",
                devices, seconds, tally.polls.load(ordering: .relaxed), Double(tally.polls.load(ordering: .relaxed)) / seconds,
                tally.errors.load(ordering: .relaxed)))
        print(
            String(
                format: "wipe delivery with long polls: %d of %d delivered; from issue to the device p50 %.3f s, p99 %.3f s, max %.3f s",
                delays.count, wipes, p50, p99, maxDelay))
    }
}

/// What the long-poll run counts, shared by ten thousand tasks.
final class Tally: Sendable {
    let issued: Mutex<[Double?]>
    let delivered: Mutex<[Double?]>
    let polls = Atomic<Int>(0)
    let errors = Atomic<Int>(0)

    init(wipes: Int) {
        issued = Mutex(Array(repeating: nil, count: wipes))
        delivered = Mutex(Array(repeating: nil, count: wipes))
    }
}

import Foundation
import Histogram
import Synchronization

/// What one load phase measured. Latencies in microseconds; with a schedule they are measured from
/// when each request was due, not when it was sent, so a stalled server cannot hide its queue
/// (no coordinated omission).
struct LoadResult: Codable {
    var name: String
    var requests: Int
    var errors: [String: Int]
    var seconds: Double
    var throughput: Double
    var p50: Double
    var p90: Double
    var p99: Double
    var max: Double
    var serverCPUSeconds: Double?
    var serverRSSMegabytes: Double?

    func text() -> String {
        var line = String(
            format: "%@: %d requests in %.1f s = %.0f/s; latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f; errors %d", name, requests, seconds, throughput,
            p50 / 1000, p90 / 1000, p99 / 1000, max / 1000, errors.values.reduce(0, +))
        if let cpu = serverCPUSeconds { line += String(format: "; server CPU %.1f s (%.0f%% of one core)", cpu, cpu / seconds * 100) }
        if let rss = serverRSSMegabytes { line += String(format: "; server RSS %.0f MB", rss) }
        for (error, count) in errors.sorted(by: { $0.value > $1.value }).prefix(5) { line += "\n    \(count) × \(error)" }
        return line
    }
}

/// When each request of a polling fleet is due: every device polls every `interval` seconds from a
/// random phase, each interval stretched or shortened by up to `jitter` (a fraction, as the agent does
/// with ±10 %), sorted by due time. Requests due after `duration` are left out.
struct PollSchedule: Sendable {
    /// Seconds from the start, ascending.
    var due: [Double] = []
    /// The device (index into the fleet) of each request.
    var device: [Int32] = []

    init(devices: Int, interval: Double, jitter: Double, duration: Double) {
        var generator = SystemRandomNumberGenerator()
        var requests: [(Double, Int32)] = []
        requests.reserveCapacity(Int(Double(devices) * duration / interval * 1.05) + devices)
        for d in 0..<devices {
            var at = Double.random(in: 0..<interval, using: &generator)
            while at < duration {
                requests.append((at, Int32(d)))
                at += interval * (1 + (jitter > 0 ? Double.random(in: -jitter...jitter, using: &generator) : 0))
            }
        }
        requests.sort { $0.0 < $1.0 }
        due = requests.map(\.0)
        device = requests.map(\.1)
    }
}

/// Runs `operation(k)` for k = 0, 1, 2, … (up to `limit`) on `concurrency` workers for `duration`
/// seconds: as fast as possible, or each at `schedule.due[k]` seconds after the start. `stop` ends the
/// run early once it answers true (checked before each request).
func runLoad(
    name: String, concurrency: Int, duration: Double, schedule: PollSchedule? = nil, limit: Int? = nil, serverPID: Int32?,
    stop: (@Sendable () -> Bool)? = nil, operation: @escaping @Sendable (Int) async throws -> Void
) async -> LoadResult {
    let next = Counter()
    let start = ContinuousClock.now
    let deadline = start + .milliseconds(Int64(duration * 1000))
    let before = serverPID.flatMap(ProcessSample.read)
    let limit = limit ?? schedule?.due.count
    let results = await withTaskGroup(of: (Histogram<UInt64>, [String: Int]).self) { group in
        for _ in 0..<concurrency {
            group.addTask {
                var histogram = LoadResult.histogram()
                var errors: [String: Int] = [:]
                while true {
                    let k = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
                    if let limit, k >= limit { break }
                    if let stop, stop() { break }
                    var due = ContinuousClock.now
                    if let schedule {
                        due = start + .microseconds(Int64(schedule.due[k] * 1_000_000))
                        if due >= deadline { break }
                        if due > ContinuousClock.now { try? await Task.sleep(until: due, clock: .continuous) }
                    } else if due >= deadline {
                        break
                    }
                    do {
                        try await operation(k)
                    } catch {
                        errors["\(error)".prefix(160).description, default: 0] += 1
                    }
                    let elapsed = ContinuousClock.now - due
                    let micros = UInt64(max(0, elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000))
                    _ = histogram.record(min(micros, 60_000_000))
                }
                return (histogram, errors)
            }
        }
        var merged = LoadResult.histogram()
        var errors: [String: Int] = [:]
        for await (histogram, e) in group {
            merged.add(histogram)
            errors.merge(e, uniquingKeysWith: +)
        }
        return (merged, errors)
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return LoadResult(name: name, latencies: results.0, errors: results.1, seconds: seconds, server: (before, serverPID.flatMap(ProcessSample.read)))
}

extension LoadResult {
    /// A histogram for latencies in microseconds, up to a minute.
    static func histogram() -> Histogram<UInt64> { Histogram(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three) }

    /// The result of a phase from its latencies (every request, errors included), its errors by kind,
    /// and the server's samples before and after.
    init(name: String, latencies h: Histogram<UInt64>, errors: [String: Int], seconds: Double, server: (before: ProcessSample?, after: ProcessSample?)) {
        let total = Int(h.totalCount)
        let failed = errors.values.reduce(0, +)
        self.init(
            name: name, requests: total, errors: errors, seconds: seconds, throughput: Double(total - failed) / seconds,
            p50: Double(h.valueAtPercentile(50)), p90: Double(h.valueAtPercentile(90)), p99: Double(h.valueAtPercentile(99)), max: Double(h.max),
            serverCPUSeconds: server.before.flatMap { b in server.after.map { $0.cpuSeconds - b.cpuSeconds } },
            serverRSSMegabytes: server.after.map { Double($0.rssBytes) / 1_048_576 })
    }
}

/// The next request number, shared by the workers.
final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

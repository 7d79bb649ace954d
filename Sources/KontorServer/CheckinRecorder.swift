import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// Coalesces check-in writes: the unchanged check-in path touches memory only, and each device is
/// written at most once per `writeInterval` — sooner only when something an admin looks at changed
/// (applied policy, agent state, facts, compliance). Reads overlay what is pending, so listings are
/// current. Everything due is written in one transaction.
public actor CheckinRecorder {
    private struct Entry {
        var record: CheckinRecord
        var urgent: Bool
    }

    private let store: any DeviceStore
    private let writeInterval: TimeInterval
    private var pending: [String: Entry] = [:]
    private var lastWritten: [String: Date] = [:]

    public init(store: any DeviceStore, writeInterval: TimeInterval) {
        self.store = store
        self.writeInterval = writeInterval
    }

    /// Notes a check-in. `changed`: it changes something an admin looks at (``DeviceCache/noteCheckin(keyId:_:)``
    /// tells), so it is written at the next flush instead of within `writeInterval`.
    public func record(_ record: CheckinRecord, changed: Bool) {
        let previous = pending[record.deviceId]
        var merged = record
        if let previous = previous?.record {
            merged.appliedPolicyHash = record.appliedPolicyHash ?? previous.appliedPolicyHash
            merged.status = record.status ?? previous.status
            merged.facts = record.facts ?? previous.facts
            merged.compliance = record.compliance ?? previous.compliance
        }
        pending[record.deviceId] = Entry(record: merged, urgent: (previous?.urgent ?? false) || changed)
    }

    /// `device` with any not yet written check-in applied.
    public func overlay(_ device: Device) -> Device {
        guard let entry = pending[device.id] else { return device }
        var out = device
        if (out.lastSeen ?? .distantPast) < entry.record.at { out.lastSeen = entry.record.at }
        if let hash = entry.record.appliedPolicyHash { out.appliedPolicyHash = hash }
        if let status = entry.record.status { out.agentStatus = status }
        if let facts = entry.record.facts { out.facts = facts }
        if let compliance = entry.record.compliance { out.compliance = compliance }
        return out
    }

    /// Number of check-ins held in memory.
    public var pendingCount: Int { pending.count }

    /// Writes what is due at `now` (urgent entries, and those whose device was last written at least
    /// `writeInterval` ago) in one transaction; with `all`, writes everything (shutdown).
    @discardableResult
    public func flush(now: Date, all: Bool = false) async throws -> Int {
        var due: [CheckinRecord] = []
        for (id, entry) in pending {
            let last = lastWritten[id] ?? .distantPast
            if all || entry.urgent || now.timeIntervalSince(last) >= writeInterval { due.append(entry.record) }
        }
        guard !due.isEmpty else { return 0 }
        try await store.recordCheckins(due)
        for record in due {
            // A newer check-in may have arrived while writing; keep it pending.
            if let entry = pending[record.deviceId], entry.record == record { pending[record.deviceId] = nil }
            lastWritten[record.deviceId] = now
        }
        if lastWritten.count > 4 * max(pending.count, 1024) {
            lastWritten = lastWritten.filter { now.timeIntervalSince($0.value) < writeInterval }
        }
        return due.count
    }
}

/// Runs the recorder's flush every few seconds and flushes everything on graceful shutdown.
struct CheckinFlushService: Service {
    let recorder: CheckinRecorder
    let clock: WallClock
    let logger: Logger
    var period: Duration = .seconds(5)

    func run() async throws {
        // Sleep until shutdown or the next tick; never return early while the server runs.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                do {
                    try await recorder.flush(now: clock.now())
                } catch {
                    logger.error("could not write check-ins; will retry", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
        }
        do {
            let n = try await recorder.flush(now: clock.now(), all: true)
            logger.info("flushed pending check-ins on shutdown", metadata: ["count": "\(n)"])
        } catch {
            logger.error("could not flush check-ins on shutdown", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}

/// A token bucket per client address: `perMinute` requests a minute, bursts up to the same number.
actor RateLimiter {
    private let perMinute: Int
    private var buckets: [String: (tokens: Double, at: Date)] = [:]

    init(perMinute: Int) { self.perMinute = perMinute }

    /// Seconds to wait before retrying, or nil when the request may go ahead.
    func admit(_ client: String, now: Date) -> Int? {
        guard perMinute > 0 else { return nil }
        let rate = Double(perMinute) / 60
        var bucket = buckets[client] ?? (Double(perMinute), now)
        bucket.tokens = min(Double(perMinute), bucket.tokens + now.timeIntervalSince(bucket.at) * rate)
        bucket.at = now
        if buckets.count > 100_000 { buckets = buckets.filter { now.timeIntervalSince($0.value.at) < 120 } }
        guard bucket.tokens >= 1 else {
            buckets[client] = bucket
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
        bucket.tokens -= 1
        buckets[client] = bucket
        return nil
    }
}

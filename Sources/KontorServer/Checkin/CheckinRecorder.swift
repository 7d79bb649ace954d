import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// Coalesces check-in writes: the unchanged check-in path touches memory only, and each device is
/// written at most once per `writeInterval` (its first pending check-in waits that long) — sooner only
/// when something an admin looks at changed (applied policy, agent state, facts, compliance). Reads
/// overlay what is pending, so listings are current. Everything due is written in one transaction.
public actor CheckinRecorder {
    /// What changed since the last write, beyond the time; boxed, since most check-ins change nothing.
    /// Never mutated: a merge makes a new box, so a flush can tell by identity whether more arrived.
    private final class Changes: Sendable {
        let appliedPolicyHash: String?
        let status: AgentReport?
        let facts: DeviceFacts?
        let compliance: ComplianceReport?

        init(_ record: CheckinRecord, over old: Changes? = nil) {
            appliedPolicyHash = record.appliedPolicyHash ?? old?.appliedPolicyHash
            status = record.status ?? old?.status
            facts = record.facts ?? old?.facts
            compliance = record.compliance ?? old?.compliance
        }
    }

    /// A device's check-ins since its last write: a few words a device, so a fleet's worth fits easily.
    private struct Entry {
        /// The first check-in not yet written: the entry is due `writeInterval` after it.
        var since: Date
        /// The latest check-in.
        var at: Date
        var urgent: Bool
        var changes: Changes?

        func record(_ deviceId: String) -> CheckinRecord {
            CheckinRecord(
                deviceId: deviceId, at: at, appliedPolicyHash: changes?.appliedPolicyHash, status: changes?.status, facts: changes?.facts,
                compliance: changes?.compliance)
        }
    }

    private let store: any CheckinStore
    private let writeInterval: TimeInterval
    private var pending: [String: Entry] = [:]

    public init(store: any CheckinStore, writeInterval: TimeInterval) {
        self.store = store
        self.writeInterval = writeInterval
    }

    /// Notes a check-in. `changed`: it changes something an admin looks at (``DeviceCache/noteCheckin(keyId:_:)``
    /// tells), so it is written at the next flush. An unchanged check-in equals what is stored or
    /// pending in every field, so only its time is kept.
    public func record(_ record: CheckinRecord, changed: Bool) {
        guard var entry = pending[record.deviceId] else {
            pending[record.deviceId] = Entry(since: record.at, at: record.at, urgent: changed, changes: changed ? Changes(record) : nil)
            return
        }
        entry.at = max(entry.at, record.at)
        if changed {
            entry.urgent = true
            entry.changes = Changes(record, over: entry.changes)
        }
        pending[record.deviceId] = entry
    }

    /// `device` with any not yet written check-in applied.
    public func overlay(_ device: Device) -> Device {
        guard let entry = pending[device.id] else { return device }
        var out = device
        if (out.lastSeen ?? .distantPast) < entry.at { out.lastSeen = entry.at }
        if let changes = entry.changes {
            if let hash = changes.appliedPolicyHash { out.appliedPolicyHash = hash }
            if let status = changes.status { out.agentStatus = status }
            if let facts = changes.facts { out.facts = facts }
            if let compliance = changes.compliance { out.compliance = compliance }
        }
        return out
    }

    /// Summaries with any not yet written check-in applied, in one visit to the actor.
    public func overlay(_ summaries: [DeviceSummary]) -> [DeviceSummary] {
        guard !pending.isEmpty else { return summaries }
        return summaries.map { summary in
            guard let entry = pending[summary.id] else { return summary }
            var out = summary
            if (out.lastSeen ?? .distantPast) < entry.at { out.lastSeen = entry.at }
            if let changes = entry.changes {
                if let hash = changes.appliedPolicyHash { out.appliedPolicyHash = hash }
                if let facts = changes.facts {
                    out.hostname = facts.hostname
                    out.agentVersion = facts.agentVersion
                    out.posture = facts.posture?.summary
                }
                if let compliance = changes.compliance { out.violations = compliance.violations.count }
            }
            return out
        }
    }

    /// Number of devices with check-ins held in memory.
    public var pendingCount: Int { pending.count }

    /// Writes what is due at `now` (urgent entries, and those pending for at least `writeInterval`) in
    /// one transaction; with `all`, writes everything (shutdown).
    @discardableResult
    public func flush(now: Date, all: Bool = false) async throws -> Int {
        var due: [(String, Entry)] = []
        for (id, entry) in pending where all || entry.urgent || now.timeIntervalSince(entry.since) >= writeInterval { due.append((id, entry)) }
        guard !due.isEmpty else { return 0 }
        try await store.recordCheckins(due.map { $0.1.record($0.0) })
        for (id, written) in due {
            guard let entry = pending[id] else { continue }
            if entry.at == written.at, entry.changes === written.changes {
                pending[id] = nil
            } else {
                // Check-ins arrived while writing: keep them, due a full interval from now unless they changed something.
                let newer = entry.changes === written.changes ? nil : entry.changes
                pending[id] = Entry(since: now, at: entry.at, urgent: newer != nil, changes: newer)
            }
        }
        return due.count
    }
}

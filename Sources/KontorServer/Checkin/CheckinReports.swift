import Foundation
import KontorCore
import KontorStore
import Logging

/// What a check-in reports besides its policy hash (events, acknowledgements, status): validated whole
/// before anything is written, so a refused check-in writes nothing; then written within the device's
/// hourly event limits (``DeviceEventBudget``).
struct CheckinReports: Sendable {
    let store: any CheckinStore
    let clock: WallClock
    let audit: AuditService
    let commands: CommandService
    let budget: DeviceEventBudget
    /// Longest event detail kept, in bytes.
    let maxEventDetailBytes: Int

    /// Events per check-in: the agent keeps at most this many while it cannot reach the server.
    static let maxEvents = 100
    static let maxAcks = 100
    static let maxViolations = 50
    /// The longest `wait` (long poll) a check-in may ask for; the server holds it at most `longPollMax`.
    static let maxWait = 3_600

    /// Checks every part of `input` that refuses a check-in; throws naming the first bad field. Event
    /// details are not among them: one longer than the limit is cut when written (``record(_:deviceId:logger:)``),
    /// since a work user can put any text in it (a program's file name) and a refused check-in would
    /// also stop the device's commands.
    func validate(_ input: CheckinRequest) throws {
        if let problem = input.status?.validationError() { throw KontorError.invalid(problem) }
        if let problem = input.facts?.validationError() { throw KontorError.invalid(problem) }
        if let problem = input.compliance?.validationError() { throw KontorError.invalid(problem) }
        if let violations = input.compliance?.violations, violations.count > Self.maxViolations {
            throw KontorError.invalid("compliance.violations: at most \(Self.maxViolations) per check-in")
        }
        if let events = input.events {
            guard events.count <= Self.maxEvents else { throw KontorError.invalid("events: at most \(Self.maxEvents) per check-in, found \(events.count)") }
            for (i, event) in events.enumerated() {
                guard Validation.isName(event.kind) else { throw KontorError.invalid("events[\(i)].kind: expected 1 to 64 letters, digits, '.', '_' or '-'") }
                if let id = event.id, !DeviceEvent.isValidID(id) { throw KontorError.invalid("events[\(i)].id: expected 1 to 64 letters, digits, '-' or '_'") }
            }
        }
        if let acks = input.acks {
            guard acks.count <= Self.maxAcks else { throw KontorError.invalid("acks: at most \(Self.maxAcks) per check-in, found \(acks.count)") }
            for (i, ack) in acks.enumerated() { if let problem = ack.validationError(index: i) { throw KontorError.invalid(problem) } }
        }
        if let wait = input.wait, !(0...Self.maxWait).contains(wait) {
            throw KontorError.invalid("wait: expected 0 to \(Self.maxWait) seconds, found \(wait)")
        }
    }

    /// Writes the events (within the hourly limits, details cut to the limit), their audit entries and
    /// the acknowledgements of a request that passed ``validate(_:)``.
    func record(_ input: CheckinRequest, deviceId: String, logger: Logger) async throws {
        if let events = input.events, !events.isEmpty {
            let cut = events.map { Self.cut($0, to: maxEventDetailBytes) }
            let (admitted, previous) = budget.admit(deviceId: deviceId, events: cut, now: Int(clock.now().timeIntervalSince1970))
            if let previous { try await recordOverflow(previous) }
            // An event the device sent before (its reply was lost) is neither stored nor audited again.
            let stored = try await store.appendEvents(deviceId: deviceId, admitted.stored)
            let new = Set(stored.compactMap(\.id))
            for event in admitted.audited where event.id.map({ new.contains($0) }) ?? true {
                try await audit.record("device:\(deviceId)", "device.quiet-override", target: deviceId, detail: ["detail": event.detail ?? ""])
            }
        }
        if let acks = input.acks, !acks.isEmpty {
            try await commands.acknowledge(deviceId: deviceId, acks, logger: logger)
        }
    }

    /// One audit entry for what a device sent over the limits in an hour.
    func recordOverflow(_ overflow: DeviceEventBudget.Overflow) async throws {
        let start = Date(timeIntervalSince1970: TimeInterval(overflow.start))
        try await audit.record(
            "device:\(overflow.deviceId)", "device.events-limited", target: overflow.deviceId,
            detail: [
                "from": ISO8601.string(from: start), "until": ISO8601.string(from: start.addingTimeInterval(3600)),
                "eventsNotStored": String(overflow.eventsNotStored), "overridesNotAudited": String(overflow.notAudited),
                "eventsPerHour": String(budget.limits.eventsPerHour), "auditedPerHour": String(budget.limits.auditedPerHour),
            ])
    }

    /// `event` with its detail cut to at most `limit` bytes (on a character boundary), saying how long it was.
    static func cut(_ event: DeviceEvent, to limit: Int) -> DeviceEvent {
        guard let detail = event.detail, detail.utf8.count > limit else { return event }
        let note = " … [cut from \(detail.utf8.count) bytes]"
        var end = detail.utf8.index(detail.utf8.startIndex, offsetBy: max(0, limit - note.utf8.count))
        // Back to the start of a character, so nothing is split.
        while end > detail.startIndex, end.samePosition(in: detail) == nil { end = detail.utf8.index(before: end) }
        var out = event
        out.detail = String(detail[..<end]) + note
        return out
    }
}

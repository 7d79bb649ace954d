import Foundation
import KontorCore
import KontorStore
import Logging

/// One check-in of a verified device, start to end, in this order: everything the request says is
/// checked before anything is written (a refused check-in writes nothing); then what it reports is
/// written in one place (events once each, however often they are sent, their audit entries, the
/// acknowledgements, the check-in itself); then the commands are delivered, the long poll waits when
/// there is nothing to say, and the reply is shaped in one place.
struct CheckinService: Sendable {
    let reports: CheckinReports
    let policies: PolicyService
    let commands: CommandService
    let recorder: CheckinRecorder
    let devices: DeviceCache
    let longPolls: LongPolls
    let clock: WallClock
    let metrics: ServerMetrics
    /// The longest a check-in is held (seconds); 0 turns long polls off.
    let longPollMax: Int

    /// What to answer: the cached "unchanged" body, or a reply with a policy and/or commands.
    enum Outcome: Equatable, Sendable {
        case unchanged(hash: String, interval: Int, longPoll: Bool)
        case reply(CheckinResponse)
    }

    func checkIn(device: AuthenticatedDevice, request: CheckinRequest, logger: Logger) async throws -> Outcome {
        // 1. Check everything; nothing is written yet.
        try reports.validate(request)
        if let problem = request.characterProblem() { throw KontorError.invalid(problem) }
        var input = request.sanitized()
        // A personal device reports only the base facts; posture sent anyway (an old or altered agent) is not kept.
        if device.ownership == .personal { input.facts?.posture = nil }

        // 2. Write what the device reports.
        try await reports.record(input, deviceId: device.id, logger: logger)
        let record = CheckinRecord(
            deviceId: device.id, at: clock.now(), appliedPolicyHash: input.appliedPolicyHash, status: input.status, facts: input.facts,
            compliance: input.compliance)
        await recorder.record(record, changed: devices.noteCheckin(keyId: device.keyId, record))

        // 3. What the device should run and do; with nothing to say, wait (long poll).
        var policy = try await policies.policyHash(for: device)
        metrics.checkins(input.appliedPolicyHash == policy.hash ? .unchanged : .policy)
        let holds = (input.wait ?? 0) > 0 && longPollMax > 0
        // Registered before commands are looked at: a command queued in between wakes it, none is missed.
        let ticket = holds && input.appliedPolicyHash == policy.hash ? longPolls.register(device.id) : nil
        var delivered = try await commands.deliver(to: device.id)
        var longPoll = holds
        if let ticket {
            if delivered.isEmpty {
                switch await longPolls.wait(ticket, deviceId: device.id, timeout: .seconds(min(input.wait ?? 0, longPollMax))) {
                case .superseded:
                    // A newer long poll of this device is held now: this one answers without asking to come
                    // straight back, so two holders of one key cannot chase each other.
                    longPoll = false
                case .woken, .timedOut:
                    delivered = try await commands.deliver(to: device.id)
                    policy = try await policies.policyHash(for: device)
                }
            } else {
                longPolls.cancel(ticket, deviceId: device.id)
            }
        }

        // 4. The reply.
        let unchanged = input.appliedPolicyHash == policy.hash
        if unchanged, delivered.isEmpty { return .unchanged(hash: policy.hash, interval: policy.interval, longPoll: longPoll) }
        guard !unchanged else {
            return .reply(
                CheckinResponse(
                    result: "unchanged", nextCheckin: policy.interval, policyHash: policy.hash, policy: nil, commands: delivered,
                    longPoll: longPoll ? true : nil))
        }
        let full: EffectivePolicy
        if let computed = policy.policy { full = computed } else { full = try await policies.effectivePolicy(for: device) }
        return .reply(
            CheckinResponse(
                result: "policy", nextCheckin: full.checkinInterval, policyHash: full.canonicalHash, policy: full, commands: delivered,
                longPoll: longPoll ? true : nil))
    }
}

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
        /// Boxed: a reply with a policy is large, and the frames that pass an outcome stay small.
        indirect case reply(CheckinResponse)
    }

    /// The answer to a held check-in once its wait is over.
    func finish(_ begun: Begun, device: AuthenticatedDevice, after outcome: LongPolls.Outcome) async throws -> Outcome {
        switch outcome {
        case .superseded:
            // A newer long poll of this device is held now: this one answers without asking to come
            // straight back, so two holders of one key cannot chase each other.
            return try await reply(device: device, applied: begun.applied, delivered: [], longPoll: false)
        case .peerGone:
            // Nobody reads the answer: nothing is delivered (a command stays queued for the next check-in).
            return begun.answer
        case .woken, .timedOut:
            return try await reply(device: device, applied: begun.applied, delivered: try await commands.deliver(to: device.id), longPoll: true)
        }
    }

    /// What the first part of a check-in decided: the answer now, or (`ticket`) a wait first.
    struct Begun: Sendable {
        var answer: Outcome
        var applied: String?
        var ticket: LongPolls.Ticket?
    }

    /// Everything up to the wait: checks, writes, the policy, commands; registers the wait when there is
    /// nothing to say. `connection` identifies the client's connection, so a held check-in ends when it
    /// closes. The caller waits (``DeviceController`` leaves that to the connection's task,
    /// ``HeldCheckinSlot``) and then calls ``finish(_:device:after:)``.
    func begin(device: AuthenticatedDevice, request: CheckinRequest, connection: ObjectIdentifier?, logger: Logger) async throws -> Begun {
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
        let policy = try await policies.policyHash(for: device)
        metrics.checkins(input.appliedPolicyHash == policy.hash ? .unchanged : .policy)
        let holds = (input.wait ?? 0) > 0 && longPollMax > 0
        // Registered before commands are looked at: a command queued in between wakes it, none is missed.
        let ticket =
            holds && input.appliedPolicyHash == policy.hash
            ? longPolls.register(device.id, connection: connection, timeout: .seconds(min(input.wait ?? 0, longPollMax))) : nil
        let delivered: [DeviceCommand]
        do {
            delivered = try await commands.deliver(to: device.id)
        } catch {
            if let ticket { longPolls.cancel(ticket) }
            throw error
        }
        if let ticket, delivered.isEmpty {
            return Begun(answer: .unchanged(hash: policy.hash, interval: policy.interval, longPoll: true), applied: input.appliedPolicyHash, ticket: ticket)
        }
        if let ticket { longPolls.cancel(ticket) }
        return Begun(
            answer: try await reply(device: device, applied: input.appliedPolicyHash, delivered: delivered, longPoll: holds, policy: policy), applied: nil)
    }

    /// 4. The reply: unchanged, or the policy, with what is delivered.
    private func reply(
        device: AuthenticatedDevice, applied: String?, delivered: [DeviceCommand], longPoll: Bool,
        policy known: (hash: String, interval: Int, policy: EffectivePolicy?)? = nil
    ) async throws -> Outcome {
        let policy: (hash: String, interval: Int, policy: EffectivePolicy?)
        if let known { policy = known } else { policy = try await policies.policyHash(for: device) }
        let unchanged = applied == policy.hash
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

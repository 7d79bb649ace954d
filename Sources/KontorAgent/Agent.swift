import AsyncHTTPClient
import Crypto
import Foundation
import KontorClient
import KontorCore
import Logging
import ServiceLifecycle

/// Why the agent could not do what it was asked, in one line for the person at the terminal.
public struct AgentError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The result of one check-in cycle.
public enum CycleOutcome: Sendable, Equatable {
    /// The reply verified; `policyChanged` when a new policy was stored.
    case success(interval: Int, policyChanged: Bool)
    /// Nothing verified; the last verified policy stays in force.
    case failure(reason: String, retryAfter: Int?)
}

/// The agent: enrolls once, then checks in, verifies, stores and applies the policy, and reports.
public struct Agent: Sendable {
    public let paths: AgentPaths
    public let store: AgentStore
    public let config: AgentConfig
    let transport: any HTTPTransport
    let clock: WallClock
    let logger: Logger
    public let enforcer: Enforcer

    public init(
        paths: AgentPaths, config: AgentConfig, transport: any HTTPTransport, clock: WallClock = .system, logger: Logger, enforcer: Enforcer? = nil
    ) {
        self.paths = paths
        self.store = AgentStore(paths: paths)
        self.config = config
        self.transport = transport
        self.clock = clock
        self.logger = logger
        self.enforcer = enforcer ?? Enforcer(paths: paths)
    }

    /// Applies the last verified policy now (also offline) and saves what to report.
    @discardableResult
    public func enforce() throws -> ComplianceReport {
        var state = try store.state()
        let original = state
        let policy = try? store.policy()
        let report = enforcer.enforce(policy?.policy, state: &state.enforcement, now: clock.now())
        for event in state.enforcement.events.dropFirst(original.enforcement.events.count) {
            logger.notice("\(event.kind)", metadata: ["detail": "\(event.detail ?? "")"])
        }
        state.compliance = report
        // Every 10 s nothing changes most of the time: write (and fsync) only when something did.
        if state != original { try store.save(state) }
        return report
    }

    // MARK: enrollment

    /// Generates a device key, enrolls with `token` and stores the identity with the pinned server key.
    /// Refuses when already enrolled, unless `force` (which makes a new identity on the server).
    public func enroll(server: String, token: String, acceptTerms: String?, force: Bool) async throws -> AgentIdentity {
        if let existing = try store.identity(), !force {
            throw AgentError("already enrolled as device \(existing.deviceId) with \(existing.server); use --force to enroll again as a new device")
        }
        let facts = try FactsCollector.collect(paths: paths)
        let key = Curve25519.Signing.PrivateKey()
        var client = try DeviceClient(server: server, transport: transport, clock: clock)
        client.timeout = .seconds(Int64(config.requestTimeout))
        let reply: EnrollResponse
        do {
            reply = try await client.enroll(token: token, key: key, facts: facts, acceptedTermsVersion: acceptTerms)
        } catch let error as ClientError {
            throw AgentError("enrollment failed: \(error)")
        }
        // Key first, then identity: an identity on disk always has its key.
        try store.save(key: key)
        let identity = AgentIdentity(
            server: server, deviceId: reply.deviceId, keyId: reply.keyId, serverPublicKey: reply.serverPublicKey, serverKeyId: reply.serverKeyId,
            enrolledAt: clock.now(), acceptedTermsVersion: acceptTerms, predecessorId: reply.predecessorId)
        try store.save(identity)
        var state = AgentState()
        state.checkinInterval = reply.checkinInterval
        try store.save(state)
        try? FileManager.default.removeItem(atPath: paths.policyFile)
        logger.notice("enrolled", metadata: ["device.id": "\(reply.deviceId)", "server": "\(server)"])
        return identity
    }

    // MARK: check-in

    /// One full cycle: check in, verify the reply, store and apply the policy, record the outcome.
    /// Never throws for network or server trouble: that is a `.failure`, and the last verified policy stays.
    public func cycle() async throws -> CycleOutcome {
        guard let identity = try store.identity(), let key = try store.deviceKey() else {
            throw AgentError("not enrolled; run: kontor-agent enroll --server URL --token TOKEN")
        }
        guard let serverKey = DeviceKeys.publicKey(base64: identity.serverPublicKey) else {
            throw AgentError("\(paths.identityFile): the pinned server key is unusable; re-enroll with --force")
        }
        try enforce()
        var state = try store.state()
        let stored = try loadPolicyKeepingGoing(&state)
        let facts = try FactsCollector.collect(paths: paths)
        let problems = state.pendingReports + (state.lastError.map { [$0] } ?? [])
        let report = AgentReport(state: problems.isEmpty ? "ok" : "degraded", message: problems.last.map { String($0.prefix(1000)) })
        let sentEvents = state.enforcement.events
        let sentViolations = state.enforcement.violations
        let request = CheckinRequest(
            appliedPolicyHash: stored?.hash, status: report, facts: facts == state.lastFacts ? nil : facts, compliance: state.compliance,
            events: sentEvents.isEmpty ? nil : sentEvents)

        var client = try DeviceClient(server: config.server ?? identity.server, transport: transport, clock: clock)
        client.timeout = .seconds(Int64(config.requestTimeout))
        let now = clock.now()
        state.lastAttempt = now
        do {
            let reply = try await client.checkin(request, identity: DeviceIdentity(deviceId: identity.deviceId, privateKey: key, serverKey: serverKey)).body
            let changed = try accept(reply, stored: stored, state: &state, now: now)
            state.lastCheckin = now
            state.lastError = nil
            state.pendingReports = []
            state.lastFacts = facts
            state.failures = 0
            // What the server now has is no longer pending.
            state.enforcement.events.removeFirst(min(sentEvents.count, state.enforcement.events.count))
            state.enforcement.violations.removeAll { sentViolations.contains($0) }
            try store.save(state)
            logger.info("checked in", metadata: ["result": "\(reply.result)", "next": "\(state.checkinInterval)s"])
            if changed { try enforce() }
            return .success(interval: state.checkinInterval, policyChanged: changed)
        } catch let error as ClientError {
            state.failures += 1
            state.lastError = error.description
            var retryAfter: Int?
            switch error {
            case .badResponse(let why):
                // A reply that fails verification is an attack or a broken proxy: report it at the next check-in.
                state.report("rejected a server reply: \(why)")
                logger.warning("rejected a server reply; keeping the last verified policy", metadata: ["reason": "\(why)"])
            case .retryLater(let seconds, _):
                retryAfter = seconds
                logger.notice("server asked to retry later", metadata: ["seconds": "\(seconds)"])
            default:
                logger.warning("check-in failed; keeping the last verified policy", metadata: ["reason": "\(error)"])
            }
            try store.save(state)
            return .failure(reason: error.description, retryAfter: retryAfter)
        }
    }

    /// Stores a verified reply's policy. The policy must hash to what the reply says.
    func accept(_ reply: CheckinResponse, stored: StoredPolicy?, state: inout AgentState, now: Date) throws -> Bool {
        state.checkinInterval = min(max(reply.nextCheckin, 10), 86_400)
        switch reply.result {
        case "unchanged":
            if stored?.hash != reply.policyHash { state.report("server said unchanged, but the policy hash differs") }
            return false
        case "policy":
            guard let policy = reply.policy else {
                throw ClientError.badResponse("a policy reply without a policy")
            }
            guard policy.canonicalHash == reply.policyHash else {
                throw ClientError.badResponse("the policy does not match its hash")
            }
            try store.save(StoredPolicy(hash: reply.policyHash, policy: policy, receivedAt: now))
            logger.notice("new policy stored", metadata: ["policy.hash": "\(reply.policyHash)"])
            return stored?.hash != reply.policyHash
        default:
            throw ClientError.badResponse("unknown result \"\(reply.result)\"")
        }
    }

    /// The stored policy; an unreadable one is reported and treated as absent so the server resends it.
    private func loadPolicyKeepingGoing(_ state: inout AgentState) throws -> StoredPolicy? {
        do {
            return try store.policy()
        } catch {
            state.report("\(error)")
            return nil
        }
    }

    // MARK: the daemon

    /// Checks in forever at the server's interval (with jitter) and backs off on failure, and between
    /// check-ins enforces the last verified policy every `enforcementPeriod` seconds (quiet-hours
    /// transitions, the allowlist), until cancelled.
    public func run(
        schedule: PollSchedule = PollSchedule(), enforcementPeriod: Double = 10, sleep: @Sendable (Double) async throws -> Void
    ) async throws {
        var state = try store.state()
        // Enforce at once (quiet hours hold across restarts), then spread a fleet that starts together.
        try? enforce()
        var untilCheckin = Double.random(in: 0..<min(10, Double(state.checkinInterval) * 0.2))
        while !Task.isCancelled {
            while untilCheckin > 0 {
                let step = min(untilCheckin, enforcementPeriod)
                try await sleep(step)
                untilCheckin -= step
                if untilCheckin > 0 {
                    do { try enforce() } catch { logger.error("enforcement failed", metadata: ["reason": "\(error)"]) }
                }
            }
            let outcome = try await cycle()
            state = try store.state()
            var schedule = schedule
            schedule.backoffCap = Double(config.maxBackoff)
            let retryAfter: Int?
            if case .failure(_, let seconds) = outcome { retryAfter = seconds } else { retryAfter = nil }
            untilCheckin = schedule.delay(interval: state.checkinInterval, failures: state.failures, retryAfter: retryAfter, unit: Double.random(in: 0..<1))
            logger.debug("next check-in", metadata: ["in": "\(Int(untilCheckin))s"])
        }
    }

    /// Ends the current quiet period early, when the policy allows it; logged and reported.
    public func overrideQuietHours(reason: String) throws -> QuietOverride {
        guard let stored = try store.policy(), let quiet = stored.policy.quietHours else {
            throw AgentError("no quiet hours are set for this device")
        }
        guard quiet.allowUserOverride else { throw AgentError("your organisation does not allow ending quiet hours early on this device") }
        let now = clock.now()
        guard let end = quiet.endOfQuietPeriod(containing: now, deviceZone: enforcer.deviceZone) else {
            throw AgentError("quiet hours are not in force right now")
        }
        let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (3...500).contains(trimmed.count) else { throw AgentError("--reason: say in 3 to 500 characters why") }
        let override = QuietOverride(until: end, reason: trimmed, createdAt: now)
        try AtomicFile.write(try KontorJSON.encode(override), to: enforcer.overrideFile, mode: 0o600)
        logger.notice("quiet hours ended early by the user", metadata: ["until": "\(ISO8601.string(from: end))"])
        try enforce()
        return override
    }
}

/// Runs the agent loop as a Service: SIGTERM ends the sleep and the process exits cleanly.
struct AgentService: Service {
    let agent: Agent

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await agent.run { seconds in try await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
            }
        } catch is CancellationError {
            agent.logger.notice("stopping")
        }
    }
}

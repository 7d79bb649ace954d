import Crypto
import KontorClient
import KontorCore
import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Why the agent could not do what it was asked, in one line for the person at the terminal.
public struct AgentError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The result of one check-in cycle.
public enum CycleOutcome: Sendable, Equatable {
    /// The reply verified; `policyChanged` when a new policy was stored; `longPoll` when the server
    /// holds check-ins, so the next one goes out at once.
    case success(interval: Int, policyChanged: Bool, longPoll: Bool = false)
    /// Nothing verified; the last verified policy stays in force.
    case failure(reason: String, retryAfter: Int?)
    /// The work container was wiped, the server confirmed the receipt and revoked this device: the key
    /// and state are destroyed and the agent has nothing left to do.
    case unenrolled(receiptId: String)
}

/// The agent: enrolls once, then checks in, verifies, stores and applies the policy, and reports.
public struct Agent: Sendable {
    /// One read-modify-write of the state at a time: enforcement also runs while a check-in is held.
    let serial = Serial()
    public let paths: AgentPaths
    public let store: AgentStore
    public let config: AgentConfig
    let transport: any HTTPTransport
    let clock: WallClock
    let logger: Logger
    public let enforcer: Enforcer
    let boot: BootClock
    let wiper: Wiper
    /// The device's posture, read from files and kept between check-ins.
    let posture: PostureCollector
    /// Called once in each held check-in, after the first enforcement beside it: the daemon hands back the
    /// pages of its binary that sending the check-in touched (docs/benchmarks.md). Nothing by default.
    var settled: @Sendable () -> Void = {}
    /// Desktop notices to the work session (`Notices.swift`).
    let notifier: any DesktopNotifier

    public init(
        paths: AgentPaths, config: AgentConfig, transport: any HTTPTransport, clock: WallClock = .system, logger: Logger, enforcer: Enforcer? = nil,
        boot: BootClock = .system, wipeHook: WipeHook = .fromEnvironment(), notifier: (any DesktopNotifier)? = nil
    ) {
        self.paths = paths
        self.store = AgentStore(paths: paths)
        self.config = config
        self.transport = transport
        self.clock = clock
        self.logger = logger
        let enforcer = enforcer ?? Enforcer(paths: paths, rules: config.containerRules(for: paths))
        self.enforcer = enforcer
        self.boot = boot
        self.wiper = Wiper(paths: paths, accounts: enforcer.accounts, freezer: enforcer.freezer, clock: clock, hook: wipeHook)
        self.posture = PostureCollector(paths: paths)
        self.notifier = notifier ?? SessionBusNotifier(paths: paths)
    }

    /// Applies the last verified policy now (also offline) and saves what to report.
    @discardableResult
    public func enforce() throws -> ComplianceReport {
        try serial.run { try enforceNow() }
    }

    private func enforceNow() throws -> ComplianceReport {
        // A wipe in progress carries on (offline too); nothing else is enforced on a container being removed.
        if var journal = try wiper.journal() {
            if !journal.done(.signed), let key = try store.deviceKey() { try wiper.run(&journal, key: key, agentVersion: agentVersion) }
            return ComplianceReport(containerAccount: journal.account, containerState: "wiped")
        }
        var state = try store.state()
        let original = state
        let policy = try? store.policy()
        let now = clock.now()
        if let wipe = checkOffline(policy?.policy, state: &state, now: now) {
            try store.save(state)
            logger.warning("offline for too long: wiping the work container", metadata: ["offline": "\(Int(state.offline.elapsed / 3600)) h"])
            var journal = try wiper.begin(trigger: "offline", commandId: nil, deviceId: wipe, policy: policy?.policy)
            if let key = try store.deviceKey() { try wiper.run(&journal, key: key, agentVersion: agentVersion) }
            return ComplianceReport(containerAccount: journal.account, containerState: "wiped")
        }
        deliverNotices(policy?.policy, state: &state.enforcement, now: now)
        let report = enforcer.enforce(policy?.policy, state: &state.enforcement, now: now)
        for event in state.enforcement.events.dropFirst(original.enforcement.events.count) {
            logger.notice("\(event.kind)", metadata: ["detail": "\(event.detail ?? "")"])
        }
        state.compliance = report
        // Every 10 s nothing changes most of the time: write (and fsync) only when something did. The
        // offline clock alone is written every 5 minutes (a crash loses at most that much of it).
        var withoutClock = state
        withoutClock.offline = original.offline
        if withoutClock != original || state.offline.elapsed - original.offline.elapsed >= 300 || state.offline.bootId != original.offline.bootId {
            try store.save(state)
        }
        return report
    }

    /// Advances the offline clock and applies the dead-man switch: locks after `offline.lockAfter` hours,
    /// and returns the device ID when `offline.wipeAfter` days have passed without a successful check-in.
    func checkOffline(_ policy: EffectivePolicy?, state: inout AgentState, now: Date) -> String? {
        state.offline.advance(boot.read(), wall: now)
        guard let offline = policy?.offline else { return nil }
        let hours = state.offline.elapsed / 3600
        if let lockAfter = offline.lockAfter, hours >= Double(lockAfter), !state.enforcement.offlineLocked {
            state.enforcement.offlineLocked = true
            state.enforcement.add(DeviceEvent(at: now, kind: "offline.lock", detail: "no successful check-in for \(Int(hours)) h"))
            logger.warning("offline for too long: container locked", metadata: ["hours": "\(Int(hours))"])
        }
        if let wipeAfter = offline.wipeAfter, hours >= Double(wipeAfter * 24), let identity = try? store.identity() {
            return identity.deviceId
        }
        return nil
    }

    // MARK: enrollment

    /// Generates a device key, enrolls with `token` and stores the identity with the pinned server key.
    /// Refuses when already enrolled, unless `force` (which makes a new identity on the server).
    public func enroll(server: String, token: String, acceptTerms: String?, force: Bool) async throws -> AgentIdentity {
        if let existing = try store.identity(), !force {
            throw AgentError("already enrolled as device \(existing.deviceId) with \(existing.server); use --force to enroll again as a new device")
        }
        let facts = try FactsCollector.collect(paths: paths, posture: posture.posture(now: clock.now()))
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
        state.offline.reset(boot.read(), wall: clock.now())
        try store.save(state)
        try? FileManager.default.removeItem(atPath: paths.policyFile)
        try? FileManager.default.removeItem(atPath: paths.tombstoneFile)
        logger.notice("enrolled", metadata: ["device.id": "\(reply.deviceId)", "server": "\(server)"])
        return identity
    }

    // MARK: check-in

    /// One full cycle: finish a wipe in progress and send its receipt, or check in, verify the reply, store
    /// and apply the policy, carry out commands and report. Never throws for network or server trouble:
    /// that is a `.failure`, and the last verified policy stays.
    public func cycle(longPoll: Bool = false) async throws -> CycleOutcome {
        if let journal = try wiper.journal(), journal.done(.confirmed) { return try destroyIdentity(journal) }
        guard let identity = try store.identity(), let key = try store.deviceKey() else {
            throw AgentError("not enrolled; run: kontor-agent enroll --server URL --token TOKEN")
        }
        guard let serverKey = DeviceKeys.publicKey(base64: identity.serverPublicKey) else {
            throw AgentError("\(paths.identityFile): the pinned server key is unusable; re-enroll with --force")
        }
        let device = DeviceIdentity(deviceId: identity.deviceId, privateKey: key, serverKey: serverKey)
        var client = try DeviceClient(server: config.server ?? identity.server, transport: transport, clock: clock)
        client.timeout = .seconds(Int64(config.requestTimeout))
        try enforce()
        // A wipe that began (a command, a revocation, the dead-man switch) ends with its receipt before anything else.
        if let journal = try wiper.journal() { return try await finishWipe(journal, client: client, device: device) }
        await syncTerms(client: client, device: device)
        var outcome = CycleOutcome.failure(reason: "no check-in", retryAfter: nil)
        var serverHolds = false
        for round in 0..<3 {
            // Only the first check-in of a cycle waits; the ones that report acknowledgements go out at once.
            let wait = longPoll && round == 0 && config.longPoll > 0 ? config.longPoll : nil
            client.timeout = .seconds(Int64(config.requestTimeout + (wait ?? 0)))
            let (result, wipe, again) = try await checkin(client: client, device: device, wait: wait)
            if round == 0, case .success(_, _, true) = result { serverHolds = true }
            outcome = result
            if case .success(let interval, let changed, _) = result { outcome = .success(interval: interval, policyChanged: changed, longPoll: serverHolds) }
            if let wipe {
                var state = try store.state()
                let journal = try wiper.begin(
                    trigger: wipe.trigger, commandId: wipe.commandId, deviceId: identity.deviceId, policy: try? store.policy()?.policy)
                state.enforcement.add(DeviceEvent(at: clock.now(), kind: "wipe.started", detail: wipe.commandId ?? wipe.trigger))
                try store.save(state)
                logger.warning("wiping the work container", metadata: ["trigger": "\(wipe.trigger)", "command.id": "\(wipe.commandId ?? "-")"])
                return try await finishWipe(journal, client: client, device: device)
            }
            guard again else { break }
        }
        // A new policy may name terms whose text is not here yet: fetch it now, not a poll later.
        if case .success(_, true, _) = outcome { await syncTerms(client: client, device: device) }
        return outcome
    }

    /// A wipe to start, from a command or from a signed revocation.
    struct WipeRequest {
        var trigger: String
        var commandId: String?
    }

    /// One signed check-in; returns the outcome, a wipe to start, and whether to check in again at once
    /// (acknowledgements to report, a `sync`).
    func checkin(client: DeviceClient, device: DeviceIdentity, wait: Int? = nil) async throws -> (CycleOutcome, WipeRequest?, Bool) {
        var state = try store.state()
        let stored = try loadPolicyKeepingGoing(&state)
        let facts = try FactsCollector.collect(paths: paths, policy: stored?.policy) { posture.posture(now: clock.now()) }
        let problems = state.pendingReports + (state.lastError.map { [$0] } ?? [])
        let report = AgentReport(state: problems.isEmpty ? "ok" : "degraded", message: problems.last.map { String($0.prefix(1000)) })
        let events = state.enforcement.events
        let acks = state.pendingAcks
        let request = CheckinRequest(
            appliedPolicyHash: stored?.hash, status: report, facts: facts == state.lastFacts ? nil : facts, compliance: state.compliance,
            events: events.isEmpty ? nil : events, acks: acks.isEmpty ? nil : acks, wait: wait)
        let now = clock.now()
        do {
            let reply = try await enforcing(while: wait != nil, settled: settled) { try await client.checkin(request, identity: device).body }
            // Enforcement may have saved the state while the server held the check-in: go on from the state as it is now.
            let (changed, wipe, again, interval) = try serial.run {
                var state = try store.state()
                _ = try loadPolicyKeepingGoing(&state)
                state.lastAttempt = now
                let changed = try accept(reply, stored: stored, state: &state, now: now)
                succeeded(request, facts: facts, state: &state, now: now)
                let (wipe, again) = handle(reply.commands, state: &state, now: now)
                try store.save(state)
                return (changed, wipe, again, state.checkinInterval)
            }
            logger.info("checked in", metadata: ["result": "\(reply.result)", "next": "\(interval)s", "commands": "\(reply.commands.count)"])
            try enforce()
            return (.success(interval: interval, policyChanged: changed, longPoll: wait != nil && reply.longPoll == true), wipe, again)
        } catch let error as ClientError {
            let (retryAfter, wipe) = try serial.run {
                var state = try store.state()
                state.lastAttempt = now
                let outcome = failed(error, state: &state)
                try store.save(state)
                return outcome
            }
            return (.failure(reason: error.description, retryAfter: retryAfter), wipe, false)
        }
    }

    /// Records a check-in whose reply verified: what the server now has is no longer pending, and the
    /// dead-man switch starts over.
    private func succeeded(_ sent: CheckinRequest, facts: DeviceFacts, state: inout AgentState, now: Date) {
        state.lastCheckin = now
        state.lastError = nil
        state.pendingReports = []
        state.lastFacts = facts
        state.failures = 0
        state.enforcement.events.removeFirst(min(sent.events?.count ?? 0, state.enforcement.events.count))
        state.enforcement.violations.removeAll { (sent.compliance?.violations ?? []).contains($0) }
        state.pendingAcks.removeAll { (sent.acks ?? []).contains($0) }
        state.offline.reset(boot.read(), wall: now)
        if state.enforcement.offlineLocked {
            state.enforcement.offlineLocked = false
            state.enforcement.add(DeviceEvent(at: now, kind: "offline.unlock", detail: "checked in again"))
        }
    }

    /// Records a failed check-in: what to report, when to retry, and a wipe when the server (in a signed
    /// reply) revoked the device.
    private func failed(_ error: ClientError, state: inout AgentState) -> (retryAfter: Int?, wipe: WipeRequest?) {
        state.failures += 1
        state.lastError = error.description
        switch error {
        case .badResponse(let why):
            // A reply that fails verification is an attack or a broken proxy: report it at the next check-in.
            state.report("rejected a server reply: \(why)")
            logger.warning("rejected a server reply; keeping the last verified policy", metadata: ["reason": "\(why)"])
        case .retryLater(let seconds, _):
            logger.notice("server asked to retry later", metadata: ["seconds": "\(seconds)"])
            return (seconds, nil)
        case .deviceRevoked(let message):
            // Said in a reply signed by the pinned server key: this device's identity is over. The work
            // data goes, and the receipt proves it.
            logger.warning("the server revoked this device; wiping the work container", metadata: ["reason": "\(message)"])
            return (nil, WipeRequest(trigger: "revoked", commandId: nil))
        default:
            logger.warning("check-in failed; keeping the last verified policy", metadata: ["reason": "\(error)"])
        }
        return (nil, nil)
    }

    /// Carries out the commands of a verified reply, each once: a command delivered again (because the
    /// acknowledgement was lost) gets the same acknowledgement, not a second effect. Returns a wipe to
    /// start, and whether to check in again at once.
    func handle(_ commands: [DeviceCommand], state: inout AgentState, now: Date) -> (WipeRequest?, Bool) {
        var again = false
        for command in commands {
            if let done = state.commandResults.first(where: { $0.id == command.id }) {
                if !state.pendingAcks.contains(where: { $0.id == command.id }) { state.pendingAcks.append(done) }
                again = true
                continue
            }
            var ack = CommandAck(id: command.id, state: .succeeded, at: now)
            switch CommandType(rawValue: command.type) {
            case .wipe:
                // Acknowledged by its receipt.
                return (WipeRequest(trigger: "command", commandId: command.id), again)
            case .lock:
                state.enforcement.adminLocked = true
                state.enforcement.add(DeviceEvent(at: now, kind: "container.locked", detail: "command \(command.id)"))
                state.enforcement.notices.queue(.locked(reason: command.reason), key: "container-locked@\(command.id)")
            case .unlock:
                state.enforcement.adminLocked = false
                state.enforcement.add(DeviceEvent(at: now, kind: "container.unlocked", detail: "command \(command.id)"))
            case .sync:
                break
            case nil:
                ack = CommandAck(id: command.id, state: .failed, at: now, error: "this agent does not know the command \"\(command.type)\"; update it")
            }
            logger.notice(
                "command carried out", metadata: ["command.id": "\(command.id)", "command.type": "\(command.type)", "state": "\(ack.state.rawValue)"])
            state.remember(ack)
            state.pendingAcks.append(ack)
            again = true
        }
        return (nil, again)
    }

    /// Finishes the wipe from its journal and sends the receipt; once the server confirms it and has
    /// revoked the device, destroys the key and state.
    func finishWipe(_ journal: WipeJournal, client: DeviceClient, device: DeviceIdentity) async throws -> CycleOutcome {
        var journal = journal
        if let commandId = journal.commandId, !journal.acknowledged, !journal.done(.signed) {
            // Best effort, so the admin sees the wipe has begun; the receipt is what completes it.
            let ack = CommandAck(id: commandId, state: .acknowledged, at: clock.now())
            if (try? await client.checkin(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, acks: [ack]), identity: device)) != nil {
                journal.acknowledged = true
                try wiper.save(journal)
            }
        }
        if !journal.done(.signed) {
            try wiper.run(&journal, key: device.privateKey, agentVersion: agentVersion)
            if !journal.done(.uploaded) {
                // A `required` archive holds the wipe until the server has it (or its deadline passes).
                if let reason = try await uploadArchive(&journal, client: client, device: device) {
                    return .failure(reason: "wipe waits for the archive of retained work data: \(reason)", retryAfter: nil)
                }
                try wiper.run(&journal, key: device.privateKey, agentVersion: agentVersion)
            }
        }
        guard let receipt = journal.receipt else { throw AgentError("\(wiper.journalFile): signed but no receipt; remove the file to wipe again") }
        var state = try store.state()
        state.lastAttempt = clock.now()
        do {
            let confirmation = try await client.sendReceipt(receipt, identity: device)
            try wiper.record(.confirmed, &journal)
            logger.notice("wipe receipt confirmed", metadata: ["receipt.id": "\(confirmation.receiptId)", "revoked": "\(confirmation.revoked)"])
            if confirmation.revoked { return try destroyIdentity(journal) }
            // The dead-man switch's wipe: still enrolled; the next check-in fetches the policy again.
            state = try store.state()
            state.enforcement = EnforcementState()
            state.offline.reset(boot.read(), wall: clock.now())
            try store.save(state)
            unlink(wiper.journalFile)
            return .success(interval: state.checkinInterval, policyChanged: true)
        } catch let error as ClientError {
            state.failures += 1
            state.lastError = "sending the wipe receipt: \(error)"
            try store.save(state)
            logger.warning("wipe done; the receipt could not be sent yet", metadata: ["reason": "\(error)"])
            var retryAfter: Int?
            if case .retryLater(let seconds, _) = error { retryAfter = seconds }
            return .failure(reason: "wipe done, receipt not yet confirmed: \(error)", retryAfter: retryAfter)
        }
    }

    /// Destroys the device key first, then the identity and every state file, keeping a note of the wipe.
    /// Safe to repeat: a crash in the middle finishes at the next start.
    func destroyIdentity(_ journal: WipeJournal) throws -> CycleOutcome {
        let tombstone = WipedDevice(
            deviceId: journal.deviceId, receiptId: journal.id, trigger: journal.trigger, wipedAt: journal.finishedAt ?? clock.now(), receipt: journal.receipt)
        if access(paths.tombstoneFile, F_OK) != 0 { try AtomicFile.write(try KontorJSON.encode(tombstone, pretty: true), to: paths.tombstoneFile, mode: 0o600) }
        for file in [paths.keyFile, paths.identityFile, paths.stateFile, paths.policyFile, paths.stateDir + "/override.json", wiper.journalFile] {
            if unlink(file) != 0 && errno != ENOENT { throw AgentFileError(file, "cannot remove: \(String(cString: strerror(errno)))") }
        }
        logger.notice("device wiped and unenrolled: key and state destroyed", metadata: ["device.id": "\(journal.deviceId)", "receipt.id": "\(journal.id)"])
        return .unenrolled(receiptId: journal.id)
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
        _ = try? enforce()
        var untilCheckin = Double.random(in: 0..<min(10, Double(state.checkinInterval) * 0.2))
        while !Task.isCancelled {
            while untilCheckin > 0 {
                let step = min(untilCheckin, enforcementPeriod, secondsUntilNextNotice() ?? .infinity)
                try await sleep(step)
                untilCheckin -= step
                if untilCheckin > 0 {
                    do { try enforce() } catch { logger.error("enforcement failed", metadata: ["reason": "\(error)"]) }
                }
            }
            let outcome = try await cycle(longPoll: true)
            if case .unenrolled = outcome {
                logger.notice("nothing left to manage on this device; stopping")
                return
            }
            state = try store.state()
            var schedule = schedule
            schedule.backoffCap = Double(config.maxBackoff)
            let retryAfter: Int?
            if case .failure(_, let seconds) = outcome { retryAfter = seconds } else { retryAfter = nil }
            if case .success(_, _, true) = outcome {
                // The server held the check-in: the next one goes out at once (a little jitter spreads a
                // fleet that a profile change woke together).
                untilCheckin = Double.random(in: 0.1..<2)
            } else {
                untilCheckin = schedule.delay(interval: state.checkinInterval, failures: state.failures, retryAfter: retryAfter, unit: Double.random(in: 0..<1))
            }
            logger.debug("next check-in", metadata: ["in": "\(Int(untilCheckin))s"])
        }
    }

    /// Ends the current quiet period early, when the policy allows it; logged and reported with who asked.
    public func overrideQuietHours(reason: String, by requester: String? = nil) throws -> QuietOverride {
        guard let stored = try store.policy(), let quiet = stored.policy.quietHours else {
            throw AgentError("no quiet hours are set for this device")
        }
        guard quiet.allowUserOverride else { throw AgentError("your organisation does not allow ending quiet hours early on this device") }
        let now = clock.now()
        guard let end = quiet.endOfQuietPeriod(containing: now, deviceZone: enforcer.deviceZone) else {
            throw AgentError("quiet hours are not in force right now")
        }
        let trimmed = reason.trimmingWhitespace()
        guard (3...500).contains(trimmed.count) else { throw AgentError("--reason: say in 3 to 500 characters why") }
        let override = QuietOverride(until: end, reason: trimmed, createdAt: now, requestedBy: requester)
        try AtomicFile.write(try KontorJSON.encode(override), to: enforcer.overrideFile, mode: 0o600)
        logger.notice("quiet hours ended early by the user", metadata: ["until": "\(ISO8601.string(from: end))", "by": "\(requester ?? "-")"])
        try enforce()
        return override
    }
}

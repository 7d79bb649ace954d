import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// Which devices have commands waiting, kept in memory so the unchanged check-in of a device without
/// commands never touches the command table. Loaded from the store on first use; a command queued here
/// is added at once, one queued on another instance when its announcement arrives (docs/scaling.md).
actor OpenCommandIndex {
    private var devices: Set<String>?
    /// Bumped whenever a command is queued for the device, so a delivery that found nothing does not
    /// forget a command queued while it looked.
    private var generations: [String: Int] = [:]

    /// Whether the device may have open commands, and the generation seen.
    func contains(_ deviceId: String, load: () async throws -> Set<String>) async throws -> (Bool, Int) {
        if devices == nil { devices = try await load() }
        return (devices!.contains(deviceId), generations[deviceId, default: 0])
    }

    func insert(_ deviceId: String) {
        devices?.insert(deviceId)
        generations[deviceId, default: 0] += 1
    }

    /// Reads the store again at the next check-in (news may have been missed).
    func reset() {
        devices = nil
        generations.removeAll()
    }

    func forget(_ deviceId: String) {
        devices?.remove(deviceId)
        generations[deviceId] = nil
    }

    /// Forgets the device unless a command was queued for it since `generation`.
    func remove(_ deviceId: String, seen generation: Int) {
        guard generations[deviceId, default: 0] == generation else { return }
        forget(deviceId)
    }
}

/// The per-device command queue: issue, cancel, deliver in check-in replies, and record the device's
/// acknowledgements. Delivery is at least once (every reply until the device acknowledges); the agent
/// makes the effect exactly once by command ID, and duplicate acknowledgements change nothing.
public struct CommandService: Sendable {
    let store: any KontorStore
    let clock: WallClock
    /// Other instances learn of queued commands (their index, their long polls).
    let cluster: ClusterEvents
    let index = OpenCommandIndex()

    /// Queues `type` for an active device. A wipe needs a reason.
    public func issue(deviceId: String, type: CommandType, reason: String?, expiresIn: Int?, by: String) async throws -> CommandRecord {
        guard let device = try await store.device(id: deviceId) else { throw APIError.notFound("no device \(deviceId)") }
        if device.status == .replaced, let successor = device.successorId {
            throw APIError(
                .conflict, .conflict,
                "device \(deviceId) was replaced by \(successor) when the machine enrolled again; command \(successor) instead (a wipe of it reaches the old installation too, should it ever check in)")
        }
        guard device.status == .active else {
            throw APIError(.conflict, .conflict, "device \(deviceId) is \(device.status.rawValue); it no longer checks in, so it cannot receive commands")
        }
        let trimmed = reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        if type == .wipe, (trimmed ?? "").count < 3 { throw APIError.invalid("reason: a wipe needs a reason of 3 to 500 characters") }
        if let trimmed, trimmed.count > 500 { throw APIError.invalid("reason: at most 500 characters") }
        if let expiresIn, !(60...(366 * 86_400)).contains(expiresIn) {
            throw APIError.invalid("expiresIn: expected 60 seconds to 366 days, found \(expiresIn)")
        }
        if type == .wipe, let open = try await store.commands(deviceId: deviceId).first(where: { $0.type == .wipe && !$0.state.isFinal }) {
            throw APIError(.conflict, .conflict, "device \(deviceId) already has wipe \(open.id) (\(open.state.rawValue))")
        }
        let now = clock.now()
        let lifetime = expiresIn.map(TimeInterval.init) ?? type.defaultLifetime
        let command = CommandRecord(
            id: IdentifierGenerator.uuidV7(now: now), deviceId: deviceId, type: type, reason: trimmed?.isEmpty == true ? nil : trimmed, issuedAt: now,
            issuedBy: by, expiresAt: lifetime.map { now + $0 })
        try await store.insertCommand(command)
        await index.insert(deviceId)
        cluster.publish(.commands(deviceId))
        return command
    }

    /// Cancels a command that has not been acknowledged yet.
    public func cancel(id: String, reason: String?) async throws -> CommandRecord {
        guard let current = try await store.command(id: id) else { throw APIError.notFound("no command \(id)") }
        guard current.state.isOpen else {
            throw APIError(.conflict, .conflict, "command \(id) is \(current.state.rawValue); only queued or delivered commands can be cancelled")
        }
        guard let (command, moved) = try await store.transitionCommand(id: id, deviceId: nil, to: .cancelled, at: clock.now(), error: reason), moved else {
            throw APIError(.conflict, .conflict, "command \(id) changed state while cancelling; look again")
        }
        return command
    }

    public func command(_ id: String) async throws -> CommandRecord {
        guard let command = try await store.command(id: id) else { throw APIError.notFound("no command \(id)") }
        return command
    }

    /// What to send in this check-in's reply; marks them delivered.
    func deliver(to deviceId: String) async throws -> [DeviceCommand] {
        let (maybe, generation) = try await index.contains(deviceId, load: { try await store.devicesWithOpenCommands() })
        guard maybe else { return [] }
        let open = try await store.deliverCommands(deviceId: deviceId, now: clock.now())
        if open.isEmpty { await index.remove(deviceId, seen: generation) }
        return open.map(\.wire)
    }

    /// Closes what is still open for a device that was just revoked: it will never check in again, so
    /// queued and delivered commands are cancelled and acknowledged ones failed, each saying why.
    func closeAll(deviceId: String) async throws {
        let now = clock.now()
        for command in try await store.commands(deviceId: deviceId) where !command.state.isFinal {
            let next: CommandState = command.state.isOpen ? .cancelled : .failed
            _ = try await store.transitionCommand(id: command.id, deviceId: deviceId, to: next, at: now, error: "the device was revoked before it reported an outcome")
        }
        // A revoked device gets no new commands (issue refuses it), so it can be forgotten outright.
        await index.forget(deviceId)
    }

    /// Applies the device's acknowledgements; unknown IDs and repeats are ignored. A wipe succeeds only
    /// through its receipt, never through an acknowledgement.
    func acknowledge(deviceId: String, _ acks: [CommandAck], logger: Logger) async throws {
        for ack in acks {
            if ack.state == .succeeded, try await store.command(id: ack.id)?.type == .wipe { continue }
            guard let (command, moved) = try await store.transitionCommand(id: ack.id, deviceId: deviceId, to: ack.state, at: clock.now(), error: ack.error)
            else {
                logger.notice("acknowledgement for an unknown command ignored", metadata: ["device.id": "\(deviceId)", "command.id": "\(ack.id)"])
                continue
            }
            if moved {
                logger.notice("command \(command.state.rawValue)", metadata: ["device.id": "\(deviceId)", "command.id": "\(command.id)", "command.type": "\(command.type.rawValue)"])
            }
        }
    }
}

/// Records signed wipe receipts: checks the signature against the device's key, stores the receipt once,
/// completes the wipe command, revokes the device and puts the receipt in the audit log.
struct ReceiptService: Sendable {
    let store: any KontorStore
    let clock: WallClock
    let audit: AuditService
    let commands: CommandService
    /// Told when a receipt revokes its device.
    let devices: DeviceCache

    static let triggers: Set<String> = ["command", "offline", "revoked"]

    func record(_ signed: SignedReceipt, from device: Device) async throws -> ReceiptConfirmation {
        guard let key = DeviceKeys.publicKey(base64: device.publicKey) else { throw APIError.invalid("device \(device.id) has no usable key") }
        guard signed.payload.utf8.count <= 64 * 1024 else { throw APIError.invalid("payload: at most 64 KiB") }
        guard let receipt = signed.verified(by: key) else {
            throw APIError(.badRequest, .signatureInvalid, "receipt: the signature does not verify with the device key, or the payload is not a wipe receipt")
        }
        guard receipt.deviceId == device.id else { throw APIError.invalid("receipt.deviceId: \(receipt.deviceId) is not the signing device \(device.id)") }
        guard IdentifierGenerator.isWellFormed(receipt.id) else { throw APIError.invalid("receipt.id: not a receipt ID") }
        guard Self.triggers.contains(receipt.trigger) else { throw APIError.invalid("receipt.trigger: expected command, offline or revoked") }
        if let commandId = receipt.commandId {
            guard let command = try await store.command(id: commandId), command.deviceId == device.id, command.type == .wipe else {
                throw APIError.invalid("receipt.commandId: \(commandId) is not a wipe of this device")
            }
        }
        if receipt.removed.count > 200 || receipt.refused.count > 200 { throw APIError.invalid("receipt: at most 200 paths") }
        if try await store.receipt(id: receipt.id) == nil, device.status != .active, device.wipeConfirmedAt != nil {
            throw APIError(.conflict, .conflict, "device \(device.id) is revoked and its wipe is confirmed; no further receipts are taken")
        }
        let now = clock.now()
        // A wipe the device did because it was told it is revoked (a replaced device whose wipe was
        // ordered) names no command; it completes the device's open wipe all the same.
        var commandId = receipt.commandId
        if commandId == nil, receipt.trigger == "revoked" {
            commandId = try await store.commands(deviceId: device.id).first { $0.type == .wipe && !$0.state.isFinal }?.id
        }
        let stored = StoredReceipt(id: receipt.id, deviceId: device.id, commandId: commandId, trigger: receipt.trigger, receivedAt: now, signed: signed)
        // The dead-man switch wipes a device that is still enrolled; every other wipe ends its identity.
        let revokes = receipt.trigger != "offline"
        let isNew = try await store.recordReceipt(stored, revoke: revokes)
        if revokes { devices.invalidate(deviceId: device.id) }
        if isNew {
            // The receipt is kept as signed; what the audit log copies from it is made visible (paths are the device's to name).
            let visible = { (text: String) in VisibleText.escaped(text) }
            try await audit.record(
                "device:\(device.id)", "device.wipe-receipt", target: device.id,
                detail: [
                    "receipt": receipt.id, "trigger": receipt.trigger, "command": receipt.commandId ?? "", "account": visible(receipt.account ?? ""),
                    "accountRemoved": String(receipt.accountRemoved), "paths": receipt.removed.map { visible($0.path) }.joined(separator: " "),
                    "files": String(receipt.totalFiles), "bytes": String(receipt.totalBytes), "refused": receipt.refused.map(visible).joined(separator: "; "),
                    "startedAt": ISO8601.string(from: receipt.startedAt), "finishedAt": ISO8601.string(from: receipt.finishedAt),
                    "payloadDigest": signed.digest, "signature": signed.signature,
                ])
        }
        let after = try await store.device(id: device.id)
        if isNew, let after, after.status != .active { try await commands.closeAll(deviceId: device.id) }
        let confirmation = ReceiptConfirmation(receiptId: receipt.id, duplicate: !isNew, revoked: after?.status != .active)
        return confirmation
    }
}

/// Offboarding: an optional restricted phase (the person's devices move to a restricted profile), then at
/// the date a wipe for every active device; each device is revoked when its receipt is in, and when no
/// active device is left the person is `offboarded` and the seat is free.
struct OffboardingService: Sendable {
    let store: any KontorStore
    let clock: WallClock
    let commands: CommandService
    let policies: PolicyService
    let audit: AuditService
    /// The one profile an operator may restrict an offboarding with (`offboardingProfile`); empty: none.
    let operatorProfile: String

    struct Request: Decodable {
        var at: Date?
        var restrictNow: Bool?
        var profile: String?
        var reason: String?
    }

    /// Starts (or replans) `person`'s offboarding. Assigning a profile is an admin's power, so with a
    /// `profile` an operator (`role`) may only use the configured restricted one.
    func start(_ person: Person, _ input: Request, role: Role, actor: String, by: String) async throws -> Offboarding {
        guard person.status != .offboarded else { throw APIError(.conflict, .conflict, "\(person.email) is already offboarded") }
        let restrict = input.restrictNow ?? false
        if restrict != (input.profile != nil) { throw APIError.invalid("restrictNow and profile go together: the restricted phase needs a profile") }
        if let profile = input.profile, !role.allows(.admin), profile != operatorProfile {
            let allowed = operatorProfile.isEmpty ? "no profile is configured for operators (offboardingProfile)" : "an operator may only use \(operatorProfile) (offboardingProfile)"
            throw APIError(.forbidden, .forbidden, "profile: restricting an offboarding with \(profile) assigns that profile, which needs an admin; \(allowed)")
        }
        let reason = input.reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let reason, reason.count > 500 { throw APIError.invalid("reason: at most 500 characters") }
        let now = clock.now()
        if let at = input.at, at > now + 366 * 86_400 { throw APIError.invalid("at: at most a year ahead") }
        if let profile = input.profile, try await policies.snapshot().latest[profile] == nil {
            throw APIError.invalid("profile: no profile named \(profile); apply it first")
        }
        let offboarding = Offboarding(
            personId: person.id, requestedAt: now, requestedBy: by, wipeAt: max(input.at ?? now, now), restrictedProfile: input.profile,
            reason: reason?.isEmpty == true ? nil : reason)
        do {
            try await store.startOffboarding(offboarding, now: now)
        } catch StoreError.conflict(let why) {
            throw APIError(.conflict, .conflict, "\(person.email): \(why)")
        }
        let devices = try await store.devices(personId: person.id).filter { $0.status == .active }
        if let profile = input.profile {
            for device in devices { _ = try await policies.assign(profile: profile, scope: "device", target: device.id, by: by) }
        }
        try await audit.record(
            actor, "person.offboarding", target: person.email,
            detail: [
                "wipeAt": ISO8601.string(from: offboarding.wipeAt), "restrictedProfile": input.profile ?? "", "reason": offboarding.reason ?? "",
                "devices": devices.map(\.id).joined(separator: ","),
            ])
        try await tick(personId: person.id)
        return try await store.offboarding(personId: person.id) ?? offboarding
    }

    /// Issues the wipes that are due and completes offboardings whose devices are all revoked.
    func tick(personId: String? = nil) async throws {
        let now = clock.now()
        for offboarding in try await store.openOffboardings() where personId == nil || offboarding.personId == personId {
            // The notice period: nothing to do until the date.
            if offboarding.wipesIssuedAt == nil, offboarding.wipeAt > now { continue }
            let devices = try await store.devices(personId: offboarding.personId)
            let email = try await store.person(id: offboarding.personId)?.email ?? offboarding.personId
            if offboarding.wipesIssuedAt == nil {
                var issued: [String] = []
                for device in devices where device.status == .active {
                    let existing = try await store.commands(deviceId: device.id)
                    if existing.contains(where: { $0.type == .wipe && ($0.state == .succeeded || !$0.state.isFinal) }) { continue }
                    let command = try await commands.issue(deviceId: device.id, type: .wipe, reason: "offboarding", expiresIn: nil, by: "offboarding")
                    issued.append("\(device.id)=\(command.id)")
                }
                try await store.markWipesIssued(personId: offboarding.personId, at: now)
                try await audit.record("system:offboarding", "person.wipes-issued", target: email, detail: ["wipes": issued.joined(separator: ",")])
            }
            if devices.allSatisfy({ $0.status != .active }) {
                try await store.completeOffboarding(personId: offboarding.personId, at: now)
                let confirmed = devices.filter { $0.wipeConfirmedAt != nil }.count
                try await audit.record(
                    "system:offboarding", "person.offboarded", target: email,
                    detail: ["devices": String(devices.count), "wipesConfirmed": String(confirmed), "wipesUnconfirmed": String(devices.count - confirmed)])
            }
        }
    }
}

/// Issues due offboarding wipes and completes offboardings, every `period` seconds.
struct OffboardingSchedulerService: Service {
    let offboarding: OffboardingService
    let period: Double
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await offboarding.tick() } catch { logger.error("offboarding scheduler failed", metadata: ["error": "\(error)"]) }
                try await Task.sleep(for: .milliseconds(Int64(period * 1000)))
            }
        }
    }
}

import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// The per-device command queue: issue, cancel, deliver in check-in replies, and record the device's
/// acknowledgements. Delivery is at least once (every reply until the device acknowledges); the agent
/// makes the effect exactly once by command ID, and duplicate acknowledgements change nothing.
public struct CommandService: Sendable {
    let store: any CommandStore & DeviceStore
    let clock: WallClock
    /// Other instances learn of queued commands (their index, their long polls).
    let cluster: ClusterEvents
    let index = OpenCommandIndex()

    /// Queues `type` for an active device. A wipe needs a reason.
    public func issue(deviceId: String, type: CommandType, reason: String?, expiresIn: Int?, by: String) async throws -> CommandRecord {
        let trimmed = try await check(deviceId: deviceId, type: type, reason: reason, expiresIn: expiresIn)
        let now = clock.now()
        let lifetime = expiresIn.map(TimeInterval.init) ?? type.defaultLifetime
        let command = CommandRecord(
            id: IdentifierGenerator.uuidV7(now: now), deviceId: deviceId, type: type, reason: trimmed?.isEmpty == true ? nil : trimmed, issuedAt: now,
            issuedBy: by, expiresAt: lifetime.map { now + $0 })
        try await store.insertCommand(command)
        await index.insert(deviceId)
        await cluster.publish(.commands(deviceId))
        return command
    }

    /// Throws unless `type` may be issued to the device now, as ``issue(deviceId:type:reason:expiresIn:by:)`` would;
    /// returns the trimmed reason. A request waiting for approval is checked with it when asked and when approved.
    func check(deviceId: String, type: CommandType, reason: String?, expiresIn: Int?) async throws -> String? {
        guard let device = try await store.device(id: deviceId) else { throw KontorError.notFound("no device \(deviceId)") }
        if device.status == .replaced, let successor = device.successorId {
            throw KontorError.conflict(
                "device \(deviceId) was replaced by \(successor) when the machine enrolled again; command \(successor) instead (a wipe of it reaches the old installation too, should it ever check in)"
            )
        }
        guard device.status == .active else {
            throw KontorError.conflict("device \(deviceId) is \(device.status.rawValue); it no longer checks in, so it cannot receive commands")
        }
        let trimmed = reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        if type == .wipe, (trimmed ?? "").count < 3 { throw KontorError.invalid("reason: a wipe needs a reason of 3 to 500 characters") }
        if let trimmed, trimmed.count > 500 { throw KontorError.invalid("reason: at most 500 characters") }
        if let expiresIn, !(60...(366 * 86_400)).contains(expiresIn) {
            throw KontorError.invalid("expiresIn: expected 60 seconds to 366 days, found \(expiresIn)")
        }
        if type == .wipe, let open = try await store.commands(deviceId: deviceId).first(where: { $0.type == .wipe && !$0.state.isFinal }) {
            throw KontorError.conflict("device \(deviceId) already has wipe \(open.id) (\(open.state.rawValue))")
        }
        return trimmed
    }

    /// Cancels a command that has not been acknowledged yet.
    public func cancel(id: String, reason: String?) async throws -> CommandRecord {
        guard let current = try await store.command(id: id) else { throw KontorError.notFound("no command \(id)") }
        guard current.state.isOpen else {
            throw KontorError.conflict("command \(id) is \(current.state.rawValue); only queued or delivered commands can be cancelled")
        }
        guard let (command, moved) = try await store.transitionCommand(id: id, deviceId: nil, to: .cancelled, at: clock.now(), error: reason), moved else {
            throw KontorError.conflict("command \(id) changed state while cancelling; look again")
        }
        return command
    }

    /// Every command of a device, in the order issued.
    func commands(deviceId: String) async throws -> [CommandRecord] { try await store.commands(deviceId: deviceId) }

    /// The IDs of devices with commands not yet final.
    func devicesWithOpenCommands() async throws -> Set<String> { try await store.devicesWithOpenCommands() }

    public func command(_ id: String) async throws -> CommandRecord {
        guard let command = try await store.command(id: id) else { throw KontorError.notFound("no command \(id)") }
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
            _ = try await store.transitionCommand(
                id: command.id, deviceId: deviceId, to: next, at: now, error: "the device was revoked before it reported an outcome")
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
                logger.notice(
                    "command \(command.state.rawValue)",
                    metadata: ["device.id": "\(deviceId)", "command.id": "\(command.id)", "command.type": "\(command.type.rawValue)"])
            }
        }
    }
}

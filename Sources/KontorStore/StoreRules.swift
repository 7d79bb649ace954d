import Foundation
import KontorCore

// The decisions both backends take inside their transactions, written once: a backend reads the rows
// (locked where its dialect needs it), asks these what to do, and writes the answer. Package-internal:
// for the store modules only.

/// What ``CommandStore/transitionCommand(id:deviceId:to:at:error:)`` does with the command it read.
package enum CommandTransition: Equatable {
    /// No such command, or not one of the given device: nothing to write, the answer is nil.
    case notFound
    /// ``CommandState/canMove(to:)`` forbids the move: nothing to write.
    case refused(CommandRecord)
    /// Write the command as it is now.
    case moved(CommandRecord)

    /// Moves `found` to `state` at `at`: the first delivery time is kept, an acknowledgement is stamped,
    /// and a final state is stamped with `error`.
    package init(_ found: CommandRecord?, deviceId: String?, to state: CommandState, at: Date, error: String?) {
        guard var command = found, deviceId == nil || command.deviceId == deviceId else {
            self = .notFound
            return
        }
        guard command.state.canMove(to: state) else {
            self = .refused(command)
            return
        }
        command.state = state
        switch state {
        case .queued: break
        case .delivered: command.deliveredAt = command.deliveredAt ?? at
        case .acknowledged: command.acknowledgedAt = at
        case .succeeded, .failed, .cancelled, .expired:
            command.completedAt = at
            command.error = error
        }
        self = .moved(command)
    }

    /// The store's answer: the command afterwards and whether it moved.
    package var result: (CommandRecord, Bool)? {
        switch self {
        case .notFound: nil
        case .refused(let command): (command, false)
        case .moved(let command): (command, true)
        }
    }
}

/// The active device of a machine that is being enrolled again, as ``EnrollmentStore/enroll(_:tokenId:now:)``
/// reads it in its transaction.
package struct MachineOccupant: Sendable {
    package var deviceId: String
    package var personId: String?
    package var group: String?
    /// The status of the device's person (raw value), nil without a person.
    package var personStatus: String?
    /// A wipe of the device is queued, delivered or acknowledged.
    package var hasOpenWipe: Bool

    package init(deviceId: String, personId: String?, group: String?, personStatus: String?, hasOpenWipe: Bool) {
        self.deviceId = deviceId
        self.personId = personId
        self.group = group
        self.personStatus = personStatus
        self.hasOpenWipe = hasOpenWipe
    }
}

/// The rules of ``EnrollmentStore/enroll(_:tokenId:now:)``.
package enum EnrollmentRules {
    /// The token, when it can be used at `now`; else `StoreError.enrollmentTokenUnknown` or `.enrollmentTokenUnusable`.
    package static func usable(_ token: EnrollmentToken?, now: Date) throws -> EnrollmentToken {
        guard let token else { throw StoreError.enrollmentTokenUnknown }
        let state = token.state(at: now)
        guard state == .active else { throw StoreError.enrollmentTokenUnusable(state) }
        return token
    }

    /// The group the device joins: the token's, else the first group of the token's person (`personGroups`,
    /// the person's stored group list).
    package static func group(of token: EnrollmentToken, personGroups: String?) throws -> String? {
        if let group = token.group { return group }
        guard token.personId != nil else { return nil }
        return try decodeJSON([String].self, personGroups)?.first
    }

    /// Throws `StoreError.machineEnrolled` unless a device enrolled with `token` (into `group`) may replace
    /// the machine's active device: only for the same owner (the token's person; with no person on either,
    /// the same group), never while a wipe of it is open (the wipe would be escaped), and not while its
    /// person is being offboarded.
    package static func checkReplaceable(_ occupant: MachineOccupant, token: EnrollmentToken, group: String?) throws {
        let sameOwner = token.personId != nil ? occupant.personId == token.personId : (occupant.personId == nil && occupant.group == group)
        guard sameOwner else { throw StoreError.machineEnrolled(deviceId: occupant.deviceId, .otherOwner) }
        guard !occupant.hasOpenWipe else { throw StoreError.machineEnrolled(deviceId: occupant.deviceId, .openWipe) }
        if let status = occupant.personStatus, status != PersonStatus.active.rawValue {
            throw StoreError.machineEnrolled(deviceId: occupant.deviceId, .offboarding)
        }
    }
}

/// The rules of ``OffboardingStore/startOffboarding(_:now:)``.
package enum OffboardingRules {
    /// Throws unless an offboarding of `personId` may be recorded or replaced: `StoreError.notFound` without
    /// such a person (`personStatus` nil), `.conflict` when the person is offboarded or the wipes went out.
    package static func checkCanStart(personId: String, personStatus: String?, wipesIssuedAt: Double?) throws {
        guard let personStatus else { throw StoreError.unknownPerson(personId) }
        if personStatus == PersonStatus.offboarded.rawValue { throw StoreError.conflict("the person is already offboarded") }
        if let issued = wipesIssuedAt {
            throw StoreError.conflict("the wipes of this offboarding went out at \(ISO8601.string(from: Date(timeIntervalSince1970: issued)))")
        }
    }

    /// Throws `.conflict` unless `offboarding` is still in its notice period (no wipe went out).
    package static func checkCanCancel(_ offboarding: Offboarding) throws {
        if let issued = offboarding.wipesIssuedAt {
            throw StoreError.conflict(
                "the wipes of this offboarding went out at \(ISO8601.string(from: issued)); it can no longer be cancelled (rehire the person once it is complete)"
            )
        }
    }
}

/// When a person who left may come back.
package enum PersonRules {
    /// A rehire needs the person who left to be offboarded and not already back under another ID.
    package static func checkCanRehire(previousStatus: String, succeeded: Bool) throws {
        guard previousStatus == PersonStatus.offboarded.rawValue else {
            throw StoreError.conflict("the person is \(previousStatus), not offboarded; only someone who left can come back")
        }
        guard !succeeded else { throw StoreError.conflict("the person already came back under a new ID; rehire that person when they leave again") }
    }
}

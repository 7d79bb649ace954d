#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What a four-eyes approval holds back until a second person agrees.
public enum ApprovalKind: String, Codable, Sendable, CaseIterable {
    /// A wipe command to one device.
    case wipe
    /// The offboarding of a person (its wipes).
    case offboard
    /// A new API token.
    case tokenCreate

    /// The role the action needs, of whoever asks and of whoever approves.
    public var requiredRole: Role {
        switch self {
        case .wipe, .offboard: .operator
        case .tokenCreate: .admin
        }
    }

    /// How people read the kind.
    public var label: String {
        switch self {
        case .wipe: "wipe"
        case .offboard: "offboarding"
        case .tokenCreate: "API token"
        }
    }
}

/// Where an approval is: waiting, or decided once (approved, rejected) or left to expire.
public enum ApprovalState: String, Codable, Sendable, CaseIterable {
    case pending
    case approved
    case rejected
    case expired
}

/// An action that waits for a second person: who asked, what (the request as JSON), until when, and how it
/// was decided. People are compared by their accountable name (`person:<subject>`): a token counts as its owner.
public struct Approval: Sendable, Equatable {
    public var id: String
    public var kind: ApprovalKind
    /// What it acts on, for people to read: a device ID, a person's email, a token's name.
    public var target: String
    /// The request as JSON text, replayed when approved.
    public var payload: String
    /// The requester as the audit log names them.
    public var requestedBy: String
    /// The person who answers for the request (`person:<subject>`); nil for a token nobody owns.
    public var requester: String?
    public var requesterName: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var state: ApprovalState
    /// The decider as the audit log names them, and the person who answers for them.
    public var decidedBy: String?
    public var decider: String?
    public var decidedAt: Date?
    /// Why it was rejected.
    public var reason: String?
    /// What the approved action made (a command ID, a token ID), or why it failed.
    public var result: String?

    public init(
        id: String, kind: ApprovalKind, target: String, payload: String, requestedBy: String, requester: String?, requesterName: String?,
        createdAt: Date, expiresAt: Date, state: ApprovalState = .pending, decidedBy: String? = nil, decider: String? = nil, decidedAt: Date? = nil,
        reason: String? = nil, result: String? = nil
    ) {
        self.id = id
        self.kind = kind
        self.target = target
        self.payload = payload
        self.requestedBy = requestedBy
        self.requester = requester
        self.requesterName = requesterName
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.state = state
        self.decidedBy = decidedBy
        self.decider = decider
        self.decidedAt = decidedAt
        self.reason = reason
        self.result = result
    }

    /// Why someone cannot decide an approval.
    public enum Refusal: Sendable, Equatable {
        /// It was decided already, or expired.
        case closed(ApprovalState)
        /// Its time ran out (it is still marked pending until the sweep or this read).
        case expired
        /// The decider is a token nobody answers for.
        case noAccountablePerson
        /// The decider is the requester, or a token of theirs.
        case samePerson
    }

    /// Why `decider` (an accountable name, nil for an ownerless token) may not decide this at `now`, or nil
    /// when they may. The role is checked by the caller, who knows the principal.
    public func refusal(decider: String?, at now: Date) -> Refusal? {
        guard state == .pending else { return .closed(state) }
        guard expiresAt > now else { return .expired }
        guard let decider else { return .noAccountablePerson }
        if decider == requester { return .samePerson }
        return nil
    }
}

/// A decision to store: the approval moves to `state` only while pending and unexpired at `at`.
public struct ApprovalDecision: Sendable, Equatable {
    public var state: ApprovalState
    public var decidedBy: String
    public var decider: String
    public var at: Date
    public var reason: String?

    public init(state: ApprovalState, decidedBy: String, decider: String, at: Date, reason: String? = nil) {
        self.state = state
        self.decidedBy = decidedBy
        self.decider = decider
        self.at = at
        self.reason = reason
    }
}

import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What an admin can ask one device to do.
public enum CommandType: String, Codable, Sendable, CaseIterable {
    /// Delete the work container (account, home, listed work paths) and send a signed receipt. Never personal data.
    case wipe
    /// Freeze the work container and refuse its logins until `unlock`.
    case lock
    case unlock
    /// Check in again at once.
    case sync

    /// How long an undelivered command of this type stays valid by default; nil for never (a wipe).
    public var defaultLifetime: TimeInterval? {
        switch self {
        case .wipe: nil
        case .lock, .unlock: 30 * 86_400
        case .sync: 86_400
        }
    }
}

/// Where a command is. Commands only move forward: queued → delivered → acknowledged → succeeded | failed;
/// queued or delivered → cancelled | expired.
public enum CommandState: String, Codable, Sendable, CaseIterable {
    case queued
    case delivered
    case acknowledged
    case succeeded
    case failed
    case cancelled
    case expired

    /// Whether nothing will happen to the command any more.
    public var isFinal: Bool { [.succeeded, .failed, .cancelled, .expired].contains(self) }

    /// Whether the command still goes out in check-in replies.
    public var isOpen: Bool { self == .queued || self == .delivered }

    private var rank: Int {
        switch self {
        case .queued: 0
        case .delivered: 1
        case .acknowledged: 2
        case .succeeded, .failed, .cancelled, .expired: 3
        }
    }

    /// Whether moving from `self` to `next` is allowed. Repeating a state (a duplicate acknowledgement)
    /// is not a move. The device's own outcome is the truth: a command it ran after an admin cancelled it
    /// (the cancellation crossed the delivery) still records succeeded or failed.
    public func canMove(to next: CommandState) -> Bool {
        switch next {
        case .queued: return false
        case .delivered, .acknowledged: return !isFinal && next.rank > rank
        case .succeeded, .failed: return !isFinal || self == .cancelled
        case .cancelled, .expired: return isOpen
        }
    }
}

/// A command as the admin API shows it.
public struct CommandRecord: Codable, Sendable, Equatable {
    public var id: String
    public var deviceId: String
    public var type: CommandType
    public var state: CommandState
    public var reason: String?
    public var issuedAt: Date
    public var issuedBy: String?
    public var expiresAt: Date?
    public var deliveredAt: Date?
    public var acknowledgedAt: Date?
    public var completedAt: Date?
    /// The agent's error when it failed; why it was cancelled.
    public var error: String?
    /// The wipe receipt that completed it.
    public var receiptId: String?

    public init(
        id: String, deviceId: String, type: CommandType, state: CommandState = .queued, reason: String? = nil, issuedAt: Date, issuedBy: String? = nil,
        expiresAt: Date? = nil, deliveredAt: Date? = nil, acknowledgedAt: Date? = nil, completedAt: Date? = nil, error: String? = nil,
        receiptId: String? = nil
    ) {
        self.id = id
        self.deviceId = deviceId
        self.type = type
        self.state = state
        self.reason = reason
        self.issuedAt = issuedAt
        self.issuedBy = issuedBy
        self.expiresAt = expiresAt
        self.deliveredAt = deliveredAt
        self.acknowledgedAt = acknowledgedAt
        self.completedAt = completedAt
        self.error = error
        self.receiptId = receiptId
    }

    /// The envelope a device receives. A lock's reason goes with it (the person is told why); the
    /// reasons of other commands stay on the server.
    public var wire: DeviceCommand { DeviceCommand(id: id, type: type.rawValue, issuedAt: issuedAt, reason: type == .lock ? reason : nil) }
}

/// The device's word on a command, sent with the next check-in. Sending the same one twice changes nothing.
public struct CommandAck: Codable, Sendable, Equatable {
    public var id: String
    /// `acknowledged`, `succeeded` or `failed`.
    public var state: CommandState
    public var at: Date
    public var error: String?

    public init(id: String, state: CommandState, at: Date, error: String? = nil) {
        self.id = id
        self.state = state
        self.at = at
        self.error = error
    }

    /// Checks the ack; returns a message naming the bad field.
    public func validationError(index: Int) -> String? {
        guard IdentifierGenerator.isWellFormed(id) else { return "acks[\(index)].id: not a command ID" }
        guard [.acknowledged, .succeeded, .failed].contains(state) else { return "acks[\(index)].state: expected acknowledged, succeeded or failed" }
        if let error, error.utf8.count > 1024 { return "acks[\(index)].error: longer than 1024 bytes" }
        return nil
    }
}

/// One path a wipe removed, with what was in it when the wipe began.
public struct RemovedPath: Codable, Sendable, Equatable {
    public var path: String
    /// Regular files, symlinks and other non-directories.
    public var files: Int
    public var bytes: Int64
    /// False when the path did not exist on the device (nothing to remove).
    public var existed: Bool

    public init(path: String, files: Int, bytes: Int64, existed: Bool) {
        self.path = path
        self.files = files
        self.bytes = bytes
        self.existed = existed
    }
}

/// What a device reports after wiping its work container, signed with its device key.
public struct WipeReceipt: Codable, Sendable, Equatable {
    /// Unique per wipe; a resent receipt keeps its ID, so the server records it once.
    public var id: String
    public var deviceId: String
    /// `command` (an admin's or an offboarding's wipe), `offline` (the dead-man switch) or `revoked`.
    public var trigger: String
    public var commandId: String?
    public var account: String?
    public var accountRemoved: Bool
    public var processesKilled: Int
    public var removed: [RemovedPath]
    /// Paths the agent refused to touch, and why (outside the allowed roots, another owner, …).
    public var refused: [String]
    public var startedAt: Date
    public var finishedAt: Date
    public var agentVersion: String
    /// How the work data was erased: `cryptoErase+delete` (the container key destroyed, then the files
    /// deleted) or `delete` (files deleted only; `methodNote` says why). Absent from older agents' receipts.
    public var method: String?
    public var methodNote: String?
    /// The archive of retained work data the server confirmed before the key was destroyed (the profile's
    /// `retention`), or nil.
    public var archive: ArchiveSummary?
    /// Why no archive was kept although the profile asked for one (an offline wipe, the upload timed out, …).
    public var archiveFailed: String?

    public init(
        id: String, deviceId: String, trigger: String, commandId: String?, account: String?, accountRemoved: Bool, processesKilled: Int,
        removed: [RemovedPath], refused: [String], startedAt: Date, finishedAt: Date, agentVersion: String, method: String? = nil, methodNote: String? = nil,
        archive: ArchiveSummary? = nil, archiveFailed: String? = nil
    ) {
        self.method = method
        self.methodNote = methodNote
        self.archive = archive
        self.archiveFailed = archiveFailed
        self.id = id
        self.deviceId = deviceId
        self.trigger = trigger
        self.commandId = commandId
        self.account = account
        self.accountRemoved = accountRemoved
        self.processesKilled = processesKilled
        self.removed = removed
        self.refused = refused
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.agentVersion = agentVersion
    }

    public var totalFiles: Int { removed.reduce(0) { $0 + $1.files } }
    public var totalBytes: Int64 { removed.reduce(0) { $0 + $1.bytes } }
}

/// A document a device signs: its exact JSON text and an Ed25519 signature over it by the device key, so
/// anyone holding the device's public key can check it later, independent of the server. Wipe receipts and
/// answers to the usage terms are kept this way.
public protocol DeviceSignedDocument: Codable, Sendable {
    associatedtype Document: Codable
    /// The document's JSON text, as signed.
    var payload: String { get }
    /// Ed25519 over the UTF-8 bytes of `payload`, base64.
    var signature: String { get }
    init(payload: String, signature: String)
}

extension DeviceSignedDocument {
    /// Signs `document` with the device key.
    public static func sign(_ document: Document, key: Curve25519.Signing.PrivateKey) throws -> Self {
        let payload = String(decoding: try KontorJSON.encode(document), as: UTF8.self)
        return Self(payload: payload, signature: try key.signature(for: Data(payload.utf8)).base64EncodedString())
    }

    /// The document, when the signature verifies with `publicKey` and the payload decodes; nil otherwise.
    public func verifiedDocument(by publicKey: Curve25519.Signing.PublicKey) -> Document? {
        guard let signature = Data(base64Encoded: signature), publicKey.isValidSignature(signature, for: Data(payload.utf8)) else { return nil }
        return try? KontorJSON.decode(Document.self, from: Data(payload.utf8))
    }

    /// `sha256:<hex>` of the payload, recorded in the audit log.
    public var digest: String { "sha256:" + Bytes.sha256Hex(Data(payload.utf8)) }
}

/// A wipe receipt as sent and kept (``DeviceSignedDocument``).
public struct SignedReceipt: DeviceSignedDocument, Equatable {
    public typealias Document = WipeReceipt
    public var payload: String
    public var signature: String

    public init(payload: String, signature: String) {
        self.payload = payload
        self.signature = signature
    }

    /// The receipt, when the signature verifies with `publicKey`; nil otherwise.
    public func verified(by publicKey: Curve25519.Signing.PublicKey) -> WipeReceipt? { verifiedDocument(by: publicKey) }
}

/// The server's answer to a receipt.
public struct ReceiptConfirmation: Codable, Sendable, Equatable {
    public var receiptId: String
    /// True when the server already had this receipt (a resend).
    public var duplicate: Bool
    /// True when the device's identity is now revoked: the agent destroys its key and state.
    public var revoked: Bool

    public init(receiptId: String, duplicate: Bool, revoked: Bool) {
        self.receiptId = receiptId
        self.duplicate = duplicate
        self.revoked = revoked
    }
}

/// A person's offboarding: an optional restricted phase, then at `wipeAt` a wipe for every device.
public struct Offboarding: Codable, Sendable, Equatable {
    public var personId: String
    public var requestedAt: Date
    public var requestedBy: String?
    /// When every device of the person gets its wipe.
    public var wipeAt: Date
    /// The profile the person's devices moved to for the notice period.
    public var restrictedProfile: String?
    public var reason: String?
    /// When the wipes were issued; nil while the date is in the future.
    public var wipesIssuedAt: Date?
    /// When every device was revoked (with or without a receipt) and the seat freed.
    public var completedAt: Date?

    public init(
        personId: String, requestedAt: Date, requestedBy: String?, wipeAt: Date, restrictedProfile: String?, reason: String?, wipesIssuedAt: Date? = nil,
        completedAt: Date? = nil
    ) {
        self.personId = personId
        self.requestedAt = requestedAt
        self.requestedBy = requestedBy
        self.wipeAt = wipeAt
        self.restrictedProfile = restrictedProfile
        self.reason = reason
        self.wipesIssuedAt = wipesIssuedAt
        self.completedAt = completedAt
    }
}

/// A person as `GET /api/v1/persons/{person}` shows them: their devices, their offboarding and each
/// device's wipe progress.
public struct PersonDetail: Codable, Sendable {
    public struct Progress: Codable, Sendable {
        public var deviceId: String
        public var hostname: String
        public var status: DeviceStatus
        public var wipe: CommandState?
        public var wipeCommandId: String?
        public var wipeConfirmedAt: Date?

        public init(deviceId: String, hostname: String, status: DeviceStatus, wipe: CommandState?, wipeCommandId: String?, wipeConfirmedAt: Date?) {
            self.deviceId = deviceId
            self.hostname = hostname
            self.status = status
            self.wipe = wipe
            self.wipeCommandId = wipeCommandId
            self.wipeConfirmedAt = wipeConfirmedAt
        }
    }

    public var person: Person
    public var devices: [Device]
    public var offboarding: Offboarding?
    public var progress: [Progress]
    /// The IDs this person had before, each time they left and came back, newest first.
    public var previousIds: [String]?
    /// The ID they have had since they came back, when this person left and returned.
    public var returnedAs: String?
    /// The person's active devices by ownership (nil from an older server).
    public var devicesByOwnership: OwnershipCounts?

    public init(
        person: Person, devices: [Device], offboarding: Offboarding?, progress: [Progress], previousIds: [String]? = nil, returnedAs: String? = nil
    ) {
        self.person = person
        self.devices = devices
        self.offboarding = offboarding
        self.progress = progress
        self.previousIds = previousIds
        self.returnedAs = returnedAs
        self.devicesByOwnership = OwnershipCounts(active: devices.filter { $0.status == .active }.map(\.ownership))
    }
}

import Foundation
import KontorCore

/// Errors every storage backend reports the same way, so services above the store never see SQL.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// A unique value is taken, e.g. a person's email.
    case conflict(String)
    /// A referenced record does not exist.
    case notFound(String)
    /// The enrollment token cannot be used, and why.
    case enrollmentTokenUnusable(EnrollmentTokenState)
    /// No enrollment token with that id.
    case enrollmentTokenUnknown
    /// The machine is enrolled as `deviceId`, which this enrollment may not replace, and why.
    case machineEnrolled(deviceId: String, MachineConflict)

    public var description: String {
        switch self {
        case .conflict(let what): "conflict: \(what)"
        case .notFound(let what): "not found: \(what)"
        case .enrollmentTokenUnusable(let state): "enrollment token is \(state.rawValue)"
        case .enrollmentTokenUnknown: "unknown enrollment token"
        case .machineEnrolled(let id, let why): "the machine is enrolled as device \(id) (\(why.rawValue))"
        }
    }
}

/// Why an enrollment may not replace the active device of the same machine (same `machineIdHash`).
public enum MachineConflict: String, Sendable, Equatable {
    /// The device belongs to someone else: another person, or, when neither has a person, another group.
    case otherOwner
    /// The device has a wipe that is queued, delivered or acknowledged: re-enrolling would escape it.
    case openWipe
    /// The device's person is being offboarded.
    case offboarding
}

/// An API token record with the hash of its secret.
public struct StoredAPIToken: Sendable, Equatable {
    public var token: APIToken
    public var secretHash: String

    public init(token: APIToken, secretHash: String) {
        self.token = token
        self.secretHash = secretHash
    }
}

/// Admin API tokens.
public protocol APITokenStore: Sendable {
    func insertAPIToken(_ token: StoredAPIToken) async throws
    func apiToken(id: String) async throws -> StoredAPIToken?
    func apiTokens() async throws -> [APIToken]
    /// Marks the token revoked; false when there is no such token. Revoking twice keeps the first time.
    func revokeAPIToken(id: String, at: Date) async throws -> Bool
    /// Records that the token was used at `at`: `lastUsedAt` only moves forward. Nothing for an unknown token.
    func touchAPIToken(id: String, at: Date) async throws
}

/// The staff directory.
public protocol PersonStore: Sendable {
    /// Inserts a person; `StoreError.conflict` when the email is taken.
    func insertPerson(_ person: Person) async throws
    func person(id: String) async throws -> Person?
    /// Looks a person up by email, case-insensitively: the current one (not offboarded) when there is one,
    /// else the one who left last (the end of the chain of rehires, whatever the clocks said).
    func person(email: String) async throws -> Person?
    /// All persons, ordered by email.
    func persons() async throws -> [Person]
    /// Replaces the person's email, display name, groups and phone (the ID, status and history stay). False
    /// when there is no such person; `StoreError.conflict` when the new email is another current person's.
    func updatePerson(_ person: Person) async throws -> Bool
    /// Inserts `person` (with `previousId` set) as the return of the offboarded person `previousId`, in one
    /// step: `StoreError.conflict` unless that person is offboarded, is not already succeeded by another, and no
    /// other current person has the email.
    func rehirePerson(_ person: Person) async throws
    /// Inserts `inserts` and applies `updates` (name, groups, phone) in one transaction: all or nothing.
    /// `StoreError.conflict` when an inserted email is taken, `StoreError.notFound` when an updated person is gone.
    func importPersons(inserts: [Person], updates: [Person]) async throws
    /// Sets whether the person takes part; when they decline, their unused enrollment tokens are revoked at
    /// `at`, in the same transaction. False when there is no such person.
    func setParticipation(personId: String, _ participation: Participation, at: Date) async throws -> Bool
}

/// An answer to the usage terms as the server keeps it: the signed statement exactly as the device sent it.
public struct StoredTermsResponse: Codable, Sendable, Equatable {
    public var id: String
    public var version: String
    public var deviceId: String
    public var personId: String?
    public var decision: TermsDecision
    /// When the person answered, as the device signed it.
    public var answeredAt: Date
    public var receivedAt: Date
    public var signed: SignedTermsResponse

    public init(
        id: String, version: String, deviceId: String, personId: String?, decision: TermsDecision, answeredAt: Date, receivedAt: Date,
        signed: SignedTermsResponse
    ) {
        self.id = id
        self.version = version
        self.deviceId = deviceId
        self.personId = personId
        self.decision = decision
        self.answeredAt = answeredAt
        self.receivedAt = receivedAt
        self.signed = signed
    }
}

/// The usage terms: published versions (immutable) and the signed answers to them.
public protocol TermsStore: Sendable {
    /// Publishes a version; `StoreError.conflict` when the version exists (versions never change).
    func insertTerms(_ terms: UsageTerms) async throws
    func terms(version: String) async throws -> UsageTerms?
    /// Every version, oldest publication first.
    func allTerms() async throws -> [UsageTerms]
    /// Stores an answer once; false, changing nothing, when its ID is known. `StoreError.notFound` when the
    /// version or the device does not exist.
    func recordTermsResponse(_ response: StoredTermsResponse) async throws -> Bool
    /// The answers, to one version or all, in the order received.
    func termsResponses(version: String?) async throws -> [StoredTermsResponse]
}

/// A device about to be enrolled.
public struct NewDevice: Sendable, Equatable {
    public var id: String
    public var keyId: String
    public var publicKey: String
    public var facts: DeviceFacts
    public var acceptedTermsVersion: String?

    public init(id: String, keyId: String, publicKey: String, facts: DeviceFacts, acceptedTermsVersion: String?) {
        self.id = id
        self.keyId = keyId
        self.publicKey = publicKey
        self.facts = facts
        self.acceptedTermsVersion = acceptedTermsVersion
    }
}

/// An enrollment token record with the hash of its secret.
public struct StoredEnrollmentToken: Sendable, Equatable {
    public var token: EnrollmentToken
    public var secretHash: String

    public init(token: EnrollmentToken, secretHash: String) {
        self.token = token
        self.secretHash = secretHash
    }
}

/// Enrollment tokens and the enrollment itself, which must consume a token use and create the
/// device in one transaction.
public protocol EnrollmentStore: Sendable {
    func insertEnrollmentToken(_ token: StoredEnrollmentToken) async throws
    func enrollmentToken(id: String) async throws -> StoredEnrollmentToken?
    /// All tokens, newest first.
    func enrollmentTokens() async throws -> [EnrollmentToken]
    /// False when there is no such token.
    func revokeEnrollmentToken(id: String, at: Date) async throws -> Bool

    /// Atomically: checks the token is usable at `now` (else `StoreError.enrollmentTokenUnusable`),
    /// uses it once, inserts the device (person, group and ownership from the token), records consent, and, when an
    /// active device with the same machine-id hash exists, turns it into the new device's predecessor
    /// (status `replaced`) — but only when it has the same owner (the token's person; with no person on
    /// either, the same group), no open wipe and a person who is not being offboarded; otherwise
    /// `StoreError.machineEnrolled`. Nothing is written when any step fails.
    func enroll(_ device: NewDevice, tokenId: String, now: Date) async throws -> Device
}

/// A check-in to record, coalesced by the server before it reaches the store.
public struct CheckinRecord: Sendable, Equatable {
    public var deviceId: String
    public var at: Date
    public var appliedPolicyHash: String?
    public var status: AgentReport?
    public var facts: DeviceFacts?
    public var compliance: ComplianceReport?

    public init(deviceId: String, at: Date, appliedPolicyHash: String?, status: AgentReport?, facts: DeviceFacts?, compliance: ComplianceReport? = nil) {
        self.deviceId = deviceId
        self.at = at
        self.appliedPolicyHash = appliedPolicyHash
        self.status = status
        self.facts = facts
        self.compliance = compliance
    }
}

/// Enrolled devices. Devices are never deleted.
public protocol DeviceStore: Sendable {
    func device(id: String) async throws -> Device?
    func device(keyId: String) async throws -> Device?
    /// Devices, oldest enrollment first, optionally only those of one person.
    func devices(personId: String?) async throws -> [Device]
    /// Active devices with an ID greater than `after` (all when nil), in ID order, at most `limit`: a
    /// large fleet read page by page.
    func activeDevices(after: String?, limit: Int) async throws -> [Device]
    /// Every device in enrollment order, with only what a fleet listing shows (no reports decoded).
    func deviceSummaries() async throws -> [DeviceSummary]
    /// Number of devices.
    func deviceCount() async throws -> Int
    /// Revokes an active device's identity; false when there is no such device. Revoking twice keeps the first time.
    func revokeDevice(id: String, at: Date) async throws -> Bool
}

/// What devices report when they check in: last-seen times and reports, and events.
public protocol CheckinStore: Sendable {
    /// Writes a batch of check-ins in one transaction; records for unknown devices are skipped.
    /// Applies check-ins: `lastSeen` only moves forward, and a report replaces the stored one only when it is not older than the last check-in written (flushes from several instances arrive in any order).
    func recordCheckins(_ records: [CheckinRecord]) async throws
    /// Appends events a device reported, in one transaction; an event whose ID the device already sent
    /// is not stored again. Returns the events stored now.
    @discardableResult
    func appendEvents(deviceId: String, _ events: [DeviceEvent]) async throws -> [DeviceEvent]
    /// The device's most recent events, newest first (the last appended first), at most `limit`.
    func events(deviceId: String, limit: Int) async throws -> [DeviceEvent]
}

/// One stored revision of a profile. Revisions are immutable; a name's revisions count up from 1.
public struct ProfileRevision: Codable, Sendable, Equatable {
    public var name: String
    public var revision: Int
    /// The YAML as applied.
    public var source: String
    public var profile: Profile
    public var createdAt: Date
    public var createdBy: String?

    public init(name: String, revision: Int, source: String, profile: Profile, createdAt: Date, createdBy: String?) {
        self.name = name
        self.revision = revision
        self.source = source
        self.profile = profile
        self.createdAt = createdAt
        self.createdBy = createdBy
    }
}

/// Which profile applies where: `default` (target ""), a `group` or a `device`.
public struct ProfileAssignment: Codable, Sendable, Equatable, Hashable {
    public var scope: String
    public var target: String
    public var profile: String
    public var assignedAt: Date
    public var assignedBy: String?

    public init(scope: String, target: String, profile: String, assignedAt: Date, assignedBy: String?) {
        self.scope = scope
        self.target = target
        self.profile = profile
        self.assignedAt = assignedAt
        self.assignedBy = assignedBy
    }
}

/// The append-only, hash-chained audit log.
public protocol AuditStore: Sendable {
    /// Appends an entry chained to the last one, atomically, and returns it.
    func appendAudit(at: Date, actor: String, action: String, target: String?, detail: [String: String]?) async throws -> AuditEntry
    /// Entries in sequence order, optionally from `since` on and only those whose target is `target`.
    func auditEntries(since: Date?, target: String?) async throws -> [AuditEntry]
    /// The entries matching `filter`, newest first, `limit` of them after skipping `offset`, with how many match in all.
    func auditEntries(matching filter: AuditFilter, limit: Int, offset: Int) async throws -> (entries: [AuditEntry], total: Int)
    /// At most `limit` entries with a sequence number above `seq`, in sequence order: the log read page by page.
    func auditEntries(afterSeq seq: Int, limit: Int) async throws -> [AuditEntry]
    /// Erases, in every entry, the committed values that contain one of `needles` (any case) — the value
    /// becomes `[erased]` and its salt goes, the commitment stays, so the chain still verifies. Returns how
    /// many entries changed.
    func eraseAuditValues(matching needles: [String]) async throws -> Int
}

/// What the audit log is searched by; every part is optional.
public struct AuditFilter: Sendable, Equatable {
    /// Part of the actor, any case (`token:ada`, `device:`).
    public var actor: String?
    /// The start of the action (`command.`, `device.enrolled`).
    public var actionPrefix: String?
    /// The exact target.
    public var target: String?
    /// Entries at or after this instant.
    public var since: Date?

    public init(actor: String? = nil, actionPrefix: String? = nil, target: String? = nil, since: Date? = nil) {
        self.actor = actor
        self.actionPrefix = actionPrefix
        self.target = target
        self.since = since
    }
}

/// Profiles, their revisions and assignments.
public protocol PolicyStore: Sendable {
    /// Stores `profile` as the next revision of its name and returns it.
    func addProfileRevision(source: String, profile: Profile, at: Date, by: String?) async throws -> ProfileRevision
    /// All revisions of `name`, oldest first.
    func profileRevisions(name: String) async throws -> [ProfileRevision]
    /// The latest revision of every profile, by name.
    func latestProfiles() async throws -> [ProfileRevision]
    /// Sets (replaces) the profile at a scope and target.
    func assign(_ assignment: ProfileAssignment) async throws
    /// Removes the assignment at a scope and target; false when there was none.
    func unassign(scope: String, target: String) async throws -> Bool
    func assignments() async throws -> [ProfileAssignment]
}

/// Server-wide settings as key/value pairs of JSON text.
public protocol SettingsStore: Sendable {
    func setting(_ key: String) async throws -> String?
    func setSetting(_ key: String, value: String) async throws
}

/// A wipe receipt as the server keeps it: the signed bytes exactly as the device sent them.
public struct StoredReceipt: Codable, Sendable, Equatable {
    public var id: String
    public var deviceId: String
    public var commandId: String?
    public var trigger: String
    public var receivedAt: Date
    public var signed: SignedReceipt

    public init(id: String, deviceId: String, commandId: String?, trigger: String, receivedAt: Date, signed: SignedReceipt) {
        self.id = id
        self.deviceId = deviceId
        self.commandId = commandId
        self.trigger = trigger
        self.receivedAt = receivedAt
        self.signed = signed
    }
}

/// The per-device command queue.
public protocol CommandStore: Sendable {
    /// Queues a command; `StoreError.notFound` when the device does not exist.
    func insertCommand(_ command: CommandRecord) async throws
    func command(id: String) async throws -> CommandRecord?
    /// A device's commands, newest first.
    func commands(deviceId: String) async throws -> [CommandRecord]
    /// Atomically: marks the device's open commands that are past `expiresAt` expired, marks queued ones
    /// delivered at `now`, and returns every open one (oldest first) to send in the check-in reply.
    func deliverCommands(deviceId: String, now: Date) async throws -> [CommandRecord]
    /// Moves a command to `state` when ``CommandState/canMove(to:)`` allows it, atomically. With `deviceId`,
    /// only a command of that device is found. Returns the command afterwards and whether it moved; nil
    /// when there is no such command.
    func transitionCommand(id: String, deviceId: String?, to state: CommandState, at: Date, error: String?) async throws -> (CommandRecord, Bool)?
    /// The devices that have queued or delivered commands.
    func devicesWithOpenCommands() async throws -> Set<String>
}

/// The wipe receipts that complete wipes, kept as the devices signed them.
public protocol ReceiptStore: Sendable {
    /// Atomically: stores the receipt, records it on the device (and on its command, which succeeds), and
    /// when `revoke` revokes the device. Returns false, changing nothing, when the receipt ID is known.
    func recordReceipt(_ receipt: StoredReceipt, revoke: Bool) async throws -> Bool
    func receipt(id: String) async throws -> StoredReceipt?
    /// A device's receipts, oldest first.
    func receipts(deviceId: String) async throws -> [StoredReceipt]
}

/// Offboardings of persons.
public protocol OffboardingStore: Sendable {
    /// Atomically: records (or replaces, while no wipe was issued) the person's offboarding, sets the person
    /// `offboarding` and revokes the person's unrevoked enrollment tokens. `StoreError.notFound` for an
    /// unknown person, `StoreError.conflict` when the person is offboarded or the wipes went out already.
    func startOffboarding(_ offboarding: Offboarding, now: Date) async throws
    func offboarding(personId: String) async throws -> Offboarding?
    /// Offboardings not yet completed, by wipe date.
    func openOffboardings() async throws -> [Offboarding]
    func markWipesIssued(personId: String, at: Date) async throws
    /// Marks the offboarding complete and the person `offboarded` (the seat is free).
    func completeOffboarding(personId: String, at: Date) async throws
    /// Atomically: ends an offboarding whose wipes have not gone out (the notice period) and makes the person
    /// `active` again; returns the offboarding that was cancelled. `StoreError.conflict` when the wipes went out
    /// or the person is offboarded, `StoreError.notFound` when there is no open offboarding.
    func cancelOffboarding(personId: String) async throws -> Offboarding
}

/// A device as a fleet listing shows it: read without decoding its facts and reports.
public struct DeviceSummary: Sendable, Equatable {
    public var id: String
    public var keyId: String
    public var personId: String?
    public var group: String?
    public var status: DeviceStatus
    public var hostname: String
    public var agentVersion: String
    public var enrolledAt: Date
    public var lastSeen: Date?
    public var appliedPolicyHash: String?
    public var wipeConfirmedAt: Date?
    /// App-allowlist violations in the last report.
    public var violations: Int
    /// What compliance needs of the reported posture; nil when the agent reported none.
    public var posture: PostureSummary?
    public var ownership: Ownership

    public init(
        id: String, keyId: String, personId: String?, group: String?, status: DeviceStatus, hostname: String, agentVersion: String, enrolledAt: Date,
        lastSeen: Date?, appliedPolicyHash: String?, wipeConfirmedAt: Date?, violations: Int, posture: PostureSummary? = nil,
        ownership: Ownership = .company
    ) {
        self.id = id
        self.keyId = keyId
        self.personId = personId
        self.group = group
        self.status = status
        self.hostname = hostname
        self.agentVersion = agentVersion
        self.enrolledAt = enrolledAt
        self.lastSeen = lastSeen
        self.appliedPolicyHash = appliedPolicyHash
        self.wipeConfirmedAt = wipeConfirmedAt
        self.violations = violations
        self.posture = posture
        self.ownership = ownership
    }

    /// The summary of a full record.
    public init(_ d: Device) {
        self.init(
            id: d.id, keyId: d.keyId, personId: d.personId, group: d.group, status: d.status, hostname: d.facts.hostname, agentVersion: d.facts.agentVersion,
            enrolledAt: d.enrolledAt, lastSeen: d.lastSeen, appliedPolicyHash: d.appliedPolicyHash, wipeConfirmedAt: d.wipeConfirmedAt,
            violations: d.compliance?.violations.count ?? 0, posture: d.facts.posture?.summary, ownership: d.ownership)
    }
}

/// A signed-in admin console session: the API token it was opened with, and the hash of its secret.
public struct StoredConsoleSession: Sendable, Equatable {
    public var id: String
    public var secretHash: String
    public var tokenId: String
    public var createdAt: Date
    public var lastSeenAt: Date
    /// The absolute end, however active the session is.
    public var expiresAt: Date

    public init(id: String, secretHash: String, tokenId: String, createdAt: Date, lastSeenAt: Date, expiresAt: Date) {
        self.id = id
        self.secretHash = secretHash
        self.tokenId = tokenId
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.expiresAt = expiresAt
    }
}

/// Admin console sessions. Kept in the store so every server instance knows them and sign-out ends them everywhere.
public protocol ConsoleSessionStore: Sendable {
    func insertConsoleSession(_ session: StoredConsoleSession) async throws
    func consoleSession(id: String) async throws -> StoredConsoleSession?
    /// Moves `lastSeenAt` forward (never back).
    func touchConsoleSession(id: String, at: Date) async throws
    /// False when there was no such session.
    func deleteConsoleSession(id: String) async throws -> Bool
    /// Ends every session opened with an API token (when it is revoked).
    func deleteConsoleSessions(tokenId: String) async throws
    /// Deletes sessions past their absolute end (`expiresAt <= now`) or idle since before `idleBefore`; returns how many.
    func deleteExpiredConsoleSessions(now: Date, idleBefore: Date) async throws -> Int
}

/// Everything a backend provides. Only the code that opens a store holds this union; each service is given the
/// protocols it uses.
public typealias KontorStore = APITokenStore & PersonStore & EnrollmentStore & DeviceStore & CheckinStore & SettingsStore & StoreHealth & PolicyStore
    & AuditStore & CommandStore & ReceiptStore & OffboardingStore & ConsoleSessionStore & ReplayNonceStore & TermsStore & SCIMStore & ArchiveStore
    & ErasureStore & ConsentRecordStore & RetentionStore & PersonSessionStore & ApprovalStore & FleetStore

/// Liveness of the backend, for /readyz.
public protocol StoreHealth: Sendable {
    /// Throws when the store cannot answer a trivial query.
    func ping() async throws
}

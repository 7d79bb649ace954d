#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What an API token may do. Each role includes everything the roles before it may do.
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    /// Provisions persons and groups over SCIM (`/scim/v2`) and nothing else (for an identity provider).
    case directory
    /// Reads the on-call calendar feed and nothing else (for a phone calendar or an answering bot).
    case feed
    /// Reads everything, changes nothing.
    case auditor
    /// Also manages persons, devices, enrollment tokens and commands.
    case `operator`
    /// Also manages API tokens and settings.
    case admin

    private var rank: Int {
        switch self {
        case .directory: -2
        case .feed: -1
        case .auditor: 0
        case .operator: 1
        case .admin: 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }

    /// True when this role may do what `required` may do.
    public func allows(_ required: Role) -> Bool { self >= required }

    /// True for the roles that use the admin API and the console (not `feed` or `directory`, which each
    /// have one door of their own).
    public var usesAdminAPI: Bool { self >= .auditor }
}

/// Why an API token exists. People sign in as themselves (OpenID Connect); tokens remain for machines and
/// for the emergency, and the audit log says which.
public enum TokenPurpose: String, Codable, Sendable, CaseIterable {
    /// Used by a script or another system.
    case automation
    /// Kept for when single sign-on is down or not set up (`kontor-server admin-token` makes these).
    case breakGlass = "break-glass"
}

/// An admin API token as stored and listed; the secret itself is never kept.
public struct APIToken: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: Role
    public var createdAt: Date
    public var revokedAt: Date?
    public var lastUsedAt: Date?
    public var purpose: TokenPurpose
    /// The person answerable for the token (an OpenID subject, or the name given to `kontor-server admin-token
    /// --owner`): a token made by a signed-in person is theirs, one made with a token belongs to that token's owner.
    /// Nil for a token nobody answers for; such a token never counts as a second person.
    public var owner: String?
    /// The owner's display name when the token was made.
    public var ownerName: String?

    public init(
        id: String, name: String, role: Role, createdAt: Date, revokedAt: Date? = nil, lastUsedAt: Date? = nil, purpose: TokenPurpose = .automation,
        owner: String? = nil, ownerName: String? = nil
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
        self.purpose = purpose
        self.owner = owner
        self.ownerName = ownerName
    }
}

/// An employee: the owner of devices and, later, of a work container.
public struct Person: Codable, Sendable, Equatable {
    public var id: String
    public var email: String
    public var displayName: String
    public var groups: [String]
    public var status: PersonStatus
    public var createdAt: Date
    /// A work phone number, shown to whoever asks who is on call.
    public var phone: String?
    /// Whether the person takes part; no enrollment token can be made for one who declined.
    public var participation: Participation
    /// The person this one was before leaving and coming back (a rehire is a new person, a new ID).
    public var previousId: String?

    public init(
        id: String, email: String, displayName: String, groups: [String], status: PersonStatus = .active, createdAt: Date, phone: String? = nil,
        participation: Participation = .takingPart, previousId: String? = nil
    ) {
        self.id = id
        self.email = email
        self.displayName = displayName
        self.groups = groups
        self.status = status
        self.createdAt = createdAt
        self.phone = phone
        self.participation = participation
        self.previousId = previousId
    }

    // `participation` may be missing (an older server's JSON): taking part.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        email = try c.decode(String.self, forKey: .email)
        displayName = try c.decode(String.self, forKey: .displayName)
        groups = try c.decode([String].self, forKey: .groups)
        status = try c.decode(PersonStatus.self, forKey: .status)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        phone = try c.decodeIfPresent(String.self, forKey: .phone)
        participation = try c.decodeIfPresent(Participation.self, forKey: .participation) ?? .takingPart
        previousId = try c.decodeIfPresent(String.self, forKey: .previousId)
    }
}

/// Where a person is in their life cycle.
public enum PersonStatus: String, Codable, Sendable, CaseIterable {
    case active
    case offboarding
    case offboarded
}

/// Who owns a device: the organisation, or the person who uses it. A personal device gets only policy that
/// stays inside the work container (docs/policies.md, "Personal devices").
public enum Ownership: String, Codable, Sendable, CaseIterable {
    case company
    case personal
}

/// How many active devices are company-owned and how many personal (a person's page, the dashboard).
public struct OwnershipCounts: Codable, Sendable, Equatable {
    public var company: Int
    public var personal: Int

    public init(company: Int, personal: Int) {
        self.company = company
        self.personal = personal
    }

    /// Counts the ownerships of the active devices given.
    public init(active ownerships: [Ownership]) {
        let personal = ownerships.filter { $0 == .personal }.count
        self.init(company: ownerships.count - personal, personal: personal)
    }

    /// `2 company, 1 personal`.
    public var described: String { "\(company) company, \(personal) personal" }
}

/// A one-time (or N-time) token that lets a device join.
public struct EnrollmentToken: Codable, Sendable, Equatable {
    public var id: String
    public var personId: String?
    public var group: String?
    public var maxUses: Int
    public var uses: Int
    public var expiresAt: Date
    public var createdAt: Date
    public var revokedAt: Date?
    public var createdBy: String?
    /// Whom the devices enrolled with it belong to.
    public var ownership: Ownership

    public init(
        id: String, personId: String?, group: String?, maxUses: Int, uses: Int = 0, expiresAt: Date, createdAt: Date,
        revokedAt: Date? = nil, createdBy: String? = nil, ownership: Ownership = .company
    ) {
        self.id = id
        self.personId = personId
        self.group = group
        self.maxUses = maxUses
        self.uses = uses
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.createdBy = createdBy
        self.ownership = ownership
    }

    // `ownership` may be missing (an older server's JSON): tokens made before ownership existed enrolled
    // company machines.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        personId = try c.decodeIfPresent(String.self, forKey: .personId)
        group = try c.decodeIfPresent(String.self, forKey: .group)
        maxUses = try c.decode(Int.self, forKey: .maxUses)
        uses = try c.decode(Int.self, forKey: .uses)
        expiresAt = try c.decode(Date.self, forKey: .expiresAt)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        revokedAt = try c.decodeIfPresent(Date.self, forKey: .revokedAt)
        createdBy = try c.decodeIfPresent(String.self, forKey: .createdBy)
        ownership = try c.decodeIfPresent(Ownership.self, forKey: .ownership) ?? .company
    }

    /// The token's state at `now`.
    public func state(at now: Date) -> EnrollmentTokenState {
        if revokedAt != nil { return .revoked }
        if uses >= maxUses { return .usedUp }
        if now >= expiresAt { return .expired }
        return .active
    }
}

/// Whether an enrollment token can still be used.
public enum EnrollmentTokenState: String, Codable, Sendable {
    case active
    case expired
    case usedUp
    case revoked
}

/// Facts a device reports about itself. Nothing here identifies the hardware: the machine id is
/// sent only as an app-specific hash.
public struct DeviceFacts: Codable, Sendable, Hashable {
    public var hostname: String
    public var osRelease: String
    public var kernel: String
    public var machineIdHash: String
    public var agentVersion: String
    /// Disk encryption, Secure Boot, updates and unit hardening; older agents send none.
    public var posture: DevicePosture?

    public init(hostname: String, osRelease: String, kernel: String, machineIdHash: String, agentVersion: String, posture: DevicePosture? = nil) {
        self.hostname = hostname
        self.osRelease = osRelease
        self.kernel = kernel
        self.machineIdHash = machineIdHash
        self.agentVersion = agentVersion
        self.posture = posture
    }

    /// Checks lengths and characters; returns a message naming the first bad field. No fact may hold a
    /// control character (a terminal would act on it); the hostname, which people read and type to confirm
    /// a wipe, may not hold invisible or direction-changing characters either (``VisibleText``).
    public func validationError() -> String? {
        let fields: [(String, String, Int)] = [
            ("facts.hostname", hostname, 253), ("facts.osRelease", osRelease, 256), ("facts.kernel", kernel, 256),
            ("facts.machineIdHash", machineIdHash, 128), ("facts.agentVersion", agentVersion, 64),
        ]
        for (name, value, limit) in fields {
            if value.isEmpty { return "\(name): must not be empty" }
            if value.utf8.count > limit { return "\(name): longer than \(limit) bytes" }
            if let control = value.unicodeScalars.first(where: VisibleText.isControl) {
                return "\(name): contains control characters (\(VisibleText.codePoint(control)))"
            }
        }
        if let hidden = hostname.unicodeScalars.first(where: VisibleText.isInvisible) {
            return
                "facts.hostname: contains the invisible or direction-changing character \(VisibleText.codePoint(hidden)); a device name must read as it is written"
        }
        return posture?.validationError()
    }
}

/// Where a device is in its life cycle. Devices are never deleted: a replaced or revoked device stays
/// as a tombstone so its ID can never be handed out again.
public enum DeviceStatus: String, Codable, Sendable, CaseIterable {
    case active
    /// Re-enrolled under a new ID; this record is the predecessor's tombstone.
    case replaced
    /// Identity revoked; requests signed with its key are refused.
    case revoked
}

/// An enrolled device as the admin API shows it.
public struct Device: Codable, Sendable, Equatable {
    public var id: String
    public var personId: String?
    public var group: String?
    public var status: DeviceStatus
    public var keyId: String
    public var publicKey: String
    public var facts: DeviceFacts
    public var enrolledAt: Date
    public var lastSeen: Date?
    public var appliedPolicyHash: String?
    public var agentStatus: AgentReport?
    public var predecessorId: String?
    public var successorId: String?
    public var acceptedTermsVersion: String?
    public var revokedAt: Date?
    /// When the device's signed wipe receipt arrived; nil while the wipe is unconfirmed.
    public var wipeConfirmedAt: Date?
    public var wipeReceiptId: String?
    /// The agent's last compliance report.
    public var compliance: ComplianceReport?
    /// The hash of the policy the device should enforce now (filled in by the API, not stored): when it
    /// differs from `appliedPolicyHash` the device has not picked up the latest policy yet.
    public var effectivePolicyHash: String?
    /// The profile revisions the effective policy comes from (filled in by the API).
    public var policySources: [String]?
    /// The posture requirements of the effective policy this device fails, in words (filled in by the API;
    /// ``PostureCompliance``).
    public var postureFailures: [String]?
    /// Whom the device belongs to, from its enrollment token. Absent in an older server's JSON: company.
    public var ownership: Ownership
    /// Fields of the merged profiles the device's policy leaves out, each with why
    /// (`posture.requireDiskEncryption: personal device`; filled in by the API).
    public var notApplied: [String]?

    public init(
        id: String, personId: String?, group: String?, status: DeviceStatus, keyId: String, publicKey: String,
        facts: DeviceFacts, enrolledAt: Date, lastSeen: Date? = nil, appliedPolicyHash: String? = nil,
        agentStatus: AgentReport? = nil, predecessorId: String? = nil, successorId: String? = nil,
        acceptedTermsVersion: String? = nil, revokedAt: Date? = nil, compliance: ComplianceReport? = nil, wipeConfirmedAt: Date? = nil,
        wipeReceiptId: String? = nil, ownership: Ownership = .company
    ) {
        self.id = id
        self.personId = personId
        self.group = group
        self.status = status
        self.keyId = keyId
        self.publicKey = publicKey
        self.facts = facts
        self.enrolledAt = enrolledAt
        self.lastSeen = lastSeen
        self.appliedPolicyHash = appliedPolicyHash
        self.agentStatus = agentStatus
        self.predecessorId = predecessorId
        self.successorId = successorId
        self.acceptedTermsVersion = acceptedTermsVersion
        self.revokedAt = revokedAt
        self.compliance = compliance
        self.wipeConfirmedAt = wipeConfirmedAt
        self.wipeReceiptId = wipeReceiptId
        self.ownership = ownership
    }

    // `ownership` may be missing (an older server's JSON): devices enrolled before ownership existed are
    // company machines.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        personId = try c.decodeIfPresent(String.self, forKey: .personId)
        group = try c.decodeIfPresent(String.self, forKey: .group)
        status = try c.decode(DeviceStatus.self, forKey: .status)
        keyId = try c.decode(String.self, forKey: .keyId)
        publicKey = try c.decode(String.self, forKey: .publicKey)
        facts = try c.decode(DeviceFacts.self, forKey: .facts)
        enrolledAt = try c.decode(Date.self, forKey: .enrolledAt)
        lastSeen = try c.decodeIfPresent(Date.self, forKey: .lastSeen)
        appliedPolicyHash = try c.decodeIfPresent(String.self, forKey: .appliedPolicyHash)
        agentStatus = try c.decodeIfPresent(AgentReport.self, forKey: .agentStatus)
        predecessorId = try c.decodeIfPresent(String.self, forKey: .predecessorId)
        successorId = try c.decodeIfPresent(String.self, forKey: .successorId)
        acceptedTermsVersion = try c.decodeIfPresent(String.self, forKey: .acceptedTermsVersion)
        revokedAt = try c.decodeIfPresent(Date.self, forKey: .revokedAt)
        wipeConfirmedAt = try c.decodeIfPresent(Date.self, forKey: .wipeConfirmedAt)
        wipeReceiptId = try c.decodeIfPresent(String.self, forKey: .wipeReceiptId)
        compliance = try c.decodeIfPresent(ComplianceReport.self, forKey: .compliance)
        effectivePolicyHash = try c.decodeIfPresent(String.self, forKey: .effectivePolicyHash)
        policySources = try c.decodeIfPresent([String].self, forKey: .policySources)
        postureFailures = try c.decodeIfPresent([String].self, forKey: .postureFailures)
        ownership = try c.decodeIfPresent(Ownership.self, forKey: .ownership) ?? .company
        notApplied = try c.decodeIfPresent([String].self, forKey: .notApplied)
    }
}

/// What the agent says about its own state at check-in.
public struct AgentReport: Codable, Sendable, Hashable {
    /// `ok`, `degraded` or `error`.
    public var state: String
    /// A short human-readable note, e.g. the last error.
    public var message: String?

    public init(state: String, message: String? = nil) {
        self.state = state
        self.message = message
    }

    /// Checks size and values; returns a message naming the first bad field.
    public func validationError() -> String? {
        guard ["ok", "degraded", "error"].contains(state) else { return "status.state: expected one of ok, degraded, error" }
        if let message, message.utf8.count > 1024 { return "status.message: longer than 1024 bytes" }
        return nil
    }
}

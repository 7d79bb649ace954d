import Foundation
import KontorCore

// How a row of Kontor's schema becomes a record, written once for both backends: each backend only says
// how to read one column of its rows (``StoreRow``). Package-internal: for the store modules only.

/// One row as a backend read it, by column name. Reading a missing column, or NULL into a non-optional
/// value, throws.
package protocol StoreRow {
    func string(_ column: String) throws -> String
    func optionalString(_ column: String) throws -> String?
    func double(_ column: String) throws -> Double
    func optionalDouble(_ column: String) throws -> Double?
    func int(_ column: String) throws -> Int
}

extension StoreRow {
    /// A date stored as seconds since 1970 (``seconds(_:)``).
    func date(_ column: String) throws -> Date { Date(timeIntervalSince1970: try double(column)) }
    func optionalDate(_ column: String) throws -> Date? { try optionalDouble(column).map { Date(timeIntervalSince1970: $0) } }
    /// A document stored as JSON text.
    func json<T: Decodable>(_ type: T.Type, _ column: String) throws -> T {
        guard let value = try decodeJSON(type, try string(column)) else { throw StoreError.notFound("column \(column)") }
        return value
    }
    func optionalJSON<T: Decodable>(_ type: T.Type, _ column: String) throws -> T? { try decodeJSON(type, try optionalString(column)) }
}

/// A record read from a row of its table (selected with `*`, or the columns it names).
package protocol RowDecodable {
    init(row: some StoreRow) throws
}

extension APIToken: RowDecodable {
    package init(row: some StoreRow) throws {
        let roleName = try row.string("role")
        guard let role = Role(rawValue: roleName) else { throw StoreError.notFound("role \(roleName)") }
        self.init(
            id: try row.string("id"), name: try row.string("name"), role: role, createdAt: try row.date("created_at"),
            revokedAt: try row.optionalDate("revoked_at"),
            lastUsedAt: try row.optionalDate("last_used_at"), purpose: TokenPurpose(rawValue: try row.string("purpose")) ?? .automation,
            owner: try row.optionalString("owner"), ownerName: try row.optionalString("owner_name"))
    }
}

extension StoredAPIToken: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(token: try APIToken(row: row), secretHash: try row.string("secret_hash"))
    }
}

extension Person: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            id: try row.string("id"), email: try row.string("email"), displayName: try row.string("display_name"),
            groups: try row.optionalJSON([String].self, "group_names") ?? [], status: PersonStatus(rawValue: try row.string("status")) ?? .active,
            createdAt: try row.date("created_at"), phone: try row.optionalString("phone"),
            participation: Participation(rawValue: try row.string("participation")) ?? .takingPart, previousId: try row.optionalString("previous_id"))
    }
}

extension UsageTerms: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            version: try row.string("version"), text: try row.string("text"), undertaking: try row.optionalString("undertaking"),
            graceSeconds: try row.int("grace_seconds"), publishedAt: try row.date("published_at"), publishedBy: try row.optionalString("published_by"),
            allowsOfflineWipeOnPersonalDevices: try row.int("allows_offline_wipe_personal") != 0)
    }
}

extension StoredTermsResponse: RowDecodable {
    package init(row: some StoreRow) throws {
        guard let decision = TermsDecision(rawValue: try row.string("decision")) else { throw StoreError.notFound("decision") }
        self.init(
            id: try row.string("id"), version: try row.string("version"), deviceId: try row.string("device_id"), personId: try row.optionalString("person_id"),
            decision: decision, answeredAt: try row.date("answered_at"), receivedAt: try row.date("received_at"),
            signed: SignedTermsResponse(payload: try row.string("payload"), signature: try row.string("signature")))
    }
}

extension EnrollmentToken: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            id: try row.string("id"), personId: try row.optionalString("person_id"), group: try row.optionalString("group_name"),
            maxUses: try row.int("max_uses"), uses: try row.int("uses"), expiresAt: try row.date("expires_at"), createdAt: try row.date("created_at"),
            revokedAt: try row.optionalDate("revoked_at"), createdBy: try row.optionalString("created_by"), ownership: try Self.ownership(row))
    }

    /// The `ownership` column; an unknown value (from a newer version) is read as personal, the narrower one.
    static func ownership(_ row: some StoreRow) throws -> Ownership {
        Ownership(rawValue: try row.string("ownership")) ?? .personal
    }
}

extension StoredEnrollmentToken: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(token: try EnrollmentToken(row: row), secretHash: try row.string("secret_hash"))
    }
}

extension Device: RowDecodable {
    /// From `devices` with `successor_id` (the device that replaced it) selected beside.
    package init(row: some StoreRow) throws {
        self.init(
            id: try row.string("id"), personId: try row.optionalString("person_id"), group: try row.optionalString("group_name"),
            // An unknown status (from a newer version) is never treated as active.
            status: DeviceStatus(rawValue: try row.string("status")) ?? .revoked, keyId: try row.string("key_id"), publicKey: try row.string("public_key"),
            facts: try row.json(DeviceFacts.self, "facts"), enrolledAt: try row.date("enrolled_at"), lastSeen: try row.optionalDate("last_seen_at"),
            appliedPolicyHash: try row.optionalString("applied_policy_hash"), agentStatus: try row.optionalJSON(AgentReport.self, "agent_status"),
            predecessorId: try row.optionalString("predecessor_id"), successorId: try row.optionalString("successor_id"),
            acceptedTermsVersion: try row.optionalString("accepted_terms_version"), revokedAt: try row.optionalDate("revoked_at"),
            compliance: try row.optionalJSON(ComplianceReport.self, "compliance"), wipeConfirmedAt: try row.optionalDate("wipe_confirmed_at"),
            wipeReceiptId: try row.optionalString("wipe_receipt_id"), ownership: try EnrollmentToken.ownership(row))
    }
}

extension DeviceEvent: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(at: try row.date("at"), kind: try row.string("kind"), detail: try row.optionalString("detail"), id: try row.optionalString("event_id"))
    }
}

extension CommandRecord: RowDecodable {
    package init(row: some StoreRow) throws {
        let typeName = try row.string("type")
        let stateName = try row.string("state")
        guard let type = CommandType(rawValue: typeName), let state = CommandState(rawValue: stateName) else {
            throw StoreError.notFound("command type or state \(typeName)/\(stateName)")
        }
        self.init(
            id: try row.string("id"), deviceId: try row.string("device_id"), type: type, state: state, reason: try row.optionalString("reason"),
            issuedAt: try row.date("issued_at"), issuedBy: try row.optionalString("issued_by"), expiresAt: try row.optionalDate("expires_at"),
            deliveredAt: try row.optionalDate("delivered_at"), acknowledgedAt: try row.optionalDate("acknowledged_at"),
            completedAt: try row.optionalDate("completed_at"), error: try row.optionalString("error"), receiptId: try row.optionalString("receipt_id"))
    }
}

extension StoredReceipt: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            id: try row.string("id"), deviceId: try row.string("device_id"), commandId: try row.optionalString("command_id"),
            trigger: try row.string("trigger"),
            receivedAt: try row.date("received_at"), signed: SignedReceipt(payload: try row.string("payload"), signature: try row.string("signature")))
    }
}

extension Offboarding: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            personId: try row.string("person_id"), requestedAt: try row.date("requested_at"), requestedBy: try row.optionalString("requested_by"),
            wipeAt: try row.date("wipe_at"), restrictedProfile: try row.optionalString("restricted_profile"), reason: try row.optionalString("reason"),
            wipesIssuedAt: try row.optionalDate("wipes_issued_at"), completedAt: try row.optionalDate("completed_at"))
    }
}

extension ProfileRevision: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            name: try row.string("name"), revision: try row.int("revision"), source: try row.string("source"), profile: try row.json(Profile.self, "document"),
            createdAt: try row.date("created_at"), createdBy: try row.optionalString("created_by"))
    }
}

extension ProfileAssignment: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            scope: try row.string("scope"), target: try row.string("target"), profile: try row.string("profile_name"), assignedAt: try row.date("assigned_at"),
            assignedBy: try row.optionalString("assigned_by"))
    }
}

extension AuditEntry: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            seq: try row.int("seq"), at: try row.date("at"), actor: try row.string("actor"), action: try row.string("action"),
            target: try row.optionalString("target"), detail: try row.optionalJSON([String: String].self, "detail"),
            previousHash: try row.string("previous_hash"), hash: try row.string("hash"),
            commitments: try row.optionalJSON([String: String].self, "commitments"), salts: try row.optionalJSON([String: String].self, "salts"),
            legacyHash: try row.optionalString("legacy_hash"))
    }
}

extension StoredConsoleSession: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            id: try row.string("id"), secretHash: try row.string("secret_hash"), tokenId: try row.string("token_id"), createdAt: try row.date("created_at"),
            lastSeenAt: try row.date("last_seen_at"), expiresAt: try row.date("expires_at"))
    }
}

extension StoredPersonSession: RowDecodable {
    package init(row: some StoreRow) throws {
        let channelName = try row.string("channel")
        let roleName = try row.string("role")
        guard let channel = PersonSessionChannel(rawValue: channelName) else { throw StoreError.notFound("session channel \(channelName)") }
        guard let role = Role(rawValue: roleName) else { throw StoreError.notFound("role \(roleName)") }
        self.init(
            id: try row.string("id"), secretHash: try row.string("secret_hash"), channel: channel, subject: try row.string("subject"),
            displayName: try row.string("display_name"), role: role, groups: try row.json([String].self, "group_names"),
            createdAt: try row.date("created_at"), lastSeenAt: try row.date("last_seen_at"), expiresAt: try row.date("expires_at"))
    }
}

extension PendingSignIn: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            id: try row.string("id"), nonce: try row.string("nonce"), codeVerifier: try row.string("code_verifier"), next: try row.optionalString("next"),
            createdAt: try row.date("created_at"), expiresAt: try row.date("expires_at"))
    }
}

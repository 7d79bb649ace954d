import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Paths of the device-facing API, shared by the server and every client.
public enum DeviceAPI {
    public static let enrollPath = "/api/v1/enroll"
    public static let checkinPath = "/api/v1/checkin"
    /// Where a device sends its signed wipe receipt; also open to a revoked device.
    public static let receiptsPath = "/api/v1/receipts"
    /// Where a device fetches the text of the usage terms its policy names.
    public static let termsPath = "/api/v1/device/terms"
    /// Where a device sends its person's signed answer to the usage terms.
    public static let termsResponsesPath = "/api/v1/device/terms/responses"
    /// The label Kontor uses in `Signature-Input` and `Signature`.
    public static let signatureLabel = "kontor"
    /// How far a signature's `created` may be from the verifier's clock, in seconds.
    public static let signatureWindow: Int = 300
    /// Components every signed device request must cover.
    public static let requiredRequestComponents = ["@method", "@authority", "@path", "@query", "content-digest"]
    /// Components a signed server reply covers; `signature;req` binds it to the request it answers.
    public static let responseComponents: [SignatureComponent] = [
        SignatureComponent("@status"), SignatureComponent("content-digest"),
        SignatureComponent("signature", key: signatureLabel, fromRequest: true),
    ]
}

/// POST /api/v1/enroll. The request is signed with the new device key as proof that the device holds it.
public struct EnrollRequest: Codable, Sendable, Equatable {
    /// The enrollment token, `ket_...`.
    public var token: String
    /// The device's Ed25519 public key: 32 raw bytes, base64.
    public var publicKey: String
    public var facts: DeviceFacts
    /// The usage-terms version the person accepted on this device, if any.
    public var acceptedTermsVersion: String?

    public init(token: String, publicKey: String, facts: DeviceFacts, acceptedTermsVersion: String?) {
        self.token = token
        self.publicKey = publicKey
        self.facts = facts
        self.acceptedTermsVersion = acceptedTermsVersion
    }
}

/// The server's answer to a successful enrollment.
public struct EnrollResponse: Codable, Sendable, Equatable {
    /// The new device ID, never issued before and never again.
    public var deviceId: String
    /// The key ID the device must use in its signatures.
    public var keyId: String
    /// The server's response-signing Ed25519 public key (raw, base64); the agent pins it.
    public var serverPublicKey: String
    /// The key ID the server signs its replies with.
    public var serverKeyId: String
    /// Seconds between check-ins.
    public var checkinInterval: Int
    /// The device this one replaces, when the same machine enrolled before.
    public var predecessorId: String?

    public init(deviceId: String, keyId: String, serverPublicKey: String, serverKeyId: String, checkinInterval: Int, predecessorId: String?) {
        self.deviceId = deviceId
        self.keyId = keyId
        self.serverPublicKey = serverPublicKey
        self.serverKeyId = serverKeyId
        self.checkinInterval = checkinInterval
        self.predecessorId = predecessorId
    }
}

/// POST /api/v1/checkin (signed).
public struct CheckinRequest: Codable, Sendable, Equatable {
    /// The hash of the policy the agent enforces now; nil before its first policy.
    public var appliedPolicyHash: String?
    public var status: AgentReport?
    /// Sent when they changed since the last check-in.
    public var facts: DeviceFacts?
    /// What the agent enforces and what it found.
    public var compliance: ComplianceReport?
    /// What happened on the device since the last check-in (quiet hours began, an override, …), oldest first.
    public var events: [DeviceEvent]?
    /// What became of commands the device received; resent until a check-in succeeds.
    public var acks: [CommandAck]?
    /// Long poll: the agent will wait up to this many seconds for the reply. When there is nothing to say,
    /// the server holds the request until a command is queued for the device or the time is up.
    public var wait: Int?

    public init(
        appliedPolicyHash: String?, status: AgentReport?, facts: DeviceFacts?, compliance: ComplianceReport? = nil, events: [DeviceEvent]? = nil,
        acks: [CommandAck]? = nil, wait: Int? = nil
    ) {
        self.appliedPolicyHash = appliedPolicyHash
        self.status = status
        self.facts = facts
        self.compliance = compliance
        self.events = events
        self.acks = acks
        self.wait = wait
    }
}

extension CheckinRequest {
    /// The first field whose text may not hold a control or invisible character at all: identifiers and
    /// words from the agent's own vocabulary (the applied policy hash, event kinds, the account and its
    /// state, a violation's action), which a legitimate agent never sends with one. A message naming it.
    public func characterProblem() -> String? {
        func check(_ name: String, _ value: String?) -> String? {
            guard let value, let hidden = VisibleText.firstHidden(in: value) else { return nil }
            return "\(name): contains the control or invisible character \(VisibleText.codePoint(hidden))"
        }
        if let problem = check("appliedPolicyHash", appliedPolicyHash) { return problem }
        for (i, event) in (events ?? []).enumerated() {
            if let problem = check("events[\(i)].kind", event.kind) { return problem }
        }
        if let compliance {
            if let problem = check("compliance.containerAccount", compliance.containerAccount) { return problem }
            if let problem = check("compliance.containerState", compliance.containerState) { return problem }
            for (i, violation) in compliance.violations.enumerated() {
                if let problem = check("compliance.violations[\(i)].action", violation.action) { return problem }
            }
        }
        return nil
    }

    /// The request with control and invisible characters in its free text written out visibly
    /// (``VisibleText/escaped(_:keeping:)``): the status message, event details, the quiet-hours reason,
    /// violations' executables and acknowledgements' errors. These report what the device found, which a
    /// work user can shape (an executable's file name is theirs to choose): refusing them would refuse the
    /// whole check-in, and with it the wipe it should pick up, so they are kept, made harmless.
    public func sanitized() -> CheckinRequest {
        // Most check-ins carry plain text: answer them without copying anything.
        func hidden(_ text: String?) -> Bool { text.map { VisibleText.firstHidden(in: $0) != nil } ?? false }
        let needed =
            hidden(status?.message) || (events ?? []).contains { hidden($0.detail) } || hidden(compliance?.quietReason)
            || (compliance?.violations ?? []).contains { hidden($0.executable) } || (acks ?? []).contains { hidden($0.error) }
        guard needed else { return self }
        var out = self
        if let message = status?.message { out.status?.message = VisibleText.escaped(message) }
        if let events {
            out.events = events.map { event in
                var e = event
                e.detail = e.detail.map { VisibleText.escaped($0) }
                return e
            }
        }
        if var compliance {
            compliance.quietReason = compliance.quietReason.map { VisibleText.escaped($0) }
            compliance.violations = compliance.violations.map { violation in
                var v = violation
                v.executable = VisibleText.escaped(v.executable)
                return v
            }
            out.compliance = compliance
        }
        if let acks {
            out.acks = acks.map { ack in
                var a = ack
                a.error = a.error.map { VisibleText.escaped($0) }
                return a
            }
        }
        return out
    }
}

/// The device's view of its own compliance, sent at check-in.
public struct ComplianceReport: Codable, Sendable, Hashable {
    /// Whether quiet hours are in force on the device now, and why.
    public var quiet: Bool?
    public var quietReason: String?
    /// The work account and its state: `absent`, `active`, `frozen` (quiet hours), `locked` (an admin's
    /// lock or the offline dead-man switch) or `wiped`.
    public var containerAccount: String?
    public var containerState: String?
    /// App-allowlist violations found since the last report (at most 50).
    public var violations: [AppViolation]
    /// Whether a wipe of the container can be a cryptographic erase: `available` (the work home is encrypted
    /// with a key only the agent holds) or `unavailable`, with the reason in `cryptoEraseReason`.
    public var cryptoErase: String?
    public var cryptoEraseReason: String?
    /// Where the encrypted container's key is: `loaded` (in the kernel: the work files open), `locked` (out
    /// of the kernel while the container is locked: its files are ciphertext), `lockedFilesBusy` (out of the
    /// keyring, but files frozen programs hold open stay readable until they close). Nil when not encrypted.
    public var containerKey: String?

    public static let containerKeyStates = ["loaded", "locked", "lockedFilesBusy"]

    public init(
        quiet: Bool? = nil, quietReason: String? = nil, containerAccount: String? = nil, containerState: String? = nil, violations: [AppViolation] = [],
        cryptoErase: String? = nil, cryptoEraseReason: String? = nil, containerKey: String? = nil
    ) {
        self.containerKey = containerKey
        self.quiet = quiet
        self.quietReason = quietReason
        self.containerAccount = containerAccount
        self.containerState = containerState
        self.violations = violations
        self.cryptoErase = cryptoErase
        self.cryptoEraseReason = cryptoEraseReason
    }

    /// Checks the device's words (lengths, control characters, the known values); returns a message naming
    /// the first bad field.
    public func validationError() -> String? {
        let texts: [(String, String?, Int)] = [
            ("compliance.quietReason", quietReason, 512), ("compliance.containerAccount", containerAccount, 64),
            ("compliance.containerState", containerState, 32), ("compliance.cryptoEraseReason", cryptoEraseReason, 512),
        ]
        for (name, value, limit) in texts {
            guard let value else { continue }
            if value.utf8.count > limit { return "\(name): longer than \(limit) bytes" }
            if let control = value.unicodeScalars.first(where: VisibleText.isControl) {
                return "\(name): contains control characters (\(VisibleText.codePoint(control)))"
            }
        }
        if let cryptoErase, !["available", "unavailable"].contains(cryptoErase) { return "compliance.cryptoErase: expected available or unavailable" }
        if let containerKey, !Self.containerKeyStates.contains(containerKey) {
            return "compliance.containerKey: expected \(Self.containerKeyStates.joined(separator: ", "))"
        }
        return nil
    }
}

/// A process in the work container that no allowlist rule matches.
public struct AppViolation: Codable, Sendable, Equatable, Hashable {
    public var executable: String
    public var pid: Int
    /// `reported` (audit mode) or `terminated` (enforce mode).
    public var action: String
    public var at: Date

    public init(executable: String, pid: Int, action: String, at: Date) {
        self.executable = executable
        self.pid = pid
        self.action = action
        self.at = at
    }
}

/// Something that happened on a device: `quiet.begin`, `quiet.end`, `quiet.override`, `container.created`,
/// `app.violation`, `reply.rejected`.
public struct DeviceEvent: Codable, Sendable, Equatable {
    public var at: Date
    public var kind: String
    public var detail: String?
    /// Given by the agent when the event happens, so a check-in sent again (its reply was lost) stores
    /// each event once. Agents before 0.2 send none.
    public var id: String?

    public init(at: Date, kind: String, detail: String? = nil, id: String? = nil) {
        self.at = at
        self.kind = kind
        self.detail = detail
        self.id = id
    }

    /// Whether `id` is a usable event ID: 1 to 64 letters, digits, '-' or '_'.
    public static func isValidID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count)
            && id.utf8.allSatisfy {
                $0 < 0x80
                    && (UInt8(ascii: "a")...UInt8(ascii: "z") ~= $0 || UInt8(ascii: "A")...UInt8(ascii: "Z") ~= $0
                        || UInt8(ascii: "0")...UInt8(ascii: "9") ~= $0 || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_"))
            }
    }
}

/// The answer to a check-in. `policy` is present only when the device's hash differs.
public struct CheckinResponse: Codable, Sendable, Equatable {
    /// `unchanged` or `policy`.
    public var result: String
    /// Seconds until the next check-in.
    public var nextCheckin: Int
    /// The hash of the device's effective policy.
    public var policyHash: String
    public var policy: EffectivePolicy?
    public var commands: [DeviceCommand]
    /// True when the server honoured the request's `wait`: the agent sends its next long poll at once.
    public var longPoll: Bool?

    public init(result: String, nextCheckin: Int, policyHash: String, policy: EffectivePolicy?, commands: [DeviceCommand], longPoll: Bool? = nil) {
        self.result = result
        self.nextCheckin = nextCheckin
        self.policyHash = policyHash
        self.policy = policy
        self.commands = commands
        self.longPoll = longPoll
    }
}

/// A command for one device (`wipe`, `lock`, `unlock`, `sync`; see ``CommandType``). Delivered in every
/// check-in reply until the device acknowledges it; the ID makes a repeated delivery harmless.
public struct DeviceCommand: Codable, Sendable, Equatable {
    public var id: String
    public var type: String
    public var issuedAt: Date
    /// The admin's reason, sent for `lock` only: the agent shows it to the person in the work session.
    /// Absent from older servers; older agents ignore it.
    public var reason: String?

    public init(id: String, type: String, issuedAt: Date, reason: String? = nil) {
        self.id = id
        self.type = type
        self.issuedAt = issuedAt
        self.reason = reason
    }
}

/// The policy a device enforces, as computed by the server from the profiles assigned to it
/// (see ``PolicyMerge``). Its canonical hash is what check-ins compare.
public struct EffectivePolicy: Codable, Sendable, Equatable {
    /// The profile revisions it was computed from, general to specific; empty for the built-in default.
    public var sources: [String]
    /// Seconds between check-ins.
    public var checkinInterval: Int
    /// The usage-terms version the person must have accepted.
    public var usageTermsVersion: String?
    public var quietHours: QuietHoursPolicy?
    public var apps: AppPolicy?
    public var container: ResolvedContainer?
    public var offline: OfflinePolicy?
    /// What the device's posture must meet (shown to the employee; compliance is computed by the server).
    public var posture: PosturePolicy?
    /// Work data to archive before a commanded or offboarding wipe (paths expanded for this device).
    public var retention: RetentionPolicy?
    /// The published terms `usageTermsVersion` names, and this device's person's answer to them; nil
    /// while that version is not published (nothing is enforced for text nobody can read).
    public var terms: TermsRequirement?
    /// When the device's person is being offboarded: the date their devices' work containers are wiped,
    /// so the person is told ahead (the wipe itself comes as a command).
    public var offboardingWipeAt: Date?
    /// For each field, the source that set it (`office-default@3 (default)`).
    public var origins: [String: String]?
    /// `personal` on a personal device: the agent then collects only the base facts, no posture. Nil for a
    /// company device (so company devices' policies hash as before ownership existed).
    public var ownership: Ownership?
    /// Fields the assigned profiles set that this device's policy leaves out, with why
    /// (`posture.requireDiskEncryption: personal device`). Provenance, like `origins`: not part of the hash.
    public var notApplied: [String]?

    public init(
        sources: [String] = [], checkinInterval: Int, usageTermsVersion: String? = nil, quietHours: QuietHoursPolicy? = nil, apps: AppPolicy? = nil,
        container: ResolvedContainer? = nil, offline: OfflinePolicy? = nil, origins: [String: String]? = nil
    ) {
        self.sources = sources
        self.checkinInterval = checkinInterval
        self.usageTermsVersion = usageTermsVersion
        self.quietHours = quietHours
        self.apps = apps
        self.container = container
        self.offline = offline
        self.origins = origins
    }

    /// `sha256:<hex>` of the canonical JSON (sorted keys) of what the device enforces: equal policies have
    /// equal hashes. Provenance (sources, origins) is left out, so re-applying an identical profile or
    /// rolling back to the same content changes nothing on the devices.
    public var canonicalHash: String {
        var content = self
        content.sources = []
        content.origins = nil
        content.notApplied = nil
        let data = (try? KontorJSON.encode(content)) ?? Data()
        return "sha256:" + Bytes.sha256Hex(data)
    }
}

/// The work container of one device: the account and the extra work paths, already expanded.
public struct ResolvedContainer: Codable, Sendable, Equatable {
    public var account: String
    public var extraWorkPaths: [String]

    public init(account: String, extraWorkPaths: [String]) {
        self.account = account
        self.extraWorkPaths = extraWorkPaths
    }
}

/// The JSON error body of every failed API call: `{ "error": { "code": ..., "message": ... } }`.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var code: String
        public var message: String
    }

    public var error: Detail

    public init(code: String, message: String) {
        self.error = Detail(code: code, message: message)
    }
}

/// Stable error codes of the API. Clients switch on these, so they never change meaning.
public enum ErrorCode: String, Sendable, CaseIterable {
    case invalidRequest = "invalid_request"
    case payloadTooLarge = "payload_too_large"
    case unsupportedMediaType = "unsupported_media_type"
    case notFound = "not_found"
    case routeNotFound = "route_not_found"
    case methodNotAllowed = "method_not_allowed"
    case conflict = "conflict"
    case unauthorized = "unauthorized"
    case forbidden = "forbidden"
    case rateLimited = "rate_limited"
    case enrollTokenInvalid = "enroll_token_invalid"
    case enrollTokenExpired = "enroll_token_expired"
    case enrollTokenUsedUp = "enroll_token_used_up"
    case enrollTokenRevoked = "enroll_token_revoked"
    /// The machine is enrolled as a device this enrollment may not replace (another owner, an open wipe).
    case machineEnrolled = "machine_enrolled"
    case signatureMissing = "signature_missing"
    case signatureMalformed = "signature_malformed"
    case signatureInvalid = "signature_invalid"
    case signatureExpired = "signature_expired"
    case nonceReplayed = "nonce_replayed"
    case digestMismatch = "digest_mismatch"
    case unknownKey = "unknown_key"
    case keyRevoked = "key_revoked"
    case deviceRevoked = "device_revoked"
    case notReady = "not_ready"
    case internalError = "internal_error"
    /// An ID token was refused (signature, issuer, audience, expiry, reuse) or gives no Kontor role.
    case idTokenRefused = "id_token_refused"
    /// No OpenID provider is configured on this server.
    case signInNotConfigured = "sign_in_not_configured"
    /// The OpenID provider could not be reached or answered nonsense.
    case providerUnavailable = "provider_unavailable"
}

/// Ed25519 key helpers: the raw wire form and the key ID derived from it.
public enum DeviceKeys {
    /// The key ID of a public key: base64url of the SHA-256 of its 32 raw bytes (43 characters).
    public static func keyID(for publicKey: Curve25519.Signing.PublicKey) -> String {
        Bytes.base64URL(SHA256.hash(data: publicKey.rawRepresentation))
    }

    /// Parses a base64 raw Ed25519 public key; nil when it is not one.
    public static func publicKey(base64: String) -> Curve25519.Signing.PublicKey? {
        guard let data = Data(base64Encoded: base64), data.count == 32 else { return nil }
        return try? Curve25519.Signing.PublicKey(rawRepresentation: data)
    }

    /// The base64 wire form of a public key.
    public static func base64(_ key: Curve25519.Signing.PublicKey) -> String {
        key.rawRepresentation.base64EncodedString()
    }
}

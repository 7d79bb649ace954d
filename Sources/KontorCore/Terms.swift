import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One published version of the usage terms, with the optional confidentiality undertaking that goes
/// with it. Versions are immutable: a change is a new version.
public struct UsageTerms: Codable, Sendable, Equatable {
    public var version: String
    /// The terms as published (Markdown or plain text).
    public var text: String
    /// Hex SHA-256 of the UTF-8 bytes of `text`: what an acceptance names.
    public var sha256: String
    public var undertaking: String?
    public var undertakingSha256: String?
    /// How long after publication a device may run without an answer before its work container is locked.
    public var graceSeconds: Int
    public var publishedAt: Date
    public var publishedBy: String?
    /// True when these terms allow an offline wipe (`offline.wipeAfter`) on the person's own (personal)
    /// devices: accepting them is accepting that. Nil (never false) otherwise, so older versions read the same.
    /// Part of the immutable version a person's answer names; the text should say it in words.
    public var allowsOfflineWipeOnPersonalDevices: Bool?

    public init(
        version: String, text: String, undertaking: String?, graceSeconds: Int, publishedAt: Date, publishedBy: String?,
        allowsOfflineWipeOnPersonalDevices: Bool = false
    ) {
        self.version = version
        self.text = text
        self.sha256 = Bytes.sha256Hex(Data(text.utf8))
        self.undertaking = undertaking
        self.undertakingSha256 = undertaking.map { Bytes.sha256Hex(Data($0.utf8)) }
        self.graceSeconds = graceSeconds
        self.publishedAt = publishedAt
        self.publishedBy = publishedBy
        self.allowsOfflineWipeOnPersonalDevices = allowsOfflineWipeOnPersonalDevices ? true : nil
    }

    /// When an unanswered device locks its work container.
    public var deadline: Date { publishedAt.addingTimeInterval(TimeInterval(graceSeconds)) }

    /// The requirement a device's policy carries while these terms are in force.
    public func requirement(personId: String?, decision: TermsDecision?) -> TermsRequirement {
        TermsRequirement(
            version: version, sha256: sha256, undertakingSha256: undertakingSha256, deadline: deadline, personId: personId, decision: decision)
    }

    /// Why a version name or text cannot be published; nil when they can.
    public static func problem(version: String, text: String, undertaking: String?, graceSeconds: Int) -> String? {
        if !isVersion(version) {
            return "version: 1 to 64 letters, digits, dots, dashes or underscores"
        }
        if text.trimmingWhitespace().isEmpty { return "text: empty" }
        if text.utf8.count > maxTextBytes { return "text: at most \(maxTextBytes / 1024) KiB" }
        if let undertaking {
            if undertaking.trimmingWhitespace().isEmpty { return "undertaking: empty" }
            if undertaking.utf8.count > maxTextBytes { return "undertaking: at most \(maxTextBytes / 1024) KiB" }
        }
        if !(0...(365 * 86_400)).contains(graceSeconds) { return "grace: 0 seconds to 365 days" }
        return nil
    }

    public static let maxTextBytes = 256 * 1024

    /// True when `version` has the shape of a version name (and so may be looked up).
    public static func isVersion(_ version: String) -> Bool {
        (1...64).contains(version.count) && !version.unicodeScalars.contains { !versionCharacters($0) }
    }

    static func versionCharacters(_ s: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s) || s == "." || s == "-" || s == "_"
    }
}

/// A person's answer to a version of the terms.
public enum TermsDecision: String, Codable, Sendable, CaseIterable {
    case accepted
    case declined
}

/// What a device's effective policy says about the terms its profiles name: which version, its text's
/// hash, when the device locks without an answer, and the answer the server has (the person's, on any of
/// their devices; the device's own when it has no person).
public struct TermsRequirement: Codable, Sendable, Equatable, Hashable {
    public var version: String
    public var sha256: String
    public var undertakingSha256: String?
    public var deadline: Date
    /// The person the device is enrolled for, whom an answer binds.
    public var personId: String?
    public var decision: TermsDecision?

    public init(version: String, sha256: String, undertakingSha256: String?, deadline: Date, personId: String?, decision: TermsDecision?) {
        self.version = version
        self.sha256 = sha256
        self.undertakingSha256 = undertakingSha256
        self.deadline = deadline
        self.personId = personId
        self.decision = decision
    }

    /// True when the work container must be locked at `now`: the deadline has passed and the terms are
    /// not accepted (declined, or no answer).
    public func locks(at now: Date) -> Bool { decision != .accepted && now >= deadline }
}

/// What a device signs when its person answers: person, device, version and the hashes of the texts shown.
public struct TermsStatement: Codable, Sendable, Equatable {
    public static let currentType = "kontor-terms-response/1"
    public var type: String
    /// Unique per answer, made by the device: a resend is recognised.
    public var id: String
    public var version: String
    public var textSha256: String
    public var undertakingSha256: String?
    public var deviceId: String
    public var personId: String?
    /// The local login that answered on the device.
    public var login: String
    public var decision: TermsDecision
    public var at: Date

    public init(
        id: String, version: String, textSha256: String, undertakingSha256: String?, deviceId: String, personId: String?, login: String,
        decision: TermsDecision, at: Date
    ) {
        self.type = Self.currentType
        self.id = id
        self.version = version
        self.textSha256 = textSha256
        self.undertakingSha256 = undertakingSha256
        self.deviceId = deviceId
        self.personId = personId
        self.login = login
        self.decision = decision
        self.at = at
    }
}

/// An answer as sent and kept (``DeviceSignedDocument``): the statement's exact JSON and the device key's
/// signature over it.
public struct SignedTermsResponse: DeviceSignedDocument, Equatable {
    public typealias Document = TermsStatement
    public var payload: String
    public var signature: String

    public init(payload: String, signature: String) {
        self.payload = payload
        self.signature = signature
    }

    /// The statement, when the signature verifies with `publicKey` and it is a terms response; nil otherwise.
    public func verified(by publicKey: Curve25519.Signing.PublicKey) -> TermsStatement? {
        verifiedDocument(by: publicKey).flatMap { $0.type == TermsStatement.currentType ? $0 : nil }
    }
}

/// The server's answer to a terms response.
public struct TermsResponseConfirmation: Codable, Sendable, Equatable {
    public var id: String
    public var decision: TermsDecision
    /// True when the server already had this answer (a resend).
    public var duplicate: Bool

    public init(id: String, decision: TermsDecision, duplicate: Bool) {
        self.id = id
        self.decision = decision
        self.duplicate = duplicate
    }
}

/// What a device asks for to show its person the terms: `POST /api/v1/device/terms`.
public struct TermsTextRequest: Codable, Sendable, Equatable {
    public var version: String
    public init(version: String) { self.version = version }
}

/// Whether a person takes part in device management at all ("whoever does not want to is not obliged").
public enum Participation: String, Codable, Sendable, CaseIterable {
    case takingPart = "taking-part"
    case declined
}

import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Who answered the usage terms, how and when, per person and device, with each answer's signed statement
/// and the device's public key so anyone can check it; and who has not answered or does not take part.
public struct TermsReport: Codable, Sendable, Equatable {
    /// A person as the report names them.
    public struct PersonRef: Codable, Sendable, Equatable {
        public var id: String
        public var email: String
        public var displayName: String

        public init(_ person: Person) {
            id = person.id
            email = person.email
            displayName = person.displayName
        }
    }

    /// One signed answer.
    public struct Answer: Codable, Sendable, Equatable {
        public var id: String
        public var version: String
        public var decision: TermsDecision
        public var person: PersonRef?
        public var deviceId: String
        public var hostname: String?
        /// The local login that answered on the device.
        public var login: String
        public var answeredAt: Date
        public var receivedAt: Date
        public var textSha256: String
        public var payload: String
        public var signature: String
        /// The device's Ed25519 public key (base64) the signature verifies with.
        public var publicKey: String
        /// Checked by the server when the report was made; `kontorctl terms report` checks it again itself.
        public var signatureValid: Bool

        public init(
            id: String, version: String, decision: TermsDecision, person: PersonRef?, deviceId: String, hostname: String?, login: String, answeredAt: Date,
            receivedAt: Date, textSha256: String, payload: String, signature: String, publicKey: String
        ) {
            self.id = id
            self.version = version
            self.decision = decision
            self.person = person
            self.deviceId = deviceId
            self.hostname = hostname
            self.login = login
            self.answeredAt = answeredAt
            self.receivedAt = receivedAt
            self.textSha256 = textSha256
            self.payload = payload
            self.signature = signature
            self.publicKey = publicKey
            self.signatureValid = false
            self.signatureValid = verifies()
        }

        /// True when `signature` verifies `payload` with `publicKey` and the payload says what this row says.
        public func verifies() -> Bool {
            guard let key = DeviceKeys.publicKey(base64: publicKey),
                let statement = SignedTermsResponse(payload: payload, signature: signature).verified(by: key)
            else { return false }
            return statement.id == id && statement.version == version && statement.decision == decision && statement.deviceId == deviceId
                && statement.textSha256 == textSha256
        }
    }

    /// The version reported on; nil for every version.
    public var version: String?
    public var answers: [Answer]
    /// Persons taking part, with an active device, who have not answered `version` (empty without a version).
    public var pending: [PersonRef]
    /// Persons marked as not taking part.
    public var notTakingPart: [PersonRef]

    public init(version: String?, answers: [Answer], pending: [PersonRef], notTakingPart: [PersonRef]) {
        self.version = version
        self.answers = answers
        self.pending = pending
        self.notTakingPart = notTakingPart
    }

    public var acceptedCount: Int { answers.filter { $0.decision == .accepted }.count }
    public var declinedCount: Int { answers.filter { $0.decision == .declined }.count }

    /// The answers as CSV (RFC 4180), one row per answer, with what it takes to verify each: the Ed25519
    /// public key and signature in hex (base64 may start with `+`, which the spreadsheet guard would
    /// prefix) and the signed payload, verbatim.
    public func csv() -> String {
        let header = [
            "version", "decision", "person_email", "person_name", "device_id", "hostname", "login", "answered_at", "received_at", "text_sha256",
            "signature_valid", "public_key_hex", "signature_hex", "payload",
        ]
        let hex = { (base64: String) in Data(base64Encoded: base64).map { Bytes.hex($0) } ?? "" }
        return CSV.document(
            header: header,
            rows: answers.map { a in
                [
                    a.version, a.decision.rawValue, a.person?.email ?? "", a.person?.displayName ?? "", a.deviceId, a.hostname ?? "", a.login,
                    ISO8601.string(from: a.answeredAt), ISO8601.string(from: a.receivedAt), a.textSha256, a.signatureValid ? "yes" : "NO",
                    hex(a.publicKey), hex(a.signature), a.payload,
                ]
            })
    }
}

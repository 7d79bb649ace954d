#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The data-protection officer's pack (`kontorctl report dpo`): what Kontor processes and keeps, and what it
/// did in a period, from the live settings and records — one JSON document, rendered as HTML and PDF.
public struct DPOReport: Codable, Sendable, Equatable {
    /// One line of the record of processing (GDPR Art. 30): what is stored, why, and for how long.
    public struct Processing: Codable, Sendable, Equatable {
        public var data: String
        public var purpose: String
        public var kept: String

        public init(data: String, purpose: String, kept: String) {
            self.data = data
            self.purpose = purpose
            self.kept = kept
        }
    }

    /// Devices now, counted by status, compliance, ownership and whether a wipe can be a crypto-erase.
    public struct Devices: Codable, Sendable, Equatable {
        public var total: Int
        public var byStatus: [String: Int]
        public var byCompliance: [String: Int]
        public var byOwnership: [String: Int]
        public var cryptoErase: [String: Int]

        public init(total: Int, byStatus: [String: Int], byCompliance: [String: Int], byOwnership: [String: Int], cryptoErase: [String: Int]) {
            self.total = total
            self.byStatus = byStatus
            self.byCompliance = byCompliance
            self.byOwnership = byOwnership
            self.cryptoErase = cryptoErase
        }
    }

    /// A wipe receipt received in the period, as the audit log recorded it.
    public struct Wipe: Codable, Sendable, Equatable {
        public var at: Date
        public var deviceId: String
        public var receiptId: String
        public var trigger: String
        public var method: String
        /// SHA-256 of the signed receipt's payload.
        public var payloadDigest: String
        public var archive: String?

        public init(at: Date, deviceId: String, receiptId: String, trigger: String, method: String, payloadDigest: String, archive: String?) {
            self.at = at
            self.deviceId = deviceId
            self.receiptId = receiptId
            self.trigger = trigger
            self.method = method
            self.payloadDigest = payloadDigest
            self.archive = archive
        }
    }

    /// The answers to one version of the usage terms.
    public struct Terms: Codable, Sendable, Equatable {
        public var version: String
        public var publishedAt: Date
        public var accepted: Int
        public var declined: Int
        public var pending: Int
        public var notTakingPart: Int

        public init(version: String, publishedAt: Date, accepted: Int, declined: Int, pending: Int, notTakingPart: Int) {
            self.version = version
            self.publishedAt = publishedAt
            self.accepted = accepted
            self.declined = declined
            self.pending = pending
            self.notTakingPart = notTakingPart
        }
    }

    /// Quiet-hours overrides of one month (`2026-11`): how many, on how many devices, and per person
    /// (by pseudonym when the pack is for a works council).
    public struct Overrides: Codable, Sendable, Equatable {
        public var month: String
        public var count: Int
        public var devices: Int
        public var byPerson: [String: Int]

        public init(month: String, count: Int, devices: Int, byPerson: [String: Int]) {
            self.month = month
            self.count = count
            self.devices = devices
            self.byPerson = byPerson
        }
    }

    /// A retention or erasure step in the period, from the audit log.
    public struct Run: Codable, Sendable, Equatable {
        public var at: Date
        public var action: String
        public var detail: [String: String]

        public init(at: Date, action: String, detail: [String: String]) {
            self.at = at
            self.action = action
            self.detail = detail
        }
    }

    public var generatedAt: Date
    public var from: Date
    public var to: Date
    /// Whether persons are named by pseudonym (for a works council) instead of by email.
    public var pseudonymised: Bool
    public var processing: [Processing]
    public var devices: Devices
    public var wipes: [Wipe]
    public var terms: [Terms]
    public var quietOverrides: [Overrides]
    public var retention: [Run]
    /// Persons erased on request in the period.
    public var erasures: Int
    /// Whether the whole audit log verified when the pack was made, and its head, signed by the server.
    public var auditVerified: Bool
    public var auditHead: AuditCheckpoint?

    public init(
        generatedAt: Date, from: Date, to: Date, pseudonymised: Bool, processing: [Processing], devices: Devices, wipes: [Wipe], terms: [Terms],
        quietOverrides: [Overrides], retention: [Run], erasures: Int, auditVerified: Bool, auditHead: AuditCheckpoint?
    ) {
        self.generatedAt = generatedAt
        self.from = from
        self.to = to
        self.pseudonymised = pseudonymised
        self.processing = processing
        self.devices = devices
        self.wipes = wipes
        self.terms = terms
        self.quietOverrides = quietOverrides
        self.retention = retention
        self.erasures = erasures
        self.auditVerified = auditVerified
        self.auditHead = auditHead
    }
}

/// One word for a device's compliance as listings show it: `ok`, `outdated` (has not applied the current
/// policy), `violations`, `noncompliant` (fails a posture requirement), `unknown` (no report yet), or `-`
/// for a device that is not active.
public enum ComplianceWord {
    public static func of(_ d: Device) -> String {
        guard d.status == .active else { return "-" }
        guard d.appliedPolicyHash != nil else { return "unknown" }
        if let failures = d.postureFailures, !failures.isEmpty { return "noncompliant" }
        if let expected = d.effectivePolicyHash, expected != d.appliedPolicyHash { return "outdated" }
        if let v = d.compliance?.violations, !v.isEmpty { return "violations" }
        return "ok"
    }
}

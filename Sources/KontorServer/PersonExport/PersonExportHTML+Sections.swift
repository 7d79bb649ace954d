import Foundation
import KontorCore

/// The sections of the export page after the devices' own data.
extension PersonExportHTML {
    /// Every command sent to one of the devices.
    static func commands(_ e: PersonExport) -> [String: Any] {
        let rows = e.devices.flatMap { d in
            d.commands.map { c in
                [d.device.facts.hostname, c.id, c.type.rawValue, c.state.rawValue, c.reason ?? "", time(c.issuedAt), c.issuedBy ?? "", time(c.completedAt)]
            }
        }
        return section(
            "commands", "Commands",
            tables: [Table(headers: ["Device", "ID", "Type", "State", "Reason", "Issued", "By", "Completed"], rows: rows)])
    }

    /// The wipe receipts with their signature check and the payload as signed.
    static func receipts(_ e: PersonExport) -> [String: Any] {
        let rows = e.devices.flatMap { d in
            d.wipeReceipts.map { r in
                [d.device.facts.hostname, r.id, r.trigger, time(r.receivedAt), r.signatureValid ? "valid" : "INVALID", r.receipt?.method ?? ""]
            }
        }
        let blocks = e.devices.flatMap { d in d.wipeReceipts.map { ("Receipt \($0.id) as signed", $0.payload) } }
        return section(
            "receipts", "Wipe receipts", note: "Signed by the device; the signature is checked with the device's key.",
            tables: [Table(headers: ["Device", "Receipt", "Trigger", "Received", "Signature", "Method"], rows: rows)], blocks: blocks)
    }

    /// The archive records (never their content).
    static func archives(_ e: PersonExport) -> [String: Any] {
        let rows = e.devices.flatMap { d in
            d.archives.map { a in
                [d.device.facts.hostname, a.id, a.state.rawValue, String(a.size), String(a.files), a.sha256, time(a.retainUntil), a.legalHold ? "yes" : "no"]
            }
        }
        return section(
            "archives", "Archives of retained work data", note: "Records only: the archives' content is encrypted work data and not part of this export.",
            tables: [Table(headers: ["Device", "Archive", "State", "Bytes", "Files", "SHA-256", "Kept until", "Legal hold"], rows: rows)])
    }

    /// Enrollment tokens, consent records and answers to the usage terms.
    static func consent(_ e: PersonExport) -> [String: Any] {
        let tokens = e.enrollmentTokens.map {
            [$0.id, $0.ownership.rawValue, String($0.uses) + " of " + String($0.maxUses), time($0.createdAt), time($0.expiresAt), time($0.revokedAt)]
        }
        let consents = e.consentRecords.map { [$0.deviceId, $0.termsVersion, time($0.acceptedAt)] }
        let answers = e.termsResponses.map {
            [$0.version, $0.deviceId, $0.decision.rawValue, time($0.answeredAt), time($0.receivedAt), $0.signatureValid ? "valid" : "INVALID"]
        }
        return section(
            "consent", "Enrollment, consent and usage terms",
            tables: [
                Table(caption: "Enrollment tokens made for the person", headers: ["ID", "Ownership", "Used", "Created", "Expires", "Revoked"], rows: tokens),
                Table(caption: "Consent recorded at enrollment", headers: ["Device", "Terms version", "Accepted"], rows: consents),
                Table(caption: "Answers to the usage terms", headers: ["Version", "Device", "Decision", "Answered", "Received", "Signature"], rows: answers),
            ])
    }

    /// The offboarding, if there is one.
    static func offboarding(_ e: PersonExport) -> [String: Any] {
        let rows = e.offboarding.map { o in
            [[time(o.requestedAt), o.requestedBy ?? "", time(o.wipeAt), o.reason ?? "", time(o.wipesIssuedAt), time(o.completedAt)]]
        }
        return section(
            "offboarding", "Offboarding",
            tables: [Table(headers: ["Requested", "By", "Wipe on", "Reason", "Wipes sent", "Completed"], rows: rows ?? [])])
    }

    /// The audit entries that name the person.
    static func audit(_ e: PersonExport) -> [String: Any] {
        let rows = e.auditEntries.map { a in
            [
                String(a.seq), time(a.at), a.actor, a.action, a.target ?? "",
                (a.detail ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; "),
            ]
        }
        return section(
            "audit", "Audit log entries that name the person",
            note: "Entries whose target, actor or a detail value is the person's ID or email, a device of theirs or one of their records.",
            tables: [Table(headers: ["Seq", "At", "Actor", "Action", "Target", "Detail"], rows: rows)])
    }

    /// How many rows of each table the export holds.
    static func tables(_ e: PersonExport) -> [String: Any] {
        section(
            "tables", "Where it is kept", note: "Rows of each store table in this export.",
            tables: [Table(headers: ["Table", "Rows"], rows: e.tables.keys.sorted().map { [$0, String(e.tables[$0] ?? 0)] })])
    }
}

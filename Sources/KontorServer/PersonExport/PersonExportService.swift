import Foundation
import KontorCore
import KontorStore

/// Gathers everything Kontor holds about one person (GDPR Art. 15) through the store's protocols, table by
/// table, and audits that it was done. Read-only apart from the audit entry.
struct PersonExportService: Sendable {
    typealias Store = PersonStore & DeviceStore & CheckinStore & CommandStore & ReceiptStore & ArchiveStore & EnrollmentStore
        & ConsentRecordStore & TermsStore & OffboardingStore & AuditStore & SCIMStore & PolicyStore
    let store: any Store
    let clock: WallClock
    let directory: DirectoryService
    let policies: PolicyService
    let audit: AuditService

    /// The tables the export reads, each with what it holds about the person. Every table of the schema with
    /// a person or device column is here or in the test's allowlist of tables that hold no personal data.
    static let tables = [
        "persons", "scim_users", "devices", "device_events", "commands", "wipe_receipts", "archives", "profile_assignments", "enrollment_tokens",
        "consent_records", "terms_responses", "offboardings", "audit_log",
    ]

    /// Audit entries are read in pages of this many (the log is read once, from the start).
    static let auditPage = 2_000

    /// The export of the person `reference` (an ID or an email), audited as `person.exported` by `actor`.
    func export(_ reference: String, actor: String) async throws -> PersonExport {
        let detail = try await directory.personDetail(try await directory.person(reference).id)
        let person = detail.person
        let devices = try await exportedDevices(detail.devices)
        let deviceIds = Set(devices.map(\.device.id))
        let tokens = try await store.enrollmentTokens().filter { $0.personId == person.id }
        var export = PersonExport(
            generatedAt: clock.now(), person: person, rehire: .init(previousIds: detail.previousIds ?? [], returnedAs: detail.returnedAs),
            scimUsers: try await store.scimUsers().filter { $0.personId == person.id }.map(PersonExport.SCIMUser.init),
            devices: devices, enrollmentTokens: tokens, consentRecords: try await store.consentRecords(personId: person.id),
            termsResponses: try await termsAnswers(personId: person.id, devices: devices.map(\.device)),
            offboarding: detail.offboarding, auditEntries: [], tables: [:])
        var names: Set<String> = [person.id, person.email.lowercased()]
        names.formUnion(deviceIds)
        names.formUnion(tokens.map(\.id))
        for d in devices {
            names.formUnion(d.commands.map(\.id))
            names.formUnion(d.wipeReceipts.map(\.id))
            names.formUnion(d.archives.map(\.id))
        }
        export.auditEntries = try await auditEntries(naming: names)
        export.tables = Self.counts(export)
        try await audit.record(
            actor, "person.exported", target: person.email,
            detail: ["id": person.id, "devices": String(devices.count), "auditEntries": String(export.auditEntries.count)])
        return export
    }

    /// Each device with its policy, assignments, events, commands, receipts and archive records.
    private func exportedDevices(_ devices: [Device]) async throws -> [PersonExport.ExportedDevice] {
        let assignments = try await policies.assignments().filter { $0.scope == "device" }
        var out: [PersonExport.ExportedDevice] = []
        for device in devices {
            let policy = device.status == .active ? try await policies.effectivePolicy(for: device) : nil
            let key = DeviceKeys.publicKey(base64: device.publicKey)
            let receipts = try await store.receipts(deviceId: device.id).map { stored in
                let verified = key.flatMap { stored.signed.verified(by: $0) }
                return PersonExport.Receipt(
                    id: stored.id, commandId: stored.commandId, trigger: stored.trigger, receivedAt: stored.receivedAt, payload: stored.signed.payload,
                    signature: stored.signed.signature, signatureValid: verified != nil, receipt: verified)
            }
            out.append(
                PersonExport.ExportedDevice(
                    device: device, effectivePolicy: policy, profileAssignments: assignments.filter { $0.target == device.id },
                    events: try await store.events(deviceId: device.id, limit: Int.max).reversed(), commands: try await store.commands(deviceId: device.id),
                    wipeReceipts: receipts, archives: try await store.archives(deviceId: device.id)))
        }
        return out
    }

    /// The answers to the usage terms that name the person or come from one of their devices, each checked
    /// against the key of the device that signed it.
    private func termsAnswers(personId: String, devices: [Device]) async throws -> [PersonExport.TermsAnswer] {
        let keys = Dictionary(devices.map { ($0.id, $0.publicKey) }, uniquingKeysWith: { first, _ in first })
        var out: [PersonExport.TermsAnswer] = []
        for r in try await store.termsResponses(version: nil) where r.personId == personId || keys[r.deviceId] != nil {
            var publicKey = keys[r.deviceId]
            if publicKey == nil { publicKey = try await store.device(id: r.deviceId)?.publicKey }
            let valid = publicKey.flatMap { DeviceKeys.publicKey(base64: $0) }.flatMap { r.signed.verified(by: $0) } != nil
            out.append(
                PersonExport.TermsAnswer(
                    id: r.id, version: r.version, deviceId: r.deviceId, personId: r.personId, decision: r.decision, answeredAt: r.answeredAt,
                    receivedAt: r.receivedAt, payload: r.signed.payload, signature: r.signed.signature, signatureValid: valid))
        }
        return out
    }

    /// The audit entries whose target, actor (`device:ID`) or a detail value is one of `names` (compared
    /// without case), oldest first. The log is read from the start in pages: the detail values are not indexed.
    private func auditEntries(naming names: Set<String>) async throws -> [AuditEntry] {
        func named(_ value: String?) -> Bool { value.map { names.contains($0.lowercased()) } ?? false }
        var out: [AuditEntry] = []
        var seq = 0
        while true {
            let page = try await store.auditEntries(afterSeq: seq, limit: Self.auditPage)
            for entry in page
            where named(entry.target) || (entry.actor.hasPrefix("device:") && named(String(entry.actor.dropFirst(7))))
                || (entry.detail ?? [:]).values.contains(where: { named($0) })
            {
                out.append(entry)
            }
            guard let last = page.last, page.count == Self.auditPage else { break }
            seq = last.seq
        }
        return out
    }

    /// How many rows of each table the export holds.
    static func counts(_ export: PersonExport) -> [String: Int] {
        let devices = export.devices
        return [
            "persons": 1, "scim_users": export.scimUsers.count, "devices": devices.count, "device_events": devices.map(\.events.count).reduce(0, +),
            "commands": devices.map(\.commands.count).reduce(0, +), "wipe_receipts": devices.map(\.wipeReceipts.count).reduce(0, +),
            "archives": devices.map(\.archives.count).reduce(0, +), "profile_assignments": devices.map(\.profileAssignments.count).reduce(0, +),
            "enrollment_tokens": export.enrollmentTokens.count, "consent_records": export.consentRecords.count,
            "terms_responses": export.termsResponses.count, "offboardings": export.offboarding == nil ? 0 : 1, "audit_log": export.auditEntries.count,
        ]
    }
}

import Foundation
import KontorCore
import KontorStore

/// Builds the data-protection officer's pack from the live records: the record of processing from the
/// settings in force, devices now, and from the audit log what happened in the period (wipes, quiet-hours
/// overrides, retention and erasure), the usage terms' answers, and the audit log's head signed now.
struct DPOReportService: Sendable {
    let services: Services

    /// The pack for `from`…`to`; with `pseudonymise`, persons are named by their keyed pseudonym.
    func report(from: Date, to: Date, pseudonymise: Bool, by principal: Principal) async throws -> DPOReport {
        guard from < to else { throw KontorError.invalid("from: must be before to") }
        let devices = try await services.directory.devices(person: nil)
        let entries = try await services.store.auditEntries(since: from, target: nil).filter { $0.at < to }
        let verified = try await services.audit.verify()
        // The head is signed only over a log that verifies; the pack says so either way.
        let head = verified.ok ? try? await services.signAuditCheckpoint(by: principal).checkpoint : nil
        return DPOReport(
            generatedAt: services.clock.now(), from: from, to: to, pseudonymised: pseudonymise, processing: try await processing(),
            devices: Self.counts(devices), wipes: Self.wipes(entries), terms: try await terms(),
            quietOverrides: try await overrides(entries, devices: devices, pseudonymise: pseudonymise),
            retention: entries.filter { Self.retentionActions.contains($0.action) }.map {
                DPOReport.Run(at: $0.at, action: $0.action, detail: $0.detail ?? [:])
            },
            erasures: entries.filter { $0.action == "person.erased" }.count, auditVerified: verified.ok, auditHead: head)
    }

    static let retentionActions: Set<String> = ["retention.run", "archive.purged", "person.erased", "person.pseudonymised"]

    static func counts(_ devices: [Device]) -> DPOReport.Devices {
        func count(_ key: (Device) -> String?) -> [String: Int] {
            devices.reduce(into: [:]) { counts, d in if let k = key(d) { counts[k, default: 0] += 1 } }
        }
        let active = devices.filter { $0.status == .active }
        return DPOReport.Devices(
            total: devices.count, byStatus: count { $0.status.rawValue }, byCompliance: count { $0.status == .active ? ComplianceWord.of($0) : nil },
            byOwnership: count { $0.ownership.rawValue },
            cryptoErase: active.reduce(into: [:]) { counts, d in counts[d.compliance?.cryptoErase ?? "not reported", default: 0] += 1 })
    }

    static func wipes(_ entries: [AuditEntry]) -> [DPOReport.Wipe] {
        entries.filter { $0.action == "device.wipe-receipt" }.map { e in
            let d = e.detail ?? [:]
            let archive = d["archive"].flatMap { $0.isEmpty ? nil : String($0.prefix(while: { $0 != " " })) }
            return DPOReport.Wipe(
                at: e.at, deviceId: e.target ?? "", receiptId: d["receipt"] ?? "", trigger: d["trigger"] ?? "", method: d["method"] ?? "",
                payloadDigest: d["payloadDigest"] ?? "", archive: archive)
        }
    }

    func terms() async throws -> [DPOReport.Terms] {
        var out: [DPOReport.Terms] = []
        for version in try await services.store.allTerms() {
            let report = try await services.terms.report(version: version.version)
            out.append(
                DPOReport.Terms(
                    version: version.version, publishedAt: version.publishedAt, accepted: report.acceptedCount, declined: report.declinedCount,
                    pending: report.pending.count, notTakingPart: report.notTakingPart.count))
        }
        return out
    }

    /// Quiet-hours overrides by month (UTC), with how many per person.
    func overrides(_ entries: [AuditEntry], devices: [Device], pseudonymise: Bool) async throws -> [DPOReport.Overrides] {
        let owners = Dictionary(devices.map { ($0.id, $0.personId) }, uniquingKeysWith: { a, _ in a })
        var months: [String: (count: Int, devices: Set<String>, persons: [String: Int])] = [:]
        // Each person is named once, however many overrides they have.
        var names: [String: String] = [:]
        for e in entries where e.action == "device.quiet-override" {
            let month = String(ISO8601.string(from: e.at).prefix(7))
            let device = e.target ?? ""
            var person = "unknown device"
            if let id = owners[device] ?? nil {
                if names[id] == nil {
                    names[id] = pseudonymise ? try await services.erasure.pseudonym(for: id) : (try await services.store.person(id: id)?.email ?? id)
                }
                person = names[id] ?? id
            }
            months[month, default: (0, [], [:])].count += 1
            months[month]?.devices.insert(device)
            months[month]?.persons[person, default: 0] += 1
        }
        return months.keys.sorted().map { m in
            DPOReport.Overrides(month: m, count: months[m]!.count, devices: months[m]!.devices.count, byPerson: months[m]!.persons)
        }
    }

    /// The record of processing, with the retention the settings in force give each kind of data.
    func processing() async throws -> [DPOReport.Processing] {
        let limits = try await RetentionSettings.load(from: services.store)
        let off = limits.enabled == false ? " (the hourly retention run is switched off: retention.enabled)" : ""
        let events = "\(limits.eventsDays ?? 0) days, then deleted\(off)"
        let persons = "pseudonymised \(limits.pseudonymiseAfterMonths ?? 0) months after offboarding\(off), or at once on an erasure request"
        return [
            .init(data: "Staff directory: email, name, work phone, groups", purpose: "whom devices and policies belong to; offboarding", kept: persons),
            .init(
                data: "Devices: hostname, OS, kernel, machine-ID hash, agent version, security posture (company devices)",
                purpose: "enrollment, policy, compliance", kept: "while enrolled; pseudonymised with the person"),
            .init(data: "Device events (quiet hours, locks, app-allowlist findings)", purpose: "compliance and support", kept: events),
            .init(
                data: "Check-in and compliance reports", purpose: "showing whether each device enforces its policy",
                kept: "the latest per device, replaced at each check-in"),
            .init(data: "Wipe receipts, signed by the device", purpose: "proof that work data was erased", kept: "as signed, with the device record"),
            .init(data: "Answers to the usage terms, signed by the device", purpose: "record of consent", kept: "as signed"),
            .init(
                data: "Audit log (who did what, when)", purpose: "accountability (GDPR Art. 5(2))",
                kept: "entries kept; values naming a person erased with the person"),
            .init(
                data: "Archives of retained work data (encrypted to the organisation; unreadable by Kontor)",
                purpose: "commercial and tax retention duties", kept: "the profile's retention.retainDays, then purged (unless on legal hold)"),
            .init(data: "Console sessions, enrollment tokens", purpose: "sign-in and enrollment", kept: "until they expire"),
        ]
    }
}

import Foundation
import Hummingbird
import KontorCore

/// `GET /api/v1/reports/dpo` (JSON) and `/reports/dpo.html` (the same, for people; the PDF is printed from
/// it): the data-protection officer's pack for a period. Auditor role or above; each one is audited.
struct ReportsController {
    let services: Services

    func register(on api: AdminRoutes, table: RouteTable) {
        api.on(.get, AdminAPI.prefix, "reports/dpo", table: table, use: json)
            .on(.get, AdminAPI.prefix, "reports/dpo.html", table: table, use: html)
    }

    @Sendable func json(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try context.require(.auditor)
        let report = try await Self.make(request, services: services, principal: context.principal)
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: try KontorJSON.encode(report))))
    }

    @Sendable func html(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try context.require(.auditor)
        return try await Self.page(request, services: services, principal: context.principal)
    }

    /// The report as an HTML page (also the console's `/console/reports/dpo`).
    static func page(_ request: Request, services: Services, principal: Principal) async throws -> Response {
        let report = try await make(request, services: services, principal: principal)
        let page = ConsoleRenderer.shared.render("dpo-report", DPOReportPage.context(report))
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    /// `from` and `to` are days (`2026-01-01`, both included) or instants; the default is the last 365 days.
    static func make(_ request: Request, services: Services, principal: Principal) async throws -> DPOReport {
        let now = services.clock.now()
        // The default end includes everything written up to this second.
        let to = try Self.day(try request.queryParameter("to"), name: "to", end: true) ?? now.addingTimeInterval(1)
        let from = try Self.day(try request.queryParameter("from"), name: "from", end: false) ?? to.addingTimeInterval(-365 * 86_400)
        let pseudonymise = try request.queryParameter("pseudonymise").map { value in
            guard let flag = Bool(value) else { throw KontorError.invalid("pseudonymise: expected true or false, found \"\(value.prefix(32))\"") }
            return flag
        }
        let report = try await DPOReportService(services: services).report(from: from, to: to, pseudonymise: pseudonymise ?? false, by: principal)
        try await services.audit.record(
            AuditService.actor(principal), "report.dpo", target: nil,
            detail: ["from": ISO8601.string(from: from), "to": ISO8601.string(from: to), "pseudonymised": String(report.pseudonymised)])
        return report
    }

    static func day(_ text: String?, name: String, end: Bool) throws -> Date? {
        // An empty value (a console form's untouched date field) means the default.
        guard let text, !text.isEmpty else { return nil }
        if let instant = ISO8601.date(from: text) { return instant }
        guard let day = LocalDate(text), let start = ISO8601.date(from: "\(day)T00:00:00Z") else {
            throw KontorError.invalid("\(name): expected a day (2026-01-31) or an instant (2026-01-31T12:00:00Z), found \"\(text.prefix(40))\"")
        }
        return end ? start.addingTimeInterval(86_400) : start
    }
}

/// The report as the HTML page's values.
enum DPOReportPage {
    static func context(_ r: DPOReport) -> [String: Any] {
        let day = { (d: Date) in String(ISO8601.string(from: d).prefix(10)) }
        let time = { (d: Date) in ISO8601.string(from: d).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "") }
        var deviceRows: [[String: Any]] = []
        for (by, counts) in [
            ("status", r.devices.byStatus), ("compliance (active)", r.devices.byCompliance), ("ownership", r.devices.byOwnership),
            ("crypto-erase (active)", r.devices.cryptoErase),
        ] {
            for (value, count) in counts.sorted(by: { $0.key < $1.key }) { deviceRows.append(["by": by, "value": value, "count": count]) }
        }
        var context: [String: Any] = [
            "fromText": day(r.from), "toText": day(r.to.addingTimeInterval(-1)), "generatedText": time(r.generatedAt), "pseudonymised": r.pseudonymised,
            "processing": r.processing.map { ["data": $0.data, "purpose": $0.purpose, "kept": $0.kept] },
            "devicesTotal": r.devices.total, "deviceRows": deviceRows, "wipesTotal": r.wipes.count,
            "wipes": r.wipes.map {
                [
                    "at": time($0.at), "deviceId": $0.deviceId, "receiptId": $0.receiptId, "trigger": $0.trigger, "method": $0.method,
                    "payloadDigest": $0.payloadDigest, "archive": $0.archive ?? "",
                ]
            },
            "terms": r.terms.map {
                [
                    "version": $0.version, "published": day($0.publishedAt), "accepted": $0.accepted, "declined": $0.declined, "pending": $0.pending,
                    "notTakingPart": $0.notTakingPart,
                ] as [String: Any]
            },
            "overrides": r.quietOverrides.map {
                [
                    "month": $0.month, "count": $0.count, "devices": $0.devices,
                    "persons": $0.byPerson.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "),
                ] as [String: Any]
            },
            "retention": r.retention.map {
                ["at": time($0.at), "action": $0.action, "detail": $0.detail.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")]
            },
            "erasures": r.erasures, "auditVerified": r.auditVerified,
        ]
        if let h = r.auditHead {
            context["head"] = ["seq": h.seq, "head": h.head, "at": time(h.at), "keyId": h.keyId, "signature": h.signature] as [String: Any]
        }
        return context
    }
}

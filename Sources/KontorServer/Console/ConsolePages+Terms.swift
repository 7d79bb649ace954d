import Foundation
import Hummingbird
import KontorCore

extension ConsolePages {
    // MARK: Usage terms

    /// The published versions and, for one of them (`?version=`, default the latest), who accepted or
    /// declined it, with each signature checked, who has not answered and who does not take part.
    func terms(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let format = self.format
        let all = try await services.terms.list()
        let wanted = try request.queryParameter("version") ?? all.last?.version
        var versions: [[String: Any]] = []
        for t in all.reversed() {
            var row: [String: Any] = ["version": t.version, "sha256": t.sha256, "published": format.time(t.publishedAt), "deadline": format.time(t.deadline)]
            row["undertaking"] = t.undertaking != nil
            row["by"] = t.publishedBy ?? ""
            row["selected"] = t.version == wanted
            versions.append(row)
        }
        var values: [String: Any] = ["versions": versions]
        if let wanted {
            values["report"] = Self.termsReportValues(try await services.terms.report(version: wanted), version: wanted, format: format)
        }
        return console.render("terms", title: "Usage terms", nav: "terms", session: session, request: request, values)
    }

    private static func termsReportValues(_ report: TermsReport, version: String, format: ConsoleFormat) -> [String: Any] {
        let people = { (refs: [TermsReport.PersonRef]) -> [[String: Any]] in refs.map { ["id": $0.id, "email": $0.email, "name": $0.displayName] } }
        var answers: [[String: Any]] = []
        for a in report.answers.reversed() {
            var row: [String: Any] = ["decision": a.decision.rawValue, "person": a.person?.email ?? "—", "personId": a.person?.id ?? ""]
            row["device"] = a.hostname ?? a.deviceId
            row["deviceId"] = a.deviceId
            row["login"] = a.login
            row["answered"] = format.time(a.answeredAt)
            row["valid"] = a.signatureValid
            answers.append(row)
        }
        var values: [String: Any] = ["version": version, "accepted": report.acceptedCount, "declined": report.declinedCount]
        values["pendingCount"] = report.pending.count
        values["notTakingPartCount"] = report.notTakingPart.count
        values["pending"] = people(report.pending)
        values["notTakingPart"] = people(report.notTakingPart)
        values["answers"] = answers
        return values
    }
}

import Foundation
import Hummingbird
import KontorCore

extension ConsolePages {
    // MARK: Settings

    /// The retention settings (anyone signed in reads them; an admin changes them) and what the last run deleted.
    func registerSettings(on group: RouterGroup<KontorRequestContext>) {
        let prefix = ConsoleController.prefix
        console.page(group, "settings") { request, _, session in try await settings(request, session) }
        console.form(group, "settings/retention", role: .admin, back: { _, _ in "\(prefix)/settings" }) { form, _, session in
            let changes = try Self.retentionChanges(form)
            _ = try await services.changeSettings(Settings(retention: changes), by: session.principal)
            return console.redirect("\(prefix)/settings", flash: Flash(kind: .ok, text: "The retention settings are saved."))
        }
        console.form(group, "settings/approvals", role: .admin, back: { _, _ in "\(prefix)/settings" }) { form, _, session in
            _ = try await services.changeSettings(Settings(approvals: try Self.approvalChanges(form)), by: session.principal)
            return console.redirect("\(prefix)/settings", flash: Flash(kind: .ok, text: "The approval settings are saved."))
        }
        console.form(group, "settings/retention/run", role: .admin, back: { _, _ in "\(prefix)/settings" }) { _, _, session in
            let run = try await services.retention.run(requestedBy: AuditService.actor(session.principal))
            let text =
                "Retention ran: \(run.events) events, \(run.enrollmentTokens) enrollment tokens, \(run.consoleSessions) console sessions and \(run.nonces) nonces deleted; \(run.pseudonymisationDue.count) persons due for pseudonymisation."
            return console.redirect("\(prefix)/settings", flash: Flash(kind: .ok, text: text))
        }
    }

    func settings(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let current = try await services.retention.settings()
        let last = try await services.audit.entries(matching: .init(actionPrefix: "retention.run"), limit: 1, offset: 0).entries.first
        var values: [String: Any] = [
            "eventsDays": current.eventsDays ?? 0, "checkinReportsDays": current.checkinReportsDays ?? 0,
            "pseudonymiseAfterMonths": current.pseudonymiseAfterMonths ?? 0, "enabled": current.enabled ?? true,
        ]
        values["approvals"] = try await approvalSettingsRows()
        values["approvalExpiryHours"] = try await services.approvals.settings().expiryHours ?? ApprovalSettings.defaultExpiryHours
        if let last {
            values["lastRun"] = [
                "at": format.time(last.at), "detail": (last.detail ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
            ]
        }
        return console.render("settings", title: "Settings", nav: "settings", session: session, request: request, values)
    }

    /// The form's fields as a change; a field that is not a whole number is refused naming it.
    static func retentionChanges(_ form: ConsoleFormRequest) throws -> RetentionSettings {
        func number(_ name: String) throws -> Int? {
            guard let text = form.text(name) else { return nil }
            guard let value = Int(text) else { throw KontorError.invalid("retention.\(name): expected a whole number, found \"\(text)\"") }
            return value
        }
        return RetentionSettings(
            eventsDays: try number("eventsDays"), checkinReportsDays: try number("checkinReportsDays"),
            pseudonymiseAfterMonths: try number("pseudonymiseAfterMonths"), enabled: form["enabled"] == "true")
    }

    /// The approval form's fields as a change: each kind checked (2) or not (0), and the expiry in hours.
    static func approvalChanges(_ form: ConsoleFormRequest) throws -> ApprovalSettings {
        var changes = ApprovalSettings()
        for kind in ApprovalKind.allCases { changes[keyPath: ApprovalSettings.path(kind)] = form[kind.rawValue] == "2" ? 2 : 0 }
        if let text = form.text("expiryHours") {
            guard let hours = Int(text) else { throw KontorError.invalid("approvals.expiryHours: expected a whole number, found \"\(text)\"") }
            changes.expiryHours = hours
        }
        return changes
    }
}

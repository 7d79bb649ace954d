import Foundation
import Hummingbird
import KontorCore

extension ConsolePages {
    /// A pasted staff list: first a preview of every change (a dry run), then, confirmed, the import.
    func importPersons(_ form: ConsoleFormRequest, _ session: ConsoleSession) async throws -> Response {
        let csv = form["csv"] ?? ""
        let confirmed = form["confirm"] != nil
        let plan: PersonImportPlan
        do {
            plan = try await services.importPersons(.init(csv: csv, dryRun: !confirmed), by: session.principal)
        } catch let error as KontorError where error.kind == .invalid {
            throw APIError.invalid("Nothing was imported: \(error.message)")
        }
        if confirmed {
            return console.redirect(
                "\(ConsoleController.prefix)/persons",
                flash: Flash(kind: .ok, text: "Imported: \(plan.added.count) added, \(plan.updated.count) changed, \(plan.unchanged) unchanged."))
        }
        var values: [String: Any] = [
            "addedCount": plan.added.count, "updatedCount": plan.updated.count, "unchanged": plan.unchanged, "missingCount": plan.missing.count,
            "devicesCount": plan.devicesAffected.count, "missing": plan.missing, "offboarded": plan.offboarded, "csv": csv,
            "changes": !plan.added.isEmpty || !plan.updated.isEmpty,
        ]
        values["added"] = plan.added.map { ["email": $0.email, "displayName": $0.displayName, "groups": $0.groups.joined(separator: ", ")] }
        values["updated"] = plan.updated.map { ["email": $0.email, "fields": $0.fields.joined(separator: ", ")] }
        return console.render("person-import", title: "Import preview", nav: "persons", session: session, request: form.request, values)
    }
}

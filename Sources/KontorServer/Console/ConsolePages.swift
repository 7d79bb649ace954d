import Foundation
import Hummingbird
import KontorCore
import KontorStore

/// The console's pages and forms. Each handler reads through the same services as the API and hands
/// a plain dictionary to its template; each form is one service action (see Actions.swift).
struct ConsolePages {
    let console: ConsoleController
    var services: Services { console.services }

    static let pageSize = 50

    func register(on group: RouterGroup<KontorRequestContext>) {
        let prefix = ConsoleController.prefix
        console.page(group, "") { request, _, session in try await dashboard(request, session) }
        console.page(group, "devices") { request, _, session in try await devices(request, session) }
        console.page(group, "devices/{id}") { request, context, session in try await device(request, session, id: try context.parameters.require("id")) }
        console.form(group, "devices/{id}/wipe", role: .operator, back: { _, c in "\(prefix)/devices/\(c.parameters.get("id") ?? "")" }) {
            form, context, session in
            try await wipe(form, session, id: try context.parameters.require("id"))
        }
        console.form(group, "devices/{id}/commands/{command}/cancel", role: .operator, back: { _, c in "\(prefix)/devices/\(c.parameters.get("id") ?? "")" }) {
            form, context, session in
            let deviceId = try context.parameters.require("id")
            let command = try await services.commands.command(try context.parameters.require("command"))
            guard command.deviceId == deviceId else { throw APIError.notFound("device \(deviceId) has no command \(command.id)") }
            let reason = form.text("reason") ?? "cancelled in the console"
            let cancelled = try await services.cancelCommand(id: command.id, reason: reason, by: session.principal)
            return console.redirect(
                "\(prefix)/devices/\(deviceId)",
                flash: Flash(kind: .ok, text: "The \(cancelled.type.rawValue) command is cancelled; the device will not run it."))
        }
        registerPersons(on: group)
        console.page(group, "enroll-tokens") { request, _, session in try await enrollTokens(request, session) }
        console.form(group, "enroll-tokens", role: .operator, back: { _, _ in "\(prefix)/enroll-tokens" }) { form, context, session in
            try await createEnrollToken(form, context, session)
        }
        console.form(group, "enroll-tokens/{id}/revoke", role: .operator, back: { _, _ in "\(prefix)/enroll-tokens" }) { _, context, session in
            let token = try await services.revokeEnrollmentToken(id: try context.parameters.require("id"), by: session.principal)
            return console.redirect(
                "\(prefix)/enroll-tokens", flash: Flash(kind: .ok, text: "Enrollment token \(token.id) is revoked; it enrolls no more devices."))
        }
        console.page(group, "profiles") { request, _, session in try await profiles(request, session) }
        console.page(group, "profiles/{name}") { request, context, session in try await profile(request, session, name: try context.parameters.require("name"))
        }
        console.page(group, "quiet-hours") { request, _, session in try await quietHours(request, session) }
        console.page(group, "terms") { request, _, session in try await terms(request, session) }
        console.page(group, "audit") { request, _, session in try await audit(request, session) }
        // Any console user is an auditor or more: the data-protection report, printable.
        console.page(group, "reports/dpo") { request, _, session in
            try await ReportsController.page(request, services: services, principal: session.principal)
        }
        registerSettings(on: group)
        registerApprovals(on: group)
    }

    /// The directory's pages and forms: list, export, add, import, a person, edit, offboard.
    func registerPersons(on group: RouterGroup<KontorRequestContext>) {
        let prefix = ConsoleController.prefix
        console.page(group, "persons") { request, _, session in try await persons(request, session) }
        console.page(group, "persons/export.csv") { _, _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"kontor-persons.csv\""],
                body: .init(byteBuffer: ByteBuffer(string: try await services.personsCSV())))
        }
        console.form(group, "persons", role: .operator, back: { _, _ in "\(prefix)/persons" }) { form, _, session in
            let person = try await services.createPerson(
                .init(
                    email: form.text("email") ?? "", displayName: form.text("displayName") ?? "",
                    groups: (form.text("groups") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }),
                by: session.principal)
            return console.redirect("\(prefix)/persons/\(person.id)", flash: Flash(kind: .ok, text: "\(person.displayName) <\(person.email)> was added."))
        }
        console.page(group, "persons/{id}") { request, context, session in try await person(request, session, id: try context.parameters.require("id")) }
        console.form(group, "persons/import", role: .operator, back: { _, _ in "\(prefix)/persons" }) { form, _, session in
            try await importPersons(form, session)
        }
        console.form(group, "persons/{id}/edit", role: .operator, back: { _, c in "\(prefix)/persons/\(c.parameters.get("id") ?? "")" }) {
            form, context, session in
            try await editPerson(form, session, id: try context.parameters.require("id"))
        }
        console.form(group, "persons/{id}/offboard", role: .operator, back: { _, c in "\(prefix)/persons/\(c.parameters.get("id") ?? "")" }) {
            form, context, session in
            try await offboard(form, session, id: try context.parameters.require("id"))
        }
        // The access request (GDPR Art. 15): a POST with the CSRF token, because it is audited; answers the JSON file.
        console.form(group, "persons/{id}/export", role: .admin, back: { _, c in "\(prefix)/persons/\(c.parameters.get("id") ?? "")" }) {
            _, context, session in
            let export = try await services.personExport.export(try context.parameters.require("id"), actor: AuditService.actor(session.principal))
            return try PersonExportHTML.jsonResponse(export)
        }
        console.form(
            group, "persons/{id}/offboarding/cancel", role: .operator, back: { _, c in "\(prefix)/persons/\(c.parameters.get("id") ?? "")" }
        ) { _, context, session in
            let person = try await services.directory.person(try context.parameters.require("id"))
            _ = try await services.cancelOffboarding(person, by: session.principal)
            return console.redirect(
                "\(prefix)/persons/\(person.id)", flash: Flash(kind: .ok, text: "The offboarding of \(person.displayName) is cancelled: they are active again.")
            )
        }
    }

    var format: ConsoleFormat { ConsoleFormat(now: services.clock.now()) }

    // MARK: Dashboard

    func dashboard(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let offlineDays = (request.uri.queryParameters.get("offlineDays").flatMap { Int($0) }).map { min(max($0, 1), 365) } ?? 7
        let overview = try await services.fleet.overview(offlineDays: offlineDays)
        let counts = overview.counts
        let format = self.format
        var pendingWipes: [[String: Any]] = []
        for deviceId in try await services.commands.devicesWithOpenCommands().sorted() {
            var hostname: String?
            for command in try await services.commands.commands(deviceId: deviceId) where command.type == .wipe && !command.state.isFinal {
                if hostname == nil { hostname = try await services.directory.storedDevice(id: deviceId)?.facts.hostname ?? deviceId }
                pendingWipes.append([
                    "deviceId": deviceId, "hostname": hostname ?? deviceId, "state": command.state.rawValue,
                    "issued": format.time(command.issuedAt), "by": command.issuedBy ?? "",
                ])
            }
        }
        var offboardings: [[String: Any]] = []
        for o in try await services.directory.openOffboardings() {
            let person = try await services.directory.person(id: o.personId)
            offboardings.append([
                "personId": o.personId, "name": person?.displayName ?? o.personId, "email": person?.email ?? "",
                "wipeAt": format.time(o.wipeAt), "issued": o.wipesIssuedAt != nil,
            ])
        }
        let states = ["active", "wiped", "revoked", "replaced"].map { ["key": $0, "count": counts.states[$0] ?? 0] as [String: Any] }
        let compliance = ConsoleFormat.Compliance.allCases.map { c -> [String: Any] in
            ["key": c.rawValue, "label": c.label, "count": counts.compliance[c] ?? 0, "link": "\(ConsoleController.prefix)/devices?compliance=\(c.rawValue)"]
        }
        return console.render(
            "dashboard", title: "Dashboard", nav: "dashboard", session: session, request: request,
            [
                "total": counts.total, "activeCount": counts.active, "states": states, "compliance": compliance,
                "ownerships": Ownership.allCases.map { o -> [String: Any] in
                    ["key": o.rawValue, "count": counts.ownership[o] ?? 0, "link": "\(ConsoleController.prefix)/devices?ownership=\(o.rawValue)"]
                },
                "offlineDays": offlineDays, "offlineCount": overview.offlineTotal,
                "offline": overview.offline.map { deviceRow($0, format: format) }, "offlineMore": max(0, overview.offlineTotal - overview.offline.count),
                "pendingWipes": pendingWipes, "offboardings": offboardings, "noDevices": counts.total == 0,
                "approvalsWaiting": try await approvalsWaiting(),
            ])
    }
}

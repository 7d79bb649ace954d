import Foundation
import Hummingbird
import KontorCore

/// The staff directory: persons, their CSV export, and offboarding.
struct PersonsController {
    let services: Services
    var limit: Int { services.config.maxBodyBytes }

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.get, p, "persons", table: table, use: list)
            .on(.post, p, "persons", table: table, use: create)
            .on(.get, p, "persons/export", table: table, use: export)
            .on(.post, p, "persons/import", table: table, use: importCSV)
            .on(.get, p, "persons/{person}", table: table, use: show)
            .on(.get, p, "persons/{person}/export", table: table, use: exportData)
            .on(.get, p, "persons/{person}/export.html", table: table, use: exportHTML)
            .on(.patch, p, "persons/{person}", table: table, use: update)
            .on(.post, p, "persons/{person}/offboard", table: table, use: offboard)
            .on(.delete, p, "persons/{person}/offboarding", table: table, use: cancelOffboarding)
            .on(.post, p, "persons/{person}/rehire", table: table, use: rehire)
    }

    @Sendable func list(_ request: Request, context: AdminRequestContext) async throws -> [Person] {
        try await services.directory.persons()
    }

    @Sendable func create(_ request: Request, context: AdminRequestContext) async throws -> EditedResponse<Person> {
        try context.require(.operator)
        let input = try await request.decodeJSON(DirectoryService.NewPerson.self, limit: limit)
        return EditedResponse(status: .created, response: try await services.createPerson(input, by: context.principal))
    }

    /// A staff list as CSV inside JSON (`{"csv": "...", "dryRun": true}`): what it adds and changes, written unless a dry run.
    @Sendable func importCSV(_ request: Request, context: AdminRequestContext) async throws -> PersonImport.Plan {
        try context.require(.operator)
        let input = try await request.decodeJSON(PersonImport.Request.self, limit: max(limit, 4 * 1024 * 1024))
        let plan = try await services.importPersons(input, by: context.principal)
        if !plan.dryRun {
            context.logger.notice("persons imported", metadata: ["added": "\(plan.added.count)", "updated": "\(plan.updated.count)"])
        }
        return plan
    }

    @Sendable func export(_ request: Request, context: AdminRequestContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"kontor-persons.csv\""],
            body: .init(byteBuffer: ByteBuffer(string: try await services.personsCSV())))
    }

    /// Everything Kontor holds about the person, as one JSON document (GDPR Art. 15; docs/person-export.schema.json).
    @Sendable func exportData(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try context.require(.admin)
        let export = try await services.personExport.export(try context.parameters.require("person"), actor: AuditService.actor(context.principal))
        context.logger.notice("person exported", metadata: ["person.id": "\(export.person.id)"])
        return try PersonExportHTML.jsonResponse(export)
    }

    /// The same export as a page people read (one section per kind of data).
    @Sendable func exportHTML(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try context.require(.admin)
        let export = try await services.personExport.export(try context.parameters.require("person"), actor: AuditService.actor(context.principal))
        context.logger.notice("person exported", metadata: ["person.id": "\(export.person.id)", "format": "html"])
        return PersonExportHTML.response(export)
    }

    @Sendable func show(_ request: Request, context: AdminRequestContext) async throws -> PersonDetail {
        let person = try await services.directory.person(try context.parameters.require("person"))
        return try await services.directory.personDetail(person.id)
    }

    @Sendable func update(_ request: Request, context: AdminRequestContext) async throws -> Person {
        try context.require(.operator)
        let change = try await request.decodeJSON(DirectoryService.PersonChange.self, limit: limit)
        let person = try await services.updatePerson(try context.parameters.require("person"), change, by: context.principal)
        context.logger.notice("person updated", metadata: ["person.id": "\(person.id)"])
        return person
    }

    /// Someone who left comes back: a new person with a new ID, linked to the one who left.
    @Sendable func rehire(_ request: Request, context: AdminRequestContext) async throws -> EditedResponse<Person> {
        try context.require(.operator)
        let change = try await request.decodeJSON(DirectoryService.PersonChange.self, limit: limit)
        let person = try await services.rehirePerson(try context.parameters.require("person"), change, by: context.principal)
        context.logger.notice("person rehired", metadata: ["person.id": "\(person.id)", "person.previous": "\(person.previousId ?? "")"])
        return EditedResponse(status: .created, response: person)
    }

    /// A mistaken offboarding taken back while no wipe has gone out.
    @Sendable func cancelOffboarding(_ request: Request, context: AdminRequestContext) async throws -> PersonDetail {
        try context.require(.operator)
        let person = try await services.directory.person(try context.parameters.require("person"))
        _ = try await services.cancelOffboarding(person, by: context.principal)
        context.logger.notice("offboarding cancelled", metadata: ["person.id": "\(person.id)"])
        return try await services.directory.personDetail(person.id)
    }

    /// Starts an offboarding (202 with the person), or when the settings hold it back 202 with the request for approval.
    @Sendable func offboard(_ request: Request, context: AdminRequestContext) async throws -> GatedReply<PersonDetail> {
        try context.require(.operator)
        let input = try await request.decodeJSON(OffboardingService.Request.self, limit: limit)
        let person = try await services.directory.person(try context.parameters.require("person"))
        let gated = try await services.requestOffboarding(person, input, by: context.principal).map { offboarding in
            context.logger.notice("offboarding started", metadata: ["person.id": "\(person.id)", "wipeAt": "\(ISO8601.string(from: offboarding.wipeAt))"])
            return try await services.directory.personDetail(person.id)
        }
        return GatedReply(status: .accepted, gated: gated)
    }
}

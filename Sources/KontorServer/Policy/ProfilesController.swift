import Foundation
import Hummingbird
import KontorCore
import KontorStore

/// Profiles (applied as YAML, kept as revisions) and where they are assigned.
struct ProfilesController {
    let services: Services
    var limit: Int { services.config.maxBodyBytes }

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.get, p, "profiles", table: table, use: list)
            .on(.post, p, "profiles", table: table, use: apply)
            .on(.get, p, "profiles/{name}", table: table, use: show)
            .on(.get, p, "profiles/{name}/history", table: table, use: history)
            .on(.post, p, "profiles/{name}/rollback", table: table, use: rollback)
            .on(.get, p, "assignments", table: table, use: assignments)
            .on(.put, p, "assignments", table: table, use: assign)
            .on(.delete, p, "assignments", table: table, use: unassign)
    }

    @Sendable func list(_ request: Request, context: AdminRequestContext) async throws -> [PolicyService.Listed] {
        try await services.policies.listing()
    }

    @Sendable func apply(_ request: Request, context: AdminRequestContext) async throws -> EditedResponse<PolicyService.ApplyResult> {
        try context.require(.admin)
        struct Input: Decodable {
            var source: String
            var dryRun: Bool?
        }
        let input = try await request.decodeJSON(Input.self, limit: limit)
        let result = try await services.applyProfile(source: input.source, dryRun: input.dryRun ?? false, by: context.principal)
        if let revision = result.revision {
            context.logger.notice("profile applied", metadata: ["profile": "\(result.profile.name)", "revision": "\(revision)"])
        }
        return EditedResponse(status: result.dryRun ? .ok : .created, response: result)
    }

    @Sendable func show(_ request: Request, context: AdminRequestContext) async throws -> ProfileRevision {
        var wanted: Int?
        if let text = try request.queryParameter("revision") {
            guard let number = Int(text), number >= 1 else { throw APIError.invalid("revision: expected a revision number (1, 2, …), found \"\(text)\"") }
            wanted = number
        }
        return try await services.policies.revision(name: try context.parameters.require("name"), wanted)
    }

    struct HistoryEntry: Encodable {
        var revision: Int
        var createdAt: Date
        var createdBy: String?
    }

    @Sendable func history(_ request: Request, context: AdminRequestContext) async throws -> [HistoryEntry] {
        try await services.policies.revisions(name: try context.parameters.require("name")).map {
            HistoryEntry(revision: $0.revision, createdAt: $0.createdAt, createdBy: $0.createdBy)
        }
    }

    @Sendable func rollback(_ request: Request, context: AdminRequestContext) async throws -> EditedResponse<PolicyService.ApplyResult> {
        try context.require(.admin)
        struct Input: Decodable { var revision: Int }
        let input = try await request.decodeJSON(Input.self, limit: limit)
        let result = try await services.rollbackProfile(name: try context.parameters.require("name"), to: input.revision, by: context.principal)
        return EditedResponse(status: .created, response: result)
    }

    @Sendable func assignments(_ request: Request, context: AdminRequestContext) async throws -> [ProfileAssignment] {
        try await services.policies.assignments()
    }

    @Sendable func assign(_ request: Request, context: AdminRequestContext) async throws -> ProfileAssignment {
        try context.require(.admin)
        struct Input: Decodable {
            var profile: String
            var scope: String
            var target: String?
        }
        let input = try await request.decodeJSON(Input.self, limit: limit)
        return try await services.assignProfile(input.profile, scope: input.scope, target: input.target, by: context.principal)
    }

    @Sendable func unassign(_ request: Request, context: AdminRequestContext) async throws -> [String: String] {
        try context.require(.admin)
        let (scope, target) = (try request.queryParameter("scope") ?? "", try request.queryParameter("target"))
        try await services.unassignProfile(scope: scope, target: target, by: context.principal)
        return ["status": "unassigned"]
    }
}

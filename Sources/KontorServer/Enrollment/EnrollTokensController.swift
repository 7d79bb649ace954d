import Foundation
import Hummingbird
import KontorCore

/// Enrollment tokens: listed with their state, created (shown once), revoked.
struct EnrollTokensController {
    let services: Services
    var limit: Int { services.config.maxBodyBytes }

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.get, p, "enroll-tokens", table: table, use: list)
            .on(.post, p, "enroll-tokens", table: table, use: create)
            .on(.delete, p, "enroll-tokens/{id}", table: table, use: revoke)
    }

    @Sendable func list(_ request: Request, context: AdminRequestContext) async throws -> [EnrollmentService.ListedToken] {
        try await services.enrollment.tokens()
    }

    @Sendable func create(_ request: Request, context: AdminRequestContext) async throws -> EditedResponse<EnrollmentService.CreatedToken> {
        try context.require(.operator)
        let input = try await request.decodeJSON(EnrollmentService.CreateTokenRequest.self, limit: limit)
        let created = try await services.createEnrollmentToken(input, by: context.principal)
        context.logger.notice("enrollment token created", metadata: ["enrollToken.id": "\(created.enrollmentToken.id)"])
        return EditedResponse(status: .created, response: created)
    }

    @Sendable func revoke(_ request: Request, context: AdminRequestContext) async throws -> EnrollmentToken {
        try context.require(.operator)
        return try await services.revokeEnrollmentToken(id: try context.parameters.require("id"), by: context.principal)
    }
}

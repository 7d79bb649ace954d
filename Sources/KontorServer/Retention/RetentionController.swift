import Foundation
import Hummingbird
import KontorCore

/// `POST /api/v1/retention/run`: an admin runs retention now instead of waiting for the hour.
struct RetentionController {
    let services: Services

    func register(on api: AdminRoutes, table: RouteTable) {
        api.on(.post, AdminAPI.prefix, "retention/run", table: table, use: run)
    }

    /// Runs retention at the settings now (even when the background run is disabled) and returns what it deleted.
    @Sendable func run(_ request: Request, context: AdminRequestContext) async throws -> RetentionRun {
        try context.require(.admin)
        return try await services.retention.run(requestedBy: AuditService.actor(context.principal))
    }
}

extension RetentionRun: ResponseEncodable {}

import Foundation
import Hummingbird
import KontorCore

/// Run-time settings an admin may change (the default check-in interval).
struct SettingsController {
    let services: Services
    var limit: Int { services.config.maxBodyBytes }

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.get, p, "settings", table: table, use: show)
            .on(.patch, p, "settings", table: table, use: change)
    }

    @Sendable func show(_ request: Request, context: AdminRequestContext) async throws -> Settings {
        try await services.settings()
    }

    @Sendable func change(_ request: Request, context: AdminRequestContext) async throws -> Settings {
        try context.require(.admin)
        return try await services.changeSettings(try await request.decodeJSON(Settings.self, limit: limit), by: context.principal)
    }
}

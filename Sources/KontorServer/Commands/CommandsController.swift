import Foundation
import Hummingbird
import KontorCore

/// Commands to devices: issued (wipe, lock, unlock, sync), followed, cancelled.
struct CommandsController {
    let services: Services
    var limit: Int { services.config.maxBodyBytes }

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.post, p, "devices/{id}/commands", table: table, use: issue)
            .on(.get, p, "commands/{id}", table: table, use: show)
            .on(.post, p, "commands/{id}/cancel", table: table, use: cancel)
    }

    /// Queues a command; a wipe the settings hold back answers 202 with the request for approval.
    @Sendable func issue(_ request: Request, context: AdminRequestContext) async throws -> GatedReply<CommandRecord> {
        try context.require(.operator)
        struct Input: Decodable {
            var type: CommandType
            var reason: String?
            var expiresIn: Int?
        }
        let input = try await request.decodeJSON(Input.self, limit: limit)
        let gated = try await services.requestCommand(
            deviceId: try context.parameters.require("id"), type: input.type, reason: input.reason, expiresIn: input.expiresIn, by: context.principal)
        switch gated {
        case .done(let command):
            context.logger.notice(
                "command queued", metadata: ["device.id": "\(command.deviceId)", "command.id": "\(command.id)", "command.type": "\(command.type.rawValue)"])
        case .pending(let approval, _):
            context.logger.notice("command waits for approval", metadata: ["approval.id": "\(approval.id)", "device.id": "\(approval.target)"])
        }
        return GatedReply(status: .created, gated: gated)
    }

    @Sendable func show(_ request: Request, context: AdminRequestContext) async throws -> CommandRecord {
        try await services.commands.command(try context.parameters.require("id"))
    }

    @Sendable func cancel(_ request: Request, context: AdminRequestContext) async throws -> CommandRecord {
        try context.require(.operator)
        struct Input: Decodable { var reason: String? }
        let input = try await request.decodeJSON(Input.self, limit: limit)
        return try await services.cancelCommand(id: try context.parameters.require("id"), reason: input.reason, by: context.principal)
    }
}

import Foundation
import Hummingbird
import KontorCore
import KontorStore

/// Enrolled devices as admins see them: listing, details, effective policy, events, revocation, and
/// what was sent to them (commands, wipe receipts).
struct DevicesController {
    let services: Services
    var limit: Int { services.config.maxBodyBytes }

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.get, p, "devices", table: table, use: list)
            .on(.get, p, "devices/{id}", table: table, use: show)
            .on(.post, p, "devices/{id}/revoke", table: table, use: revoke)
            .on(.get, p, "devices/{id}/policy", table: table, use: policy)
            .on(.get, p, "devices/{id}/events", table: table, use: events)
            .on(.get, p, "devices/{id}/commands", table: table, use: commands)
            .on(.get, p, "devices/{id}/receipts", table: table, use: receipts)
    }

    @Sendable func list(_ request: Request, context: AdminRequestContext) async throws -> [Device] {
        let ownership = try request.queryParameter("ownership").map { value in
            guard let ownership = Ownership(rawValue: value) else {
                throw KontorError.invalid("ownership: expected company or personal, found \"\(value.prefix(64))\"")
            }
            return ownership
        }
        return try await services.directory.devices(person: try request.queryParameter("person"), ownership: ownership)
    }

    @Sendable func show(_ request: Request, context: AdminRequestContext) async throws -> Device {
        try await services.directory.device(try context.parameters.require("id"))
    }

    @Sendable func revoke(_ request: Request, context: AdminRequestContext) async throws -> Device {
        try context.require(.operator)
        struct Input: Decodable { var reason: String }
        let input = try await request.decodeJSON(Input.self, limit: limit)
        let device = try await services.revokeDevice(id: try context.parameters.require("id"), reason: input.reason, by: context.principal)
        context.logger.notice("device revoked", metadata: ["device.id": "\(device.id)"])
        return device
    }

    struct Policy: ResponseEncodable {
        var deviceId: String
        var policyHash: String
        var applied: Bool
        var policy: EffectivePolicy
    }

    @Sendable func policy(_ request: Request, context: AdminRequestContext) async throws -> Policy {
        let (device, computed) = try await services.directory.deviceWithPolicy(try context.parameters.require("id"))
        let policy: EffectivePolicy
        if let computed { policy = computed } else { policy = try await services.policies.effectivePolicy(for: device) }
        return Policy(deviceId: device.id, policyHash: policy.canonicalHash, applied: device.appliedPolicyHash == policy.canonicalHash, policy: policy)
    }

    @Sendable func events(_ request: Request, context: AdminRequestContext) async throws -> [DeviceEvent] {
        let device = try await services.directory.device(try context.parameters.require("id"))
        return try await services.directory.events(deviceId: device.id)
    }

    @Sendable func commands(_ request: Request, context: AdminRequestContext) async throws -> [CommandRecord] {
        let device = try await services.directory.device(try context.parameters.require("id"))
        return try await services.commands.commands(deviceId: device.id)
    }

    @Sendable func receipts(_ request: Request, context: AdminRequestContext) async throws -> [StoredReceipt] {
        let device = try await services.directory.device(try context.parameters.require("id"))
        return try await services.receipts.receipts(deviceId: device.id)
    }
}

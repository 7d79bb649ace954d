import Foundation
import Hummingbird
import KontorCore

/// Who am I, and the API tokens (admin only).
struct TokensController {
    let services: Services
    var limit: Int { services.config.maxBodyBytes }

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.get, p, "me", table: table, use: me)
            .on(.get, p, "api-tokens", table: table, use: list)
            .on(.post, p, "api-tokens", table: table, use: create)
            .on(.delete, p, "api-tokens/{id}", table: table, use: revoke)
    }

    /// Who the caller is; `tokenId` is kept for older kontorctl builds.
    struct Me: ResponseEncodable {
        var kind: Principal.Kind
        var subject: String
        var name: String
        var role: Role
        var tokenId: String?
        var purpose: TokenPurpose?
        var owner: String?
        var ownerName: String?
        var expiresAt: Date?
    }

    @Sendable func me(_ request: Request, context: AdminRequestContext) async throws -> Me {
        let p = context.principal
        return Me(
            kind: p.kind, subject: p.subject, name: p.name, role: p.role, tokenId: p.kind == .token ? p.credentialId : nil, purpose: p.purpose, owner: p.owner,
            ownerName: p.ownerName, expiresAt: p.sessionExpiresAt)
    }

    @Sendable func list(_ request: Request, context: AdminRequestContext) async throws -> [APIToken] {
        try context.require(.admin)
        return try await services.tokens.list()
    }

    struct Created: ResponseEncodable {
        var token: String
        var apiToken: APIToken
    }

    /// Creates a token (201), or when the settings hold it back 202 with the request and the secret, which works once approved.
    @Sendable func create(_ request: Request, context: AdminRequestContext) async throws -> GatedReply<Created> {
        try context.require(.admin)
        struct Input: Decodable {
            var name: String
            var role: Role
            var purpose: TokenPurpose?
        }
        let input = try await request.decodeJSON(Input.self, limit: limit)
        let gated = try await services.requestAPIToken(name: input.name, role: input.role, purpose: input.purpose ?? .automation, by: context.principal)
            .map { token, secret in
                context.logger.notice("API token created", metadata: ["token.id": "\(token.id)", "token.role": "\(token.role.rawValue)"])
                return Created(token: secret, apiToken: token)
            }
        return GatedReply(status: .created, gated: gated)
    }

    @Sendable func revoke(_ request: Request, context: AdminRequestContext) async throws -> APIToken {
        try context.require(.admin)
        let token = try await services.revokeAPIToken(id: try context.parameters.require("id"), by: context.principal)
        context.logger.notice("API token revoked", metadata: ["token.id": "\(token.id)"])
        return token
    }
}

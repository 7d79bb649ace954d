import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Logging
import Synchronization

/// Reads `Authorization: Bearer kat_...` and puts the principal in the context. A present but bad token
/// is refused here; an absent one is refused when an admin route builds its context.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = KontorRequestContext
    let tokens: APITokenService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[.authorization] != nil else { return try await next(request, context) }
        guard let bearer = request.bearerToken, let principal = try await tokens.authenticate(bearer: bearer) else {
            throw APIError(.unauthorized, .unauthorized, "the API token is invalid or revoked", headers: [.wwwAuthenticate: "Bearer"])
        }
        // A feed token reads the on-call calendar and a directory token uses SCIM (each its own route, outside
        // this API), and nothing else.
        guard principal.role.usesAdminAPI else {
            let door = principal.role == .feed ? "reads only \(AdminAPI.prefix)/oncall/{group}.ics" : "uses only \(SCIMController.prefix)"
            throw APIError(.forbidden, .forbidden, "token \"\(principal.name)\" has the \(principal.role.rawValue) role: it \(door)")
        }
        var context = context
        context.principal = principal
        context.logger[metadataKey: "api.token"] = "\(principal.name)"
        return try await next(request, context)
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Logging
import Synchronization

/// Reads `Authorization: Bearer kat_...` (an API token) or `kps_...` (a person's kontorctl session) and puts
/// the principal in the context. A present but bad one is refused here; an absent one is refused when an admin
/// route builds its context.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = KontorRequestContext
    let tokens: APITokenService
    let people: PersonSignInService?

    private func authenticate(_ bearer: String) async throws -> Principal? {
        if PresentedSecret(bearer, kind: .personSession) != nil { return try await people?.authenticate(bearer: bearer) }
        return try await tokens.authenticate(bearer: bearer)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[.authorization] != nil else { return try await next(request, context) }
        guard let bearer = request.bearerToken, let principal = try await authenticate(bearer) else {
            throw APIError(
                .unauthorized, .unauthorized, "the API token is invalid or revoked, or the session has ended (kontorctl login)",
                headers: [.wwwAuthenticate: "Bearer"])
        }
        // A feed token reads the on-call calendar and a directory token uses SCIM (each its own route, outside
        // this API), and nothing else.
        guard principal.role.usesAdminAPI else {
            let door = principal.role == .feed ? "reads only \(AdminAPI.prefix)/oncall/{group}.ics" : "uses only \(SCIMController.prefix)"
            throw APIError(.forbidden, .forbidden, "\(principal.described) has the \(principal.role.rawValue) role: it \(door)")
        }
        var context = context
        context.principal = principal
        context.logger[metadataKey: principal.kind == .person ? "person" : "api.token"] = "\(principal.kind == .person ? principal.subject : principal.name)"
        return try await next(request, context)
    }
}

import Foundation
import Hummingbird
import KontorCore
import KontorOIDC

/// kontorctl's door for people: what it needs to run the device grant against the provider, and a short session
/// for the ID token it got (`kontorctl login`).
struct AuthController {
    let services: Services
    static let configPath = AdminAPI.prefix + "/auth/oidc"
    static let sessionPath = AdminAPI.prefix + "/auth/oidc/session"

    func register(on router: Router<KontorRequestContext>, api: AdminRoutes, table: RouteTable) {
        router.on(.get, "", Self.configPath, table: table, use: configuration)
            .on(.post, "", Self.sessionPath, table: table, use: openSession)
        api.on(.delete, AdminAPI.prefix, "auth/session", table: table, use: endSession)
    }

    struct Configuration: ResponseEncodable {
        var issuer: String
        var clientId: String
        var scopes: [String]
    }

    /// The provider and kontorctl's client: public, as the provider's discovery document is.
    @Sendable func configuration(_ request: Request, context: KontorRequestContext) async throws -> Configuration {
        let settings = try people().settings
        guard let cli = settings.cliClientId else { throw Self.notConfigured }
        return Configuration(issuer: settings.issuer, clientId: cli, scopes: settings.scopes + ["offline_access"])
    }

    struct Opened: ResponseEncodable {
        var token: String
        var expiresAt: Date
        var subject: String
        var name: String
        var role: Role
    }

    @Sendable func openSession(_ request: Request, context: KontorRequestContext) async throws -> EditedResponse<Opened> {
        let people = try people()
        struct Input: Decodable { var idToken: String }
        let input = try await request.decodeJSON(Input.self, limit: 64 * 1024)
        let client = services.clientAddress(request, context)
        if let wait = await services.signInLimiter.admit(client, now: services.clock.now()) {
            throw APIError(.tooManyRequests, .rateLimited, "too many sign-in attempts; try again in \(wait) seconds", headers: [.retryAfter: String(wait)])
        }
        do {
            let (token, session, person) = try await people.openAPISession(idToken: input.idToken)
            try await services.audit.record(person.auditActor, "api.session-opened", target: session.id, detail: ["role": session.role.rawValue])
            context.logger.notice("kontorctl session opened", metadata: ["person": "\(person.subject)"])
            return EditedResponse(
                status: .created, response: Opened(token: token, expiresAt: session.expiresAt, subject: person.subject, name: person.name, role: session.role))
        } catch let error as JOSEError {
            context.logger.notice("kontorctl session refused", metadata: ["error": "\(error)", "client": "\(client)"])
            throw APIError(.unauthorized, .idTokenRefused, "the ID token was refused: \(error)")
        } catch let error as SignInRefused {
            throw APIError(.forbidden, .idTokenRefused, error.description)
        } catch let error as OIDCError {
            context.logger.error("the OpenID provider failed", metadata: ["error": "\(error)"])
            throw APIError(.badGateway, .providerUnavailable, error.description)
        }
    }

    /// Ends the caller's own kontorctl session (`kontorctl logout`).
    @Sendable func endSession(_ request: Request, context: AdminRequestContext) async throws -> [String: String] {
        let principal = context.principal
        guard principal.kind == .person else {
            throw APIError(.conflict, .conflict, "only a person's session ends here; an API token is revoked with DELETE /api/v1/api-tokens/{id}")
        }
        try await people().end(sessionId: principal.credentialId)
        try await services.audit.record(principal.auditActor, "api.session-ended", target: principal.credentialId)
        return ["status": "ended"]
    }

    private func people() throws -> PersonSignInService {
        guard let people = services.people else { throw Self.notConfigured }
        return people
    }

    static let notConfigured = APIError(
        .notFound, .signInNotConfigured, "this server has no OpenID provider for kontorctl (oidcIssuer, oidcCliClientId); use an API token")
}

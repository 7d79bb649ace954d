import Foundation
import Hummingbird
import KontorCore
import KontorOIDC

/// Console sign-in through the organisation's OpenID provider (authorization code with PKCE). The state is also
/// kept in a cookie of this browser, so a callback link made by someone else (a login CSRF) signs nobody in.
struct ConsoleOIDC {
    let console: ConsoleController
    let people: PersonSignInService
    static let stateCookie = "kontor_oidc"

    var redirectURI: String { console.services.config.advertisedURL + ConsoleController.prefix + "/oidc/callback" }

    func register(on group: RouterGroup<KontorRequestContext>) {
        console.table.add(.get, "sign-in/oidc")
        group.get("sign-in/oidc") { request, context in
            let next = ConsoleSignIn.safeNext(request.uri.queryParameters.get("next"))
            let (location, state): (String, String)
            do {
                (location, state) = try await people.begin(redirectURI: redirectURI, next: next)
            } catch let error as OIDCError {
                context.logger.error("console sign-in: the provider cannot be used", metadata: ["error": "\(error)"])
                throw ConsoleRefusal(.badGateway, "The sign-in service cannot be reached right now (\(error)). Try again, or sign in with an API token.")
            }
            var response = Response(status: .seeOther, headers: [.location: location])
            response.setCookie(stateCookie(state, maxAge: Int(PersonSignInService.pendingLifetime)))
            return response
        }

        console.table.add(.get, "oidc/callback")
        group.get("oidc/callback") { request, context in try await callback(request, context) }
    }

    private func callback(_ request: Request, _ context: KontorRequestContext) async throws -> Response {
        let services = console.services
        let query = request.uri.queryParameters
        if let error = query.get("error") {
            return refused(request, "The sign-in service said: \(String(error.prefix(100))).", status: .unauthorized)
        }
        guard let state = query.get("state"), let code = query.get("code"), let expected = request.cookies[Self.stateCookie]?.value,
            ConsoleSessionService.tokensMatch(state, expected)
        else {
            return refused(request, "This sign-in did not start in this browser, or it was already used. Start again.", status: .forbidden)
        }
        let client = services.clientAddress(request, context)
        if let wait = await services.signInLimiter.admit(client, now: services.clock.now()) {
            return refused(request, "Too many sign-in attempts. Try again in \(wait) seconds.", status: .tooManyRequests)
        }
        let person: SignedInPerson
        let next: String?
        do {
            (person, next) = try await people.complete(state: state, code: code, redirectURI: redirectURI)
        } catch let error as SignInRefused {
            return refused(request, "\(error)", status: .forbidden)
        } catch let error as JOSEError {
            context.logger.warning("console sign-in: ID token refused", metadata: ["error": "\(error)", "client": "\(client)"])
            return refused(request, "The sign-in service's answer was refused: \(error).", status: .forbidden)
        } catch let error as OIDCError {
            context.logger.error("console sign-in: the provider failed", metadata: ["error": "\(error)"])
            return refused(request, "The sign-in service failed: \(error).", status: .badGateway)
        }
        guard person.role != nil else {
            try await services.audit.record(person.auditActor, "console.sign-in-refused", target: nil, detail: ["reason": "no group with a Kontor role"])
            context.logger.notice("console sign-in refused: no mapped group", metadata: ["client": "\(client)"])
            var response = console.render(
                "no-role", title: "No access", nav: "", session: nil, request: request, status: .forbidden,
                ["name": person.name, "subject": person.subject, "groups": person.groups.joined(separator: ", ")])
            response.setCookie(stateCookie("", maxAge: 0))
            return response
        }
        let (cookie, session) = try await console.sessions.signIn(person: person)
        try await services.audit.record(AuditService.actor(session.principal), "console.signed-in", target: session.principal.credentialId)
        context.logger.notice("console sign-in", metadata: ["person": "\(person.subject)"])
        // A page that moves on by itself, rather than a redirect: the session cookie is SameSite=Strict, and a
        // redirect at the end of a trip from the provider's site would not carry it.
        var response = console.render(
            "signed-in", title: "Signed in", nav: "", session: nil, request: request, status: .ok,
            ["next": next ?? ConsoleController.prefix, "name": person.name])
        response.setCookie(console.cookie(ConsoleController.sessionCookie, cookie, maxAge: services.config.consoleSessionLifetime))
        response.setCookie(stateCookie("", maxAge: 0))
        return response
    }

    private func refused(_ request: Request, _ text: String, status: HTTPResponse.Status) -> Response {
        var response = console.render("no-role", title: "Sign-in refused", nav: "", session: nil, request: request, status: status, ["error": text])
        response.setCookie(stateCookie("", maxAge: 0))
        return response
    }

    /// Lax, unlike the session cookie: the provider sends the browser back with a cross-site navigation.
    private func stateCookie(_ value: String, maxAge: Int) -> Cookie {
        Cookie(
            name: Self.stateCookie, value: value, maxAge: maxAge, path: ConsoleController.prefix + "/oidc", secure: console.services.config.secureCookies,
            httpOnly: true, sameSite: .lax)
    }
}

import Foundation
import Hummingbird
import KontorCore

/// Sign-in with an API token, and sign-out. The sign-in form carries a double-submit token (a random
/// value in a SameSite cookie and in the form) so another site cannot sign a browser in to its own account.
struct ConsoleSignIn {
    let console: ConsoleController

    func register(on group: RouterGroup<KontorRequestContext>) {
        let services = console.services
        console.table.add(.get, "sign-in")
        group.get("sign-in") { request, _ in
            if try await console.currentSession(request) != nil { return console.redirect(ConsoleController.prefix) }
            return signInPage(request, next: request.uri.queryParameters.get("next"), error: nil, status: .ok)
        }

        console.table.add(.post, "sign-in")
        group.post("sign-in") { request, context in
            let form = try await ConsoleForm.read(request)
            try console.checkOrigin(request)
            let next = Self.safeNext(form["next"])
            guard let expected = request.cookies[ConsoleController.signInCookie]?.value,
                ConsoleSessionService.tokensMatch(form["csrf"], expected)
            else {
                return signInPage(request, next: next, error: "The sign-in form had expired. Paste your token again.", status: .forbidden)
            }
            let client = services.clientAddress(request, context)
            if let wait = await services.signInLimiter.admit(client, now: services.clock.now()) {
                var response = signInPage(request, next: next, error: "Too many sign-in attempts. Try again in \(wait) seconds.", status: .tooManyRequests)
                response.headers[.retryAfter] = String(wait)
                return response
            }
            guard let token = form.text("token"), let (cookie, session) = try await console.sessions.signIn(apiToken: token) else {
                context.logger.notice("console sign-in refused", metadata: ["client": "\(client)"])
                return signInPage(request, next: next, error: "That API token is not valid or has been revoked.", status: .unauthorized)
            }
            try await services.audit.record(AuditService.actor(session.principal), "console.signed-in", target: session.principal.credentialId)
            context.logger.notice("console sign-in", metadata: ["api.token": "\(session.principal.name)"])
            var response = console.redirect(next ?? ConsoleController.prefix)
            response.setCookie(console.cookie(ConsoleController.sessionCookie, cookie, maxAge: services.config.consoleSessionLifetime))
            response.setCookie(console.cookie(ConsoleController.signInCookie, "", maxAge: 0))
            return response
        }

        console.form(group, "sign-out", role: .auditor, back: { _, _ in ConsoleController.prefix }) { _, _, session in
            try await console.sessions.signOut(session)
            try await services.audit.record(AuditService.actor(session.principal), "console.signed-out", target: session.principal.credentialId)
            var response = console.redirect("\(ConsoleController.prefix)/sign-in", flash: Flash(kind: .ok, text: "You are signed out."))
            response.setCookie(console.cookie(ConsoleController.sessionCookie, "", maxAge: 0))
            return response
        }
    }

    private func signInPage(_ request: Request, next: String?, error: String?, status: HTTPResponse.Status) -> Response {
        let existing = request.cookies[ConsoleController.signInCookie]?.value
        let csrf = existing ?? IssuedSecret.generate(.consoleSession).token
        var values: [String: Any] = ["csrf": csrf, "next": Self.safeNext(next) ?? ""]
        if console.services.people != nil {
            let query = Self.safeNext(next).map { "?next=" + OIDCProvider.formEncode($0) } ?? ""
            values["oidc"] = ["href": "\(ConsoleController.prefix)/sign-in/oidc\(query)"]
        }
        if let error { values["error"] = error }
        var response = console.render("sign-in", title: "Sign in", nav: "", session: nil, request: request, status: status, values)
        if existing == nil { response.setCookie(console.cookie(ConsoleController.signInCookie, csrf, maxAge: 3600)) }
        return response
    }

    /// Only a path inside the console is a place to go back to after sign-in (no open redirect).
    static func safeNext(_ next: String?) -> String? {
        guard let next, next.hasPrefix(ConsoleController.prefix), !next.hasPrefix("//"), !next.contains("\\"),
            !next.contains("://"), !next.hasPrefix("\(ConsoleController.prefix)/sign-")
        else { return nil }
        return next
    }
}

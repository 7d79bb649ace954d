import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import Logging
import NIOCore
import Synchronization

/// The admin console: server-rendered HTML on the same services and roles as the API, under `/console`.
/// Reads need a session (any role); every form needs the session's CSRF token and the action's role.
struct ConsoleController {
    let services: Services
    let renderer: ConsoleRenderer
    let sessions: ConsoleSessionService
    let table: ConsoleRouteTable

    static let prefix = "/console"
    static let sessionCookie = "kontor_session"
    static let signInCookie = "kontor_signin"
    static let flashCookie = "kontor_flash"
    /// Forms are small; anything larger is refused before it is read.
    static let formLimit = 64 * 1024

    init(services: Services, table: ConsoleRouteTable) {
        self.services = services
        self.renderer = ConsoleRenderer.shared
        self.sessions = services.consoleSessions
        self.table = table
    }

    func register(on router: Router<KontorRequestContext>) {
        router.get("/") { request, context in
            let signedIn = try await currentSession(request) != nil
            return redirect(signedIn ? Self.prefix : "\(Self.prefix)/sign-in")
        }
        let group = router.group(RouterPath(Self.prefix)).add(middleware: ConsoleMiddleware(console: self))
        ConsoleAssets.register(on: group, table: table)
        ConsoleSignIn(console: self).register(on: group)
        if let people = services.people { ConsoleOIDC(console: self, people: people).register(on: group) }
        ConsolePages(console: self).register(on: group)
        // Anything else under /console is a console 404 page, not the API's JSON.
        group.get("**") { _, _ -> Response in throw HTTPError(.notFound) }
    }

    // MARK: Sessions

    func currentSession(_ request: Request) async throws -> ConsoleSession? {
        guard let cookie = request.cookies[Self.sessionCookie]?.value else { return nil }
        return try await sessions.session(cookie: cookie)
    }

    func cookie(_ name: String, _ value: String, maxAge: Int?) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: Self.prefix, secure: services.config.secureCookies, httpOnly: true, sameSite: .strict)
    }

    // MARK: Routes

    /// A page any signed-in user may read.
    func page(
        _ group: RouterGroup<KontorRequestContext>, _ path: String,
        _ handler: @escaping @Sendable (Request, KontorRequestContext, ConsoleSession) async throws -> Response
    ) {
        table.add(.get, path)
        group.get(RouterPath(path)) { request, context in
            guard let session = try await currentSession(request) else { throw ConsoleSignInRequired() }
            return try await handler(request, context, session)
        }
    }

    /// A form post: needs a session, the session's CSRF token, a same-origin request and `role`. A refused
    /// action (bad input, conflict) goes back to `back` with the reason as a message; nothing is half-done
    /// because each action is one service call.
    func form(
        _ group: RouterGroup<KontorRequestContext>, _ path: String, role: Role,
        back: @escaping @Sendable (Request, KontorRequestContext) -> String,
        _ handler: @escaping @Sendable (ConsoleFormRequest, KontorRequestContext, ConsoleSession) async throws -> Response
    ) {
        table.add(.post, path)
        group.post(RouterPath(path)) { request, context in
            guard let session = try await currentSession(request) else { throw ConsoleSignInRequired() }
            let form = try await ConsoleForm.read(request)
            try checkOrigin(request)
            guard ConsoleSessionService.tokensMatch(form["csrf"], session.csrfToken) else {
                context.logger.warning("console form refused: CSRF token missing or wrong", metadata: ["path": "\(request.uri.path)"])
                throw ConsoleRefusal(.forbidden, "This form has expired or was sent from another page. Go back, reload the page and try again.")
            }
            guard session.principal.role.allows(role) else {
                throw ConsoleRefusal(
                    .forbidden, "This needs the \(role.rawValue) role; you are signed in as \(session.principal.name) (\(session.principal.role.rawValue)).")
            }
            do {
                return try await handler(ConsoleFormRequest(request: request, form: form), context, session)
            } catch let error as APIError where error.status.code < 500 {
                return redirect(back(request, context), flash: .init(kind: .error, text: error.message))
            } catch let error as KontorError {
                return redirect(back(request, context), flash: .init(kind: .error, text: error.message))
            }
        }
    }

    /// Refuses a request whose Origin (sent by browsers on every form post) is another site: it must name
    /// the host the request was sent to, or the configured public URL (behind a proxy that rewrites Host).
    func checkOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin] else { return }
        guard Self.isSameOrigin(origin, authority: request.head.authority, publicURL: services.config.publicURL) else {
            throw ConsoleRefusal(.forbidden, "This form was sent from another site (\(origin)) and was refused.")
        }
    }

    static func isSameOrigin(_ origin: String, authority: String?, publicURL: String?) -> Bool {
        let origin = origin.lowercased()
        guard origin != "null", let scheme = origin.range(of: "://") else { return false }
        let host = origin[scheme.upperBound...]
        if let authority, !authority.isEmpty, host == authority.lowercased() { return true }
        guard let publicURL, let url = URL(string: publicURL), let publicScheme = url.scheme, let publicHost = url.host else { return false }
        return origin == "\(publicScheme)://\(publicHost)\(url.port.map { ":\($0)" } ?? "")".lowercased()
    }

    // MARK: Responses

    func redirect(_ location: String, flash: Flash? = nil) -> Response {
        var response = Response(status: .seeOther, headers: [.location: location])
        if let flash { response.setCookie(cookie(Self.flashCookie, flash.encoded, maxAge: 60)) }
        return response
    }

    /// Renders `template` inside the layout for a signed-in user.
    func render(
        _ template: String, title: String, nav: String, session: ConsoleSession?, request: Request, status: HTTPResponse.Status = .ok,
        _ values: [String: Any] = [:]
    ) -> Response {
        var context = values
        context["title"] = title
        context["nav_\(nav)"] = true
        if let session {
            context["session"] = [
                "name": session.principal.name, "role": session.principal.role.rawValue, "csrf": session.csrfToken,
            ]
            context["canOperate"] = session.principal.role.allows(.operator)
            context["canAdmin"] = session.principal.role.allows(.admin)
        }
        let flash = request.cookies[Self.flashCookie].flatMap { Flash(encoded: $0.value) }
        if let flash { context["flash"] = ["text": flash.text, "error": flash.kind == .error] }
        var response = html(renderer.render(template, context), status: status)
        if request.cookies[Self.flashCookie] != nil { response.setCookie(cookie(Self.flashCookie, "", maxAge: 0)) }
        return response
    }

    func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Routes of the console, for tests that hold every page and form to the session and CSRF rules.
public final class ConsoleRouteTable: Sendable {
    private let entries = Mutex<[String]>([])
    public init() {}
    func add(_ method: HTTPRequest.Method, _ path: String) {
        entries.withLock { $0.append("\(method.rawValue) \(ConsoleController.prefix)\(path.isEmpty ? "" : "/" + path)") }
    }
    public var all: [String] { entries.withLock { $0 } }
}

/// A one-time message shown on the next page (after a redirect).
struct Flash: Codable, Equatable {
    enum Kind: String, Codable { case ok, error }
    var kind: Kind
    var text: String

    init(kind: Kind, text: String) {
        self.kind = kind
        self.text = String(text.prefix(500))
    }

    init?(encoded: String) {
        guard let data = Data(base64Encoded: encoded), let decoded = try? JSONDecoder().decode(Flash.self, from: data) else { return nil }
        self = decoded
    }

    /// Base64 of the JSON: only characters a cookie value may hold.
    var encoded: String { ((try? JSONEncoder().encode(self)) ?? Data()).base64EncodedString() }
}

/// No session: the middleware sends the browser to sign in and back.
struct ConsoleSignInRequired: Error {}

/// A console request refused with a status and a sentence for the person at the browser.
struct ConsoleRefusal: Error {
    let status: HTTPResponse.Status
    let message: String
    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// Security headers on every console answer, and HTML instead of JSON for errors.
struct ConsoleMiddleware: RouterMiddleware {
    typealias Context = KontorRequestContext
    let console: ConsoleController

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch is ConsoleSignInRequired {
            var target = request.uri.path
            if let query = request.uri.query, !query.isEmpty { target += "?" + query }
            let next = request.method == .get ? "?next=\(target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" : ""
            response = console.redirect("\(ConsoleController.prefix)/sign-in\(next)")
        } catch let refusal as ConsoleRefusal {
            response = errorPage(request, status: refusal.status, message: refusal.message)
        } catch let error as APIError where error.status.code < 500 {
            response = errorPage(request, status: error.status, message: error.message)
        } catch let error as KontorError {
            response = errorPage(request, status: APIError(error).status, message: error.message)
        } catch let error as HTTPError where error.status.code < 500 {
            let message = error.status == .notFound ? "There is no page at \(request.uri.path)." : (error.body ?? error.status.reasonPhrase)
            response = errorPage(request, status: error.status, message: message)
        } catch is NIOTooManyBytesError {
            response = errorPage(request, status: .contentTooLarge, message: "The form is larger than \(ConsoleController.formLimit) bytes.")
        } catch {
            context.logger.error("console error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            response = errorPage(request, status: .internalServerError, message: "Something went wrong on the server; its log has the details.")
        }
        ConsoleSecurityHeaders.apply(to: &response.headers)
        return response
    }

    private func errorPage(_ request: Request, status: HTTPResponse.Status, message: String) -> Response {
        console.render(
            "error", title: status.reasonPhrase, nav: "", session: nil, request: request, status: status,
            ["status": status.code, "reason": status.reasonPhrase, "message": message])
    }
}

enum ConsoleSecurityHeaders {
    /// No inline script or style, no framing, forms only to this origin; pages are never cached.
    static func apply(to headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
    }
}

/// A form post: the request (for cookies) and its fields.
struct ConsoleFormRequest: Sendable {
    let request: Request
    let form: ConsoleForm
    subscript(_ name: String) -> String? { form[name] }
    func text(_ name: String) -> String? { form.text(name) }
}

/// A submitted form (`application/x-www-form-urlencoded`), field by field.
struct ConsoleForm: Sendable {
    let fields: [String: String]

    subscript(_ name: String) -> String? { fields[name] }

    /// A trimmed field, nil when absent or blank.
    func text(_ name: String) -> String? {
        guard let value = fields[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    static func read(_ request: Request) async throws -> ConsoleForm {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw ConsoleRefusal(.unsupportedMediaType, "Forms must be sent as application/x-www-form-urlencoded.")
        }
        let data = try await request.collectBody(limit: ConsoleController.formLimit)
        return ConsoleForm(fields: try parse(String(decoding: data, as: UTF8.self)))
    }

    /// Decodes `a=1&b=two+words` with Hummingbird's form decoder.
    static func parse(_ body: String) throws -> [String: String] {
        do {
            return try URLEncodedFormDecoder().decode([String: String].self, from: body)
        } catch {
            throw ConsoleRefusal(.badRequest, "The form could not be read; reload the page and send it again.")
        }
    }
}

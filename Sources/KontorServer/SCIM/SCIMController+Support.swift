import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import NIOCore

/// How a list is asked for (RFC 7644 §3.4.2): `filter`, `startIndex` (1-based), `count`, `attributes`,
/// `excludedAttributes`, from the query string or the body of a `.search` POST.
struct SCIMQuery {
    var filter: SCIMFilter?
    var startIndex = 1
    var count = 100
    var attributes: [SCIMPath]?
    var excluded: [SCIMPath]?

    init(_ request: Request) throws {
        let q = try Self.form(request.uri.query ?? "")
        func text(_ name: String) throws -> String? {
            guard let value = q[name] else { return nil }
            guard !value.contains("\0") else { throw SCIMError.invalidValue("\(name): contains the NUL character (U+0000)") }
            return value
        }
        try self.init(
            filter: try text("filter"), startIndex: try text("startIndex"), count: try text("count"),
            attributes: try text("attributes")?.split(separator: ",").map(String.init),
            excluded: try text("excludedAttributes")?.split(separator: ",").map(String.init))
    }

    init(search body: JSONValue) throws {
        func number(_ name: String) throws -> String? {
            switch SCIMJSON.member(body, name) {
            case nil, .null?: return nil
            case .int(let i)?: return String(i)
            default: throw SCIMError.invalidValue("\(name): expected a whole number")
            }
        }
        func list(_ name: String) throws -> [String]? {
            switch SCIMJSON.member(body, name) {
            case nil, .null?: return nil
            case .array(let items)?:
                return try items.map {
                    guard let s = $0.string else { throw SCIMError.invalidValue("\(name): expected attribute names") }
                    return s
                }
            default: throw SCIMError.invalidValue("\(name): expected a list of attribute names")
            }
        }
        guard SCIMJSON.member(body, "filter").map({ $0.string != nil || $0 == .null }) ?? true else {
            throw SCIMError.invalidValue("filter: expected a string")
        }
        try self.init(
            filter: SCIMJSON.member(body, "filter")?.string, startIndex: try number("startIndex"), count: try number("count"),
            attributes: try list("attributes"), excluded: try list("excludedAttributes"))
    }

    private init(filter: String?, startIndex: String?, count: String?, attributes: [String]?, excluded: [String]?) throws {
        if let filter, !filter.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                self.filter = try SCIMFilterParser.filter(filter, coreSchemas: SCIMDiscovery.coreSchemas)
            } catch let failure as SCIMFilterParser.Failure {
                throw SCIMError.invalidFilter("filter: \(failure.message)")
            }
        }
        if let startIndex {
            guard let n = Int(startIndex) else { throw SCIMError.invalidValue("startIndex: expected a whole number, found \"\(startIndex)\"") }
            self.startIndex = max(1, n)
        }
        if let count {
            guard let n = Int(count) else { throw SCIMError.invalidValue("count: expected a whole number, found \"\(count)\"") }
            self.count = min(max(0, n), SCIMDiscovery.maxResults)
        }
        self.attributes = try attributes.map(Self.paths)
        self.excluded = try excluded.map(Self.paths)
    }

    /// The query as a form (`application/x-www-form-urlencoded`): directories' clients send a space in a
    /// filter as `+` (`filter=userName+eq+%22ada%22`), a literal plus as `%2B`. The first of a repeated name counts.
    static func form(_ query: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = parts[0], let value = parts.count > 1 ? parts[1] : "" else {
                throw SCIMError.invalidValue("the query holds a malformed percent-encoding: \(VisibleText.escaped(String(pair.prefix(80))))")
            }
            if out[name] == nil { out[name] = value }
        }
        return out
    }

    private static func paths(_ names: [String]) throws -> [SCIMPath] {
        try names.map { name in
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let path = SCIMPath(trimmed, coreSchemas: SCIMDiscovery.coreSchemas) else {
                throw SCIMError.invalidValue("attributes: \"\(VisibleText.escaped(trimmed))\" is not an attribute path")
            }
            return path
        }
    }
}

extension SCIMController {
    /// The caller, when it presents a live token of the `directory` role.
    func authenticate(_ request: Request) async throws -> Principal {
        guard let bearer = request.bearerToken else {
            throw SCIMError(status: .unauthorized, scimType: nil, detail: "SCIM needs a directory token (Authorization: Bearer)")
        }
        guard let principal = try await services.tokens.authenticate(bearer: bearer) else {
            throw SCIMError(status: .unauthorized, scimType: nil, detail: "the API token is invalid or revoked")
        }
        guard principal.role == .directory else {
            throw SCIMError(
                status: .forbidden, scimType: nil,
                detail:
                    "\(principal.described) has the \(principal.role.rawValue) role; SCIM takes a token of the directory role (kontorctl admin-tokens create --role directory)"
            )
        }
        return principal
    }

    /// The request body as JSON (`application/scim+json` or `application/json`), holding no NUL.
    func body(_ request: Request) async throws -> JSONValue {
        if let type = request.headers[.contentType]?.lowercased(), !type.hasPrefix("application/scim+json"), !type.hasPrefix("application/json") {
            throw SCIMError(status: .unsupportedMediaType, scimType: nil, detail: "content-type must be application/scim+json, not \(type)")
        }
        let data = try await request.collectBody(limit: limit)
        guard let json = JSONValue(parsing: String(decoding: data, as: UTF8.self)), case .object = json else {
            throw SCIMError.invalidSyntax("the body must be a JSON object")
        }
        if let field = json.firstNUL(at: "") { throw SCIMError.invalidValue("\(field.isEmpty ? "body" : field): contains the NUL character (U+0000)") }
        return json
    }

    static func response(_ json: JSONValue, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json.text)))
    }

    func renderedUser(_ id: String) async throws -> JSONValue {
        let view = try await scim.view()
        return render.user(try scim.user(id, in: view), in: view)
    }

    func renderedGroup(_ id: String) async throws -> JSONValue {
        let view = try await scim.view()
        return render.group(try scim.group(id, in: view), in: view)
    }

    func userResponse(_ id: String, _ request: Request, status: HTTPResponse.Status) async throws -> Response {
        try resourceResponse(try await renderedUser(id), request, status: status)
    }

    func groupResponse(_ id: String, _ request: Request, status: HTTPResponse.Status) async throws -> Response {
        try resourceResponse(try await renderedGroup(id), request, status: status)
    }

    /// One resource with its ETag (and Location when created); 304 for a GET whose If-None-Match holds it.
    private func resourceResponse(_ resource: JSONValue, _ request: Request, status: HTTPResponse.Status) throws -> Response {
        let version = SCIMRender.version(resource) ?? ""
        var headers: HTTPFields = [.eTag: version]
        if status == .created, let location = resource["meta"]?["location"]?.string { headers[.location] = location }
        if request.method == .get, let tags = request.headers[.ifNoneMatch], Self.tags(tags).contains(version) || tags == "*" {
            return Response(status: .notModified, headers: headers)
        }
        let query = try SCIMQuery(request)
        return Self.response(SCIMRender.project(resource, attributes: query.attributes, excluded: query.excluded), status: status, headers: headers)
    }

    /// A write with If-Match goes ahead only when the resource is still at one of the versions named.
    func checkIfMatch(_ request: Request, current: JSONValue) throws {
        guard let header = request.headers[.ifMatch], header.trimmingCharacters(in: .whitespaces) != "*" else { return }
        let version = SCIMRender.version(current) ?? ""
        guard Self.tags(header).contains(version) else {
            throw SCIMError(status: .preconditionFailed, scimType: nil, detail: "If-Match: the resource is at version \(version) now; read it again")
        }
    }

    private static func tags(_ header: String) -> [String] {
        header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func list(_ query: SCIMQuery, users: Bool, groups: Bool) async throws -> Response {
        let view = try await scim.view()
        var resources = (users ? view.users.map { render.user($0, in: view) } : []) + (groups ? view.groups.map { render.group($0, in: view) } : [])
        if let filter = query.filter { resources = resources.filter(filter.matches) }
        let page = Array(resources.dropFirst(query.startIndex - 1).prefix(query.count))
        return Self.response(
            SCIMDiscovery.list(
                page.map { SCIMRender.project($0, attributes: query.attributes, excluded: query.excluded) }, total: resources.count,
                startIndex: query.startIndex))
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import NIOCore

/// SCIM 2.0 (RFC 7643/7644) at `/scim/v2`, for a directory (Entra ID, Keycloak, Google, a school's own) to
/// provision persons and groups. Only a token of the `directory` role gets in, and that token gets nowhere
/// else. Every answer, refusals too, is `application/scim+json`. Not in the OpenAPI document: SCIM describes
/// itself (`ServiceProviderConfig`, `ResourceTypes`, `Schemas`).
struct SCIMController {
    static let prefix = "/scim/v2"
    static let contentType = "application/scim+json; charset=utf-8"
    let services: Services
    var scim: SCIMService { SCIMService(services: services) }
    var render: SCIMRender { SCIMRender(base: scim.base) }
    var limit: Int { max(services.config.maxBodyBytes, 8 << 20) }

    func register(on router: Router<KontorRequestContext>) {
        let group = router.group(RouterPath(String(Self.prefix.dropFirst()))).add(middleware: SCIMErrorMiddleware())
        for (path, handler) in [
            ("ServiceProviderConfig", serviceProviderConfig), ("ResourceTypes", resourceTypes), ("ResourceTypes/{id}", resourceType),
            ("Schemas", schemas), ("Schemas/{id}", schema),
        ] as [(String, @Sendable (Request, KontorRequestContext) async throws -> Response)] {
            group.get(RouterPath(path), use: handler)
            for method in [HTTPRequest.Method.post, .put, .patch, .delete] { group.on(RouterPath(path), method: method, use: notAllowed) }
        }
        group.get("Users", use: listUsers).post("Users", use: createUser).post("Users/.search", use: searchUsers)
            .get("Users/{id}", use: getUser).put("Users/{id}", use: putUser).patch("Users/{id}", use: patchUser).delete("Users/{id}", use: deleteUser)
        group.get("Groups", use: listGroups).post("Groups", use: createGroup).post("Groups/.search", use: searchGroups)
            .get("Groups/{id}", use: getGroup).put("Groups/{id}", use: putGroup).patch("Groups/{id}", use: patchGroup).delete("Groups/{id}", use: deleteGroup)
        group.post(".search", use: searchAll)
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] { group.on("**", method: method, use: unknown) }
    }

    // MARK: discovery

    @Sendable func serviceProviderConfig(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        return Self.response(SCIMDiscovery.serviceProviderConfig(base: scim.base))
    }

    @Sendable func resourceTypes(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        let all = SCIMDiscovery.resourceTypes(base: scim.base)
        return Self.response(SCIMDiscovery.list(all, total: all.count, startIndex: 1))
    }

    @Sendable func resourceType(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        let id = try context.parameters.require("id")
        guard let found = SCIMDiscovery.resourceTypes(base: scim.base).first(where: { $0["id"]?.string == id }) else {
            throw SCIMError.notFound("no resource type \(id)")
        }
        return Self.response(found)
    }

    @Sendable func schemas(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        let all = SCIMDiscovery.schemas(base: scim.base)
        return Self.response(SCIMDiscovery.list(all, total: all.count, startIndex: 1))
    }

    @Sendable func schema(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        let id = try context.parameters.require("id")
        guard let found = SCIMDiscovery.schemas(base: scim.base).first(where: { $0["id"]?.string == id }) else { throw SCIMError.notFound("no schema \(id)") }
        return Self.response(found)
    }

    @Sendable func notAllowed(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        throw SCIMError(status: .methodNotAllowed, scimType: nil, detail: "\(request.method.rawValue) is not allowed on \(request.uri.path); only GET")
    }

    @Sendable func unknown(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        throw SCIMError.notFound("no SCIM endpoint \(request.uri.path)")
    }

    /// A search across users and groups (RFC 7644 §3.4.3): users first, then groups.
    @Sendable func searchAll(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        return try await list(SCIMQuery(search: try await body(request)), users: true, groups: true)
    }

    // MARK: users

    @Sendable func listUsers(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        return try await list(SCIMQuery(request), users: true, groups: false)
    }

    @Sendable func searchUsers(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        return try await list(SCIMQuery(search: try await body(request)), users: true, groups: false)
    }

    @Sendable func createUser(_ request: Request, context: KontorRequestContext) async throws -> Response {
        let principal = try await authenticate(request)
        let user = try await scim.createUser(try await body(request), by: principal)
        context.logger.notice("SCIM user created", metadata: ["scim.id": "\(user.id)", "person.id": "\(user.person.id)"])
        return try await userResponse(user.id, request, status: .created)
    }

    @Sendable func getUser(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        return try await userResponse(try context.parameters.require("id"), request, status: .ok)
    }

    @Sendable func putUser(_ request: Request, context: KontorRequestContext) async throws -> Response {
        let principal = try await authenticate(request)
        let id = try context.parameters.require("id")
        try checkIfMatch(request, current: try await renderedUser(id))
        _ = try await scim.replaceUser(id, with: try await body(request), by: principal)
        return try await userResponse(id, request, status: .ok)
    }

    @Sendable func patchUser(_ request: Request, context: KontorRequestContext) async throws -> Response {
        let principal = try await authenticate(request)
        let id = try context.parameters.require("id")
        try checkIfMatch(request, current: try await renderedUser(id))
        _ = try await scim.patchUser(id, try await body(request), by: principal)
        return try await userResponse(id, request, status: .ok)
    }

    @Sendable func deleteUser(_ request: Request, context: KontorRequestContext) async throws -> Response {
        let principal = try await authenticate(request)
        let id = try context.parameters.require("id")
        try checkIfMatch(request, current: try await renderedUser(id))
        try await scim.deleteUser(id, by: principal)
        context.logger.notice("SCIM user deleted: offboarding with notice", metadata: ["scim.id": "\(id)"])
        return Response(status: .noContent)
    }

    // MARK: groups

    @Sendable func listGroups(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        return try await list(SCIMQuery(request), users: false, groups: true)
    }

    @Sendable func searchGroups(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        return try await list(SCIMQuery(search: try await body(request)), users: false, groups: true)
    }

    @Sendable func createGroup(_ request: Request, context: KontorRequestContext) async throws -> Response {
        let principal = try await authenticate(request)
        let group = try await scim.createGroup(try await body(request), by: principal)
        return try await groupResponse(group.id, request, status: .created)
    }

    @Sendable func getGroup(_ request: Request, context: KontorRequestContext) async throws -> Response {
        _ = try await authenticate(request)
        return try await groupResponse(try context.parameters.require("id"), request, status: .ok)
    }

    @Sendable func putGroup(_ request: Request, context: KontorRequestContext) async throws -> Response {
        let principal = try await authenticate(request)
        let id = try context.parameters.require("id")
        try checkIfMatch(request, current: try await renderedGroup(id))
        _ = try await scim.replaceGroup(id, with: try await body(request), by: principal)
        return try await groupResponse(id, request, status: .ok)
    }

    @Sendable func patchGroup(_ request: Request, context: KontorRequestContext) async throws -> Response {
        let principal = try await authenticate(request)
        let id = try context.parameters.require("id")
        try checkIfMatch(request, current: try await renderedGroup(id))
        _ = try await scim.patchGroup(id, try await body(request), by: principal)
        return try await groupResponse(id, request, status: .ok)
    }

    @Sendable func deleteGroup(_ request: Request, context: KontorRequestContext) async throws -> Response {
        let principal = try await authenticate(request)
        let id = try context.parameters.require("id")
        try checkIfMatch(request, current: try await renderedGroup(id))
        try await scim.deleteGroup(id, by: principal)
        return Response(status: .noContent)
    }
}

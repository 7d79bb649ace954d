import Foundation
import HTTPTypes
import Hummingbird
import KontorCore

/// Four-eyes approvals: the requests, and a second person's approval or rejection.
struct ApprovalsController {
    let services: Services
    var limit: Int { services.config.maxBodyBytes }

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.get, p, "approvals", table: table, use: list)
            .on(.get, p, "approvals/{id}", table: table, use: show)
            .on(.post, p, "approvals/{id}/approve", table: table, use: approve)
            .on(.post, p, "approvals/{id}/reject", table: table, use: reject)
    }

    @Sendable func list(_ request: Request, context: AdminRequestContext) async throws -> [ApprovalView] {
        try context.require(.auditor)
        var state: ApprovalState?
        if let name = try request.queryParameter("state") {
            guard let known = ApprovalState(rawValue: name) else {
                throw APIError.invalid("state: expected one of \(ApprovalState.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(name)\"")
            }
            state = known
        }
        return try await services.approvals.list(state: state).map { ApprovalView($0) }
    }

    @Sendable func show(_ request: Request, context: AdminRequestContext) async throws -> ApprovalView {
        try context.require(.auditor)
        return ApprovalView(try await services.approvals.approval(try context.parameters.require("id")))
    }

    @Sendable func approve(_ request: Request, context: AdminRequestContext) async throws -> ApprovalView {
        let approval = try await services.approve(try context.parameters.require("id"), by: context.principal)
        context.logger.notice("approval approved", metadata: ["approval.id": "\(approval.id)", "approval.kind": "\(approval.kind.rawValue)"])
        return ApprovalView(approval)
    }

    @Sendable func reject(_ request: Request, context: AdminRequestContext) async throws -> ApprovalView {
        struct Input: Decodable { var reason: String }
        let input = try await request.decodeJSON(Input.self, limit: limit)
        let approval = try await services.reject(try context.parameters.require("id"), reason: input.reason, by: context.principal)
        context.logger.notice("approval rejected", metadata: ["approval.id": "\(approval.id)", "approval.kind": "\(approval.kind.rawValue)"])
        return ApprovalView(approval)
    }
}

/// An approval as the API shows it: the request it holds (without a token's secret hash), and `status`
/// `pending-approval` while it waits. `token` is set only in the reply to the request of a token: the secret,
/// shown this once to its requester.
struct ApprovalView: ResponseEncodable, Codable, Equatable {
    var id: String
    var kind: ApprovalKind
    var status: String
    var state: ApprovalState
    var target: String
    var request: JSONValue
    var requestedBy: String
    var requester: String?
    var requesterName: String?
    var createdAt: Date
    var expiresAt: Date
    var decidedBy: String?
    var decider: String?
    var decidedAt: Date?
    var reason: String?
    var result: String?
    var token: String?
}

extension ApprovalView {
    init(_ a: Approval, secret: String? = nil) {
        var request = JSONValue(parsing: a.payload) ?? .null
        if case .object(var fields) = request {
            fields["secretHash"] = nil
            request = .object(fields)
        }
        self.init(
            id: a.id, kind: a.kind, status: a.state == .pending ? "pending-approval" : a.state.rawValue, state: a.state, target: a.target, request: request,
            requestedBy: a.requestedBy, requester: a.requester, requesterName: a.requesterName, createdAt: a.createdAt, expiresAt: a.expiresAt,
            decidedBy: a.decidedBy, decider: a.decider, decidedAt: a.decidedAt, reason: a.reason, result: a.result, token: secret)
    }
}

/// The reply to an action the settings may hold back: what it made (with `status`), or 202 with the request.
struct GatedReply<Done: ResponseEncodable & Sendable>: ResponseGenerator {
    var status: HTTPResponse.Status
    var gated: Gated<Done>

    func response(from request: Request, context: some RequestContext) throws -> Response {
        switch gated {
        case .done(let value): try EditedResponse(status: status, response: value).response(from: request, context: context)
        case .pending(let approval, let secret):
            try EditedResponse(status: .accepted, response: ApprovalView(approval, secret: secret)).response(from: request, context: context)
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import KontorCore

/// The usage terms. Admins publish versions and read the report (`/api/v1/terms…`); devices fetch the
/// text their policy names and send their person's signed answer (`/api/v1/device/terms…`, signed like a
/// check-in, the reply signed by the server).
struct TermsController {
    let services: Services

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.get, p, "terms", table: table, use: list)
            .on(.post, p, "terms", table: table, use: publish)
            .on(.get, p, "terms/report", table: table, use: report)
            .on(.get, p, "terms/{version}", table: table, use: show)
    }

    func registerDevice(on router: Router<KontorRequestContext>, table: RouteTable) {
        let p = "/api/v1"
        services.signedDeviceRoutes(router, prefix: p)
            .on(.post, p, "device/terms", table: table, use: text)
            .on(.post, p, "device/terms/responses", table: table, use: respond)
    }

    @Sendable func list(_ request: Request, context: AdminRequestContext) async throws -> [UsageTerms] { try await services.terms.list() }

    @Sendable func show(_ request: Request, context: AdminRequestContext) async throws -> UsageTerms {
        try await services.terms.terms(try context.parameters.require("version"))
    }

    @Sendable func publish(_ request: Request, context: AdminRequestContext) async throws -> EditedResponse<UsageTerms> {
        try context.require(.admin)
        let input = try await request.decodeJSON(TermsService.PublishRequest.self, limit: min(services.config.maxBodyBytes, 1024 * 1024))
        let terms = try await services.terms.publish(input, by: context.principal)
        context.logger.notice("usage terms published", metadata: ["terms.version": "\(terms.version)"])
        return EditedResponse(status: .created, response: terms)
    }

    @Sendable func report(_ request: Request, context: AdminRequestContext) async throws -> Response {
        let report = try await services.terms.report(version: try request.queryParameter("version"))
        if try request.queryParameter("format") == "csv" {
            return Response(
                status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"kontor-terms-report.csv\""],
                body: .init(byteBuffer: ByteBuffer(string: report.csv())))
        }
        return try report.response(from: request, context: context)
    }

    /// The text of a version the device's policy names.
    @Sendable func text(_ request: Request, context: DeviceRequestContext) async throws -> Response {
        let input = try request.decodeJSON(TermsTextRequest.self, from: context.body)
        let terms = try await services.terms.terms(input.version)
        return try services.signer.signedJSON(terms, answering: context.verified.message)
    }

    @Sendable func respond(_ request: Request, context: DeviceRequestContext) async throws -> Response {
        let signed = try request.decodeJSON(SignedTermsResponse.self, from: context.body)
        let device = try await services.directory.device(context.device.id)
        let confirmation = try await services.terms.record(signed, from: device)
        if !confirmation.duplicate {
            context.logger.notice(
                "usage terms answered", metadata: ["terms.decision": "\(confirmation.decision.rawValue)", "terms.response": "\(confirmation.id)"])
        }
        return try services.signer.signedJSON(confirmation, answering: context.verified.message)
    }
}

import Foundation
import Hummingbird
import KontorCore

/// Liveness, readiness, metrics and the OpenAPI document.
struct OperationsController {
    let services: Services

    func register(on router: Router<KontorRequestContext>, table: RouteTable) {
        router.on(.get, "", "/healthz", table: table, use: live)
            .on(.get, "", "/readyz", table: table, use: ready)
            .on(.get, "", "/metrics", table: table, use: metrics)
            .on(.get, "", "/api/v1/openapi.json", table: table, use: openAPI)
    }

    @Sendable func live(_ request: Request, context: KontorRequestContext) async throws -> [String: String] { ["status": "ok"] }

    /// Ready when the store answers.
    @Sendable func ready(_ request: Request, context: KontorRequestContext) async throws -> [String: String] {
        do {
            try await services.pingStore()
            return ["status": "ready"]
        } catch {
            context.logger.error("store not ready", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError(.serviceUnavailable, .notReady, "the store does not answer")
        }
    }

    @Sendable func metrics(_ request: Request, context: KontorRequestContext) async throws -> Response {
        var buffer: [UInt8] = []
        services.registry?.emit(into: &buffer)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }

    @Sendable func openAPI(_ request: Request, context: KontorRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
    }
}

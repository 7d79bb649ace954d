import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Logging
import Synchronization

/// Liveness, readiness, metrics and the OpenAPI document.
struct OperationsController {
    let services: Services

    func register(on router: Router<KontorRequestContext>, table: RouteTable) {
        router.on(.get, "", "/healthz", table: table) { _, _ in try jsonResponse(["status": "ok"]) }
        router.on(.get, "", "/readyz", table: table) { _, context in
            do {
                try await services.store.ping()
                return try jsonResponse(["status": "ready"])
            } catch {
                context.logger.error("store not ready", metadata: ["error": "\(String(reflecting: error))"])
                throw APIError(.serviceUnavailable, .notReady, "the store does not answer")
            }
        }
        router.on(.get, "", "/metrics", table: table) { _, _ in
            var buffer: [UInt8] = []
            services.registry?.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        router.on(.get, "", "/api/v1/openapi.json", table: table) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
    }
}

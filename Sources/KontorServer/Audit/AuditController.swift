import Foundation
import Hummingbird
import KontorCore

/// The audit log: read, exported, verified (with signed checkpoints kept outside the database, which
/// catch a rewrite that recomputed every hash), and checkpointed on demand.
struct AuditController {
    let services: Services
    var limit: Int { services.config.maxBodyBytes }

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.get, p, "audit", table: table, use: list)
            .on(.get, p, "audit/verify", table: table, use: verify)
            .on(.post, p, "audit/verify", table: table, use: verifyCheckpoints)
            .on(.post, p, "audit/checkpoints", table: table, use: checkpoint)
            .on(.get, p, "audit/export", table: table, use: export)
    }

    @Sendable func list(_ request: Request, context: AdminRequestContext) async throws -> [AuditEntry] {
        try await services.audit.entries(since: try request.dateQueryParameter("since"), target: try request.queryParameter("target"))
    }

    @Sendable func verify(_ request: Request, context: AdminRequestContext) async throws -> AuditVerification {
        try await services.audit.verify()
    }

    @Sendable func verifyCheckpoints(_ request: Request, context: AdminRequestContext) async throws -> AuditVerification {
        struct Input: Decodable { var checkpoints: [AuditCheckpoint] }
        let input = try await request.decodeJSON(Input.self, limit: limit)
        return try await services.verifyAudit(checkpoints: input.checkpoints)
    }

    @Sendable func checkpoint(_ request: Request, context: AdminRequestContext) async throws -> EditedResponse<SignedCheckpoint> {
        try context.require(.admin)
        return EditedResponse(status: .created, response: try await services.signAuditCheckpoint(by: context.principal))
    }

    /// One JSON object per line, for the data-protection officer.
    @Sendable func export(_ request: Request, context: AdminRequestContext) async throws -> Response {
        var lines = ""
        let encoder = KontorJSON.makeEncoder()
        for entry in try await services.audit.entries() {
            lines += String(decoding: try encoder.encode(entry), as: UTF8.self) + "\n"
        }
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson", .contentDisposition: "attachment; filename=\"kontor-audit.jsonl\""],
            body: .init(byteBuffer: ByteBuffer(string: lines)))
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Archives of retained work data: the device's signed upload (announce, chunks, complete; every answer
/// signed) and the admin API (list, show, fetch, hold, release, purge).
struct ArchivesController {
    let services: Services
    var limit: Int { services.config.maxBodyBytes }

    func registerDevice(on router: Router<KontorRequestContext>, table: RouteTable) {
        let p = "/api/v1"
        services.signedDeviceRoutes(router, prefix: p)
            .on(.post, p, "device/archives", table: table, use: announce)
            .on(.post, p, "device/archives/chunk", table: table, use: chunk)
            .on(.post, p, "device/archives/complete", table: table, use: complete)
    }

    func register(on api: AdminRoutes, table: RouteTable) {
        let p = AdminAPI.prefix
        api.on(.get, p, "archives", table: table, use: list)
            .on(.post, p, "archives/purge-due", table: table, use: purgeDue)
            .on(.get, p, "archives/{id}", table: table, use: show)
            .on(.get, p, "archives/{id}/content", table: table, use: content)
            .on(.post, p, "archives/{id}/hold", table: table, use: hold)
            .on(.post, p, "archives/{id}/release", table: table, use: release)
            .on(.post, p, "archives/{id}/purge", table: table, use: purge)
    }

    // MARK: the device

    @Sendable func announce(_ request: Request, context: DeviceRequestContext) async throws -> Response {
        let input = try request.decodeJSON(ArchiveAnnouncement.self, from: context.body)
        let state = try await services.archives.announce(input, device: context.device)
        return try services.signer.signedJSON(state, answering: context.verified.message)
    }

    @Sendable func chunk(_ request: Request, context: DeviceRequestContext) async throws -> Response {
        let input = try request.decodeJSON(ArchiveChunk.self, from: context.body)
        let state = try await services.archives.chunk(input, device: context.device)
        return try services.signer.signedJSON(state, answering: context.verified.message)
    }

    @Sendable func complete(_ request: Request, context: DeviceRequestContext) async throws -> Response {
        let input = try request.decodeJSON(ArchiveCompletion.self, from: context.body)
        let state = try await services.archives.complete(input, device: context.device)
        context.logger.notice("archive received", metadata: ["archive.id": "\(input.id)"])
        return try services.signer.signedJSON(state, answering: context.verified.message)
    }

    // MARK: admins

    @Sendable func list(_ request: Request, context: AdminRequestContext) async throws -> [ArchiveRecord] {
        try context.require(.auditor)
        return try await services.archives.list(deviceId: try request.queryParameter("device"))
    }

    @Sendable func show(_ request: Request, context: AdminRequestContext) async throws -> ArchiveRecord {
        try context.require(.auditor)
        return try await services.archives.show(try context.parameters.require("id"))
    }

    /// The age file, streamed; only an admin may fetch it, and every fetch is audited.
    @Sendable func content(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try context.require(.admin)
        let (archive, path) = try await services.archives.content(try context.parameters.require("id"), actor: AuditService.actor(context.principal))
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveFileError("cannot open \(path): \(String(cString: strerror(errno)))") }
        context.logger.notice("archive fetched", metadata: ["archive.id": "\(archive.id)"])
        let body = ResponseBody(contentLength: Int(archive.size)) { writer in
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                try await writer.write(ByteBuffer(bytes: buffer[0..<n]))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/octet-stream", .contentDisposition: "attachment; filename=\"\(archive.id).age\"",
                HTTPField.Name("Digest")!: "sha-256=\(Data(Bytes.fromHex(archive.sha256) ?? []).base64EncodedString())",
            ], body: body)
    }

    struct Reason: Decodable {
        var reason: String?
    }

    @Sendable func hold(_ request: Request, context: AdminRequestContext) async throws -> ArchiveRecord {
        try context.require(.admin)
        let input = try await request.decodeJSON(Reason.self, limit: limit)
        return try await services.archives.hold(
            try context.parameters.require("id"), true, reason: input.reason, actor: AuditService.actor(context.principal))
    }

    @Sendable func release(_ request: Request, context: AdminRequestContext) async throws -> ArchiveRecord {
        try context.require(.admin)
        return try await services.archives.hold(try context.parameters.require("id"), false, reason: nil, actor: AuditService.actor(context.principal))
    }

    @Sendable func purge(_ request: Request, context: AdminRequestContext) async throws -> ArchiveRecord {
        try context.require(.admin)
        let input = try await request.decodeJSON(Reason.self, limit: limit)
        return try await services.archives.purge(try context.parameters.require("id"), reason: input.reason ?? "", actor: AuditService.actor(context.principal))
    }

    struct Purged: ResponseEncodable {
        var purged: [String]
    }

    @Sendable func purgeDue(_ request: Request, context: AdminRequestContext) async throws -> Purged {
        try context.require(.admin)
        return Purged(purged: try await services.archives.purgeDue())
    }
}

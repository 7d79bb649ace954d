import Hummingbird
import HummingbirdCore
import Logging

/// Logs each request (method and path) at `level`, like Hummingbird's `LogRequestsMiddleware`, but with the
/// value of a `token` query parameter (the on-call feed's) replaced: secrets are never logged.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let level: Logger.Level

    init(_ level: Logger.Level) { self.level = level }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        context.logger.log(
            level: level, "Request",
            metadata: ["hb.request.path": .string(Self.redacted(request.uri)), "hb.request.method": .string(request.method.rawValue)])
        return try await next(request, context)
    }

    /// The path and query with every `token=` value replaced by `…`.
    static func redacted(_ uri: URI) -> String {
        guard let query = uri.query, !query.isEmpty else { return uri.path }
        let parts = query.split(separator: "&", omittingEmptySubsequences: false).map { part in
            part.lowercased().hasPrefix("token=") ? "token=…" : String(part)
        }
        return uri.path + "?" + parts.joined(separator: "&")
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Logging
import NIOCore

/// Turns every error into the JSON error body. Unknown errors are logged in full at `.error` and
/// answered with a generic 500 that reveals nothing.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try Self.response(to: error, request: request, context: context)
        }
    }

    /// Kept out of `handle`, whose frame every request (a held long poll too) keeps while it runs.
    @inline(never)
    static func response(to error: any Error, request: Request, context: Context) throws -> Response {
        switch error {
        case let error as APIError:
            return try error.response(from: request, context: context)
        case let error as KontorError:
            return try APIError(error).response(from: request, context: context)
        case let error as StoreError:
            // What a service did not turn into words of its own.
            return try APIError(error).response(from: request, context: context)
        case let error as HTTPError:
            let mapped: APIError
            switch error.status {
            case .notFound: mapped = APIError(.notFound, .routeNotFound, "no route \(request.method.rawValue) \(request.uri.path)")
            case .methodNotAllowed: mapped = APIError(.methodNotAllowed, .methodNotAllowed, "\(request.method.rawValue) is not allowed on \(request.uri.path)")
            case .contentTooLarge: mapped = APIError(.contentTooLarge, .payloadTooLarge, "request body is too large")
            case .badRequest: mapped = APIError(.badRequest, .invalidRequest, error.body ?? "bad request")
            case .unsupportedMediaType: mapped = APIError(.unsupportedMediaType, .unsupportedMediaType, error.body ?? "unsupported media type")
            default:
                if error.status.code < 500 {
                    mapped = APIError(error.status, .invalidRequest, error.body ?? error.status.reasonPhrase)
                } else {
                    context.logger.error("HTTP error", metadata: ["error": "\(String(reflecting: error))"])
                    mapped = APIError(error.status, .internalError, "internal error")
                }
            }
            return try mapped.response(from: request, context: context)
        case is NIOTooManyBytesError:
            return try APIError(.contentTooLarge, .payloadTooLarge, "request body is too large").response(from: request, context: context)
        default:
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return try APIError(.internalServerError, .internalError, "internal error; the server log has the details")
                .response(from: request, context: context)
        }
    }
}

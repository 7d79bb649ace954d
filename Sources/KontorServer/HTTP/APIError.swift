import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Logging
import NIOCore

/// An error the API reports to its caller: an HTTP status, a stable code and a message that names
/// what was wrong. Anything else that escapes a handler becomes a logged, generic 500.
public struct APIError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: ErrorCode
    public var message: String
    /// Extra response headers, e.g. Retry-After or WWW-Authenticate.
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code.rawValue): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        let body = (try? KontorJSON.encode(APIErrorBody(code: code.rawValue, message: message))) ?? Data()
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A service's refusal, with the status its kind stands for.
    init(_ error: KontorError) {
        let status: HTTPResponse.Status =
            switch error.kind {
            case .invalid: .badRequest
            case .unprocessable: .unprocessableContent
            case .notFound: .notFound
            case .conflict: .conflict
            case .forbidden: .forbidden
            case .unauthenticated: .unauthorized
            }
        self.init(status, error.code, error.message)
    }

    /// A store's refusal that no service put in its own words.
    init(_ error: StoreError) {
        switch error {
        case .conflict(let what): self.init(.conflict, .conflict, what)
        case .notFound(let what): self.init(.notFound, .notFound, what)
        case .enrollmentTokenUnknown: self.init(.unauthorized, .enrollTokenInvalid, "token: not a valid enrollment token")
        case .enrollmentTokenUnusable(let state): self.init(.forbidden, .forbidden, "token: the enrollment token is \(state.rawValue)")
        case .machineEnrolled(let id, let why): self.init(.conflict, .machineEnrolled, "the machine is enrolled as device \(id) (\(why.rawValue))")
        }
    }

    static func invalid(_ message: String) -> APIError { APIError(.badRequest, .invalidRequest, message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, .notFound, message) }
}

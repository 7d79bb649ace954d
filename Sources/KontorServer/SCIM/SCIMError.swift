import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import NIOCore

/// A refusal in SCIM's own form (RFC 7644 §3.12): `status` as a string, an optional `scimType` and a
/// `detail` that names what was wrong, as `application/scim+json`.
struct SCIMError: Error, HTTPResponseError, Equatable {
    static let schema = "urn:ietf:params:scim:api:messages:2.0:Error"

    var status: HTTPResponse.Status
    var scimType: String?
    var detail: String

    init(status: HTTPResponse.Status, scimType: String?, detail: String) {
        self.status = status
        self.scimType = scimType
        self.detail = detail
    }

    static func invalidSyntax(_ detail: String) -> SCIMError { SCIMError(status: .badRequest, scimType: "invalidSyntax", detail: detail) }
    static func invalidValue(_ detail: String) -> SCIMError { SCIMError(status: .badRequest, scimType: "invalidValue", detail: detail) }
    static func invalidFilter(_ detail: String) -> SCIMError { SCIMError(status: .badRequest, scimType: "invalidFilter", detail: detail) }
    static func invalidPath(_ detail: String) -> SCIMError { SCIMError(status: .badRequest, scimType: "invalidPath", detail: detail) }
    static func noTarget(_ detail: String) -> SCIMError { SCIMError(status: .badRequest, scimType: "noTarget", detail: detail) }
    static func uniqueness(_ detail: String) -> SCIMError { SCIMError(status: .conflict, scimType: "uniqueness", detail: detail) }
    static func notFound(_ detail: String) -> SCIMError { SCIMError(status: .notFound, scimType: nil, detail: detail) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var body: [String: JSONValue] = ["schemas": .array([.string(Self.schema)]), "status": .string(String(status.code)), "detail": .string(detail)]
        if let scimType { body["scimType"] = .string(scimType) }
        var headers: HTTPFields = [.contentType: SCIMController.contentType]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(body).text)))
    }

    /// Any error of a SCIM handler in SCIM's form; nil for one that is not a refusal (a bug: logged as a 500).
    init?(refusal error: any Error) {
        switch error {
        case let error as SCIMError: self = error
        case let error as KontorError:
            switch error.kind {
            case .invalid, .unprocessable: self = .invalidValue(error.message)
            case .notFound: self = .notFound(error.message)
            case .conflict: self = .uniqueness(error.message)
            case .forbidden: self.init(status: .forbidden, scimType: nil, detail: error.message)
            case .unauthenticated: self.init(status: .unauthorized, scimType: nil, detail: error.message)
            }
        case let error as StoreError:
            switch error {
            case .conflict(let what): self = .uniqueness(what)
            case .notFound(let what): self = .notFound(what)
            default: self.init(status: .conflict, scimType: nil, detail: error.description)
            }
        case let error as APIError:
            let type: String? = error.status == .badRequest ? "invalidValue" : nil
            self.init(status: error.status, scimType: type, detail: error.message)
        default: return nil
        }
    }
}

/// Puts every refusal under `/scim/v2` in SCIM's form (the API's own middleware would answer its JSON).
struct SCIMErrorMiddleware: RouterMiddleware {
    typealias Context = KontorRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var refusal = SCIMError(refusal: error)
            if let http = error as? HTTPError, http.status.code < 500 {
                refusal = SCIMError(status: http.status, scimType: nil, detail: http.body ?? http.status.reasonPhrase)
            }
            if error is NIOTooManyBytesError { refusal = SCIMError(status: .contentTooLarge, scimType: nil, detail: "request body is too large") }
            // Anything else is a fault of the server: the API's middleware logs it and answers a bare 500.
            guard let refusal else { throw error }
            return try refusal.response(from: request, context: context)
        }
    }
}

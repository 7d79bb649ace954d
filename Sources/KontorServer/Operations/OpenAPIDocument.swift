import Foundation
import KontorCore

/// The OpenAPI 3.1 description of the whole HTTP API, served at /api/v1/openapi.json. It is rendered from
/// ``OpenAPIDocument/operations``, where each operation says who may call it and what it takes; the
/// refusals that follow from that come from shared responses (``Refusal``) and are added for it — a token
/// operation its 401 (and 403 above the auditor role), a JSON body its 400, 413 and 415, an ID in the path
/// its 404, a signed device request the signature refusals — so no operation can leave one out. Tests hold
/// the document against the registered routes and against every status the server answers.
enum OpenAPIDocument {
    static let json: String = render()

    static func render() -> String {
        var paths: [String: JSONValue] = [:]
        for operation in operations {
            var item = paths[operation.path]?.object ?? [:]
            item[operation.method] = operation.rendered
            paths[operation.path] = .object(item)
        }
        let document: JSONValue = .object([
            "openapi": "3.1.0",
            "info": .object([
                "title": "Kontor API", "version": "1",
                "description": .string(
                    "Device-policy server. Admin routes take `Authorization: Bearer kat_...` and check the token's role (auditor < operator < admin; a feed token reads only the on-call feed). Device routes are signed with RFC 9421 HTTP Message Signatures (ed25519) covering @method, @authority, @path, @query and content-digest, with created, nonce and keyid; replies are signed by the server key. Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code; each response below names the codes it carries."
                ),
            ]),
            "components": .object([
                "securitySchemes": .object([
                    "apiToken": .object(["type": "http", "scheme": "bearer", "description": "An API token, kat_..."]),
                    "deviceSignature": .object([
                        "type": "apiKey", "in": "header", "name": "Signature",
                        "description": "RFC 9421 signature by the device key (label kontor), with Signature-Input and Content-Digest.",
                    ]),
                ]),
                "responses": .object(Dictionary(uniqueKeysWithValues: Refusal.allCases.map { ($0.rawValue, $0.rendered) })),
                "schemas": fragment(schemas, of: "components.schemas"),
            ]),
            "paths": .object(paths),
        ])
        return (try? KontorJSON.encode(document, pretty: true)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// JSON text written in this file, parsed; a typo stops the server at once and fails every test.
    static func fragment(_ text: String, of place: String) -> JSONValue {
        guard let value = JSONValue(parsing: text) else { fatalError("OpenAPI document: \(place) is not JSON: \(text)") }
        return value
    }
}

/// A refusal many operations share, rendered once under components/responses and referred to from each
/// operation that can answer it.
enum Refusal: String, CaseIterable, Sendable {
    case badRequest = "BadRequest"
    case unauthorized = "Unauthorized"
    case forbidden = "Forbidden"
    case notFound = "NotFound"
    case conflict = "Conflict"
    case payloadTooLarge = "PayloadTooLarge"
    case unsupportedMediaType = "UnsupportedMediaType"
    case tooManyRequests = "TooManyRequests"
    case deviceBadRequest = "DeviceBadRequest"
    case signatureRefused = "SignatureRefused"
    case signatureNotYetVerifiable = "SignatureNotYetVerifiable"
    case notReady = "NotReady"

    var status: Int {
        switch self {
        case .badRequest, .deviceBadRequest: 400
        case .unauthorized, .signatureRefused: 401
        case .forbidden: 403
        case .notFound: 404
        case .conflict: 409
        case .payloadTooLarge: 413
        case .unsupportedMediaType: 415
        case .tooManyRequests: 429
        case .signatureNotYetVerifiable, .notReady: 503
        }
    }

    var description: String {
        switch self {
        case .badRequest: "invalid_request: a parameter or the body is missing, not JSON, of the wrong type or out of range; the message names the field"
        case .unauthorized: "unauthorized: no API token, or one that is malformed, unknown or revoked"
        case .forbidden:
            "forbidden: the token's role does not allow this (auditor < operator < admin; a feed token reads only the on-call feed); the message names the role needed"
        case .notFound: "not_found: nothing has the ID or name in the path"
        case .conflict: "conflict: the request does not fit the current state; the message says why"
        case .payloadTooLarge: "payload_too_large: the body is longer than maxBodyBytes (1 MiB by default; device requests at most 256 KiB)"
        case .unsupportedMediaType: "unsupported_media_type: a Content-Type other than application/json"
        case .tooManyRequests: "rate_limited: too many requests from this client address; retry after Retry-After seconds"
        case .deviceBadRequest:
            "digest_mismatch: Content-Digest does not match the body; invalid_request: the body is not the JSON the operation takes, or a field is out of range or holds control characters (the message names it)"
        case .signatureRefused:
            "signature_missing, signature_malformed (including components not covered), signature_invalid, signature_expired (created more than 300 s from the server clock), nonce_replayed, unknown_key, key_revoked (replaced by re-enrollment), or device_revoked in a reply signed by the server key"
        case .signatureNotYetVerifiable:
            "signature_expired with Retry-After: a restarted server on SQLite cannot yet tell a signature created before it started from a replay; sign the request again after Retry-After seconds"
        case .notReady: "not_ready: the store does not answer"
        }
    }

    var headers: [String: JSONValue] {
        switch self {
        case .unauthorized: ["WWW-Authenticate": .object(["description": "Bearer", "schema": .object(["type": "string"])])]
        case .tooManyRequests, .signatureNotYetVerifiable: ["Retry-After": .object(["description": "seconds to wait", "schema": .object(["type": "integer"])])]
        default: [:]
        }
    }

    var rendered: JSONValue {
        var response: [String: JSONValue] = [
            "description": .string(description),
            "content": .object(["application/json": .object(["schema": .object(["$ref": "#/components/schemas/Error"])])]),
        ]
        if !headers.isEmpty { response["headers"] = .object(headers) }
        return .object(response)
    }

    /// A reference to this response from an operation.
    var reference: JSONValue { .object(["$ref": .string("#/components/responses/\(rawValue)")]) }
}

extension JSONValue: ExpressibleByStringLiteral {
    init(stringLiteral value: String) { self = .string(value) }
}

import Foundation
import KontorCore

/// One operation of the HTTP API as the OpenAPI document describes it: who may call it, what it takes,
/// and the responses particular to it. The refusals that follow from access, body and path (``implied``)
/// are added when it is rendered.
struct APIOperation: Sendable {
    /// Who may call an operation.
    enum Access: Sendable {
        /// Anyone: liveness, readiness, metrics, this document.
        case anyone
        /// An API token whose role includes this one.
        case token(Role)
        /// A request signed by a device key (RFC 9421).
        case device
    }

    /// A response of the operation.
    enum Response: Sendable {
        /// A description, no body worth describing.
        case described(String)
        /// A JSON body with this schema (JSON text).
        case json(String, schema: String)
        /// A body of another media type.
        case media(String, type: String)
        /// An error body, with codes particular to the operation.
        case refusal(String)
        /// One of the shared refusals.
        case shared(Refusal)
    }

    /// A query parameter.
    struct Query: Sendable {
        var name: String
        /// JSON Schema, as JSON text.
        var schema: String
        var required = false
        var description: String
    }

    var method: String
    var path: String
    var summary: String
    var access: Access
    var query: [Query] = []
    /// The JSON Schema of the request body (JSON text); nil when the operation takes no body.
    var body: String?
    /// An example body (JSON text).
    var example: String?
    /// Successes, and refusals whose codes are particular to the operation; these win over ``implied``.
    var responses: [Int: Response]

    init(
        _ method: String, _ path: String, _ summary: String, access: Access, query: [Query] = [], body: String? = nil, example: String? = nil,
        responses: [Int: Response]
    ) {
        self.method = method
        self.path = path
        self.summary = summary
        self.access = access
        self.query = query
        self.body = body
        self.example = example
        self.responses = responses
    }

    /// The refusals that follow from how the operation is called.
    var implied: [Int: Refusal] {
        var out: [Int: Refusal] = [:]
        switch access {
        case .anyone: break
        case .token(let role):
            out[401] = .unauthorized
            // A feed token is refused everywhere but the feed; other roles as the operation needs.
            if role != .feed { out[403] = .forbidden }
        case .device:
            out[400] = .deviceBadRequest
            out[401] = .signatureRefused
            out[503] = .signatureNotYetVerifiable
        }
        if body != nil {
            out[400] = out[400] ?? .badRequest
            out[413] = .payloadTooLarge
            out[415] = .unsupportedMediaType
        }
        // Query parameters are checked (types, values, no NUL) and refused naming the parameter.
        if !query.isEmpty { out[400] = out[400] ?? .badRequest }
        if !pathParameters.isEmpty { out[404] = .notFound }
        return out
    }

    /// The names in braces in the path.
    var pathParameters: [String] {
        path.split(separator: "/").compactMap { segment in
            guard let open = segment.firstIndex(of: "{"), let close = segment[open...].firstIndex(of: "}") else { return nil }
            return String(segment[segment.index(after: open)..<close])
        }
    }

    static let pathParameterDescriptions = [
        "id": "An ID as the API returned it", "person": "A person's ID or email address", "name": "A profile's name", "group": "A group's name",
    ]

    /// The operation object of the document.
    var rendered: JSONValue {
        var operation: [String: JSONValue] = ["summary": .string(summary)]
        switch access {
        case .anyone: break
        case .token: operation["security"] = .array([.object(["apiToken": .array([])])])
        case .device: operation["security"] = .array([.object(["deviceSignature": .array([])])])
        }
        var parameters: [JSONValue] = pathParameters.map { name in
            .object([
                "name": .string(name), "in": "path", "required": .bool(true), "schema": .object(["type": "string"]),
                "description": .string(Self.pathParameterDescriptions[name] ?? name),
            ])
        }
        for q in query {
            parameters.append(
                .object([
                    "name": .string(q.name), "in": "query", "required": .bool(q.required), "description": .string(q.description),
                    "schema": OpenAPIDocument.fragment(q.schema, of: "\(method) \(path) ?\(q.name)"),
                ]))
        }
        if !parameters.isEmpty { operation["parameters"] = .array(parameters) }
        if let body {
            var media: [String: JSONValue] = ["schema": OpenAPIDocument.fragment(body, of: "\(method) \(path) body")]
            if let example { media["example"] = OpenAPIDocument.fragment(example, of: "\(method) \(path) example") }
            operation["requestBody"] = .object(["required": .bool(true), "content": .object(["application/json": .object(media)])])
        }
        var rendered: [String: JSONValue] = [:]
        for (status, refusal) in implied { rendered[String(status)] = refusal.reference }
        for (status, response) in responses { rendered[String(status)] = render(response, status: status) }
        operation["responses"] = .object(rendered)
        return .object(operation)
    }

    func render(_ response: Response, status: Int) -> JSONValue {
        switch response {
        case .described(let text): return .object(["description": .string(text)])
        case .json(let text, let schema):
            return .object([
                "description": .string(text),
                "content": .object(["application/json": .object(["schema": OpenAPIDocument.fragment(schema, of: "\(method) \(path) \(status)")])]),
            ])
        case .media(let text, let type): return .object(["description": .string(text), "content": .object([type: .object([:])])])
        case .refusal(let text):
            var object = Refusal.badRequest.rendered.object ?? [:]
            object["description"] = .string(text)
            if let shared = implied[status], !shared.headers.isEmpty { object["headers"] = .object(shared.headers) }
            return .object(object)
        case .shared(let refusal): return refusal.reference
        }
    }
}

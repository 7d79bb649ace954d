import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import KontorServer

/// One operation of the OpenAPI document, with what the status test needs from it: the statuses it
/// lists, how it is authenticated, its parameters and the schema of its JSON body.
struct DocumentedOperation: Sendable, CustomTestStringConvertible {
    enum Security: Sendable { case none, apiToken, deviceSignature }

    struct Parameter: Sendable {
        var name: String
        var location: String
        var required: Bool
        var schema: JSONValue
    }

    var method: HTTPRequest.Method
    var path: String
    var statuses: Set<Int>
    var security: Security
    var parameters: [Parameter]
    var bodySchema: JSONValue?
    var bodyExample: JSONValue?

    var testDescription: String { "\(method.rawValue) \(path)" }
    var pathParameters: [Parameter] { parameters.filter { $0.location == "path" } }
    var queryParameters: [Parameter] { parameters.filter { $0.location == "query" } }

    /// The document served at /api/v1/openapi.json.
    static let document = JSONValue(parsing: OpenAPIDocument.json) ?? .null

    /// Every operation of `document`, in path order.
    static func all(in document: JSONValue = document) -> [DocumentedOperation] {
        let schema = SchemaValues(document: document)
        var operations: [DocumentedOperation] = []
        for (path, item) in (document["paths"]?.object ?? [:]).sorted(by: { $0.key < $1.key }) {
            let shared = item["parameters"]?.array ?? []
            for (method, operation) in (item.object ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let verb = HTTPRequest.Method(method.uppercased()), ["get", "post", "put", "patch", "delete"].contains(method) else { continue }
                let parameters = (shared + (operation["parameters"]?.array ?? [])).map(schema.resolve).map {
                    Parameter(
                        name: $0["name"]?.string ?? "", location: $0["in"]?.string ?? "", required: $0["required"] == .bool(true),
                        schema: schema.resolve($0["schema"] ?? .object([:])))
                }
                let schemes = (operation["security"]?.array ?? []).flatMap { $0.object?.keys.map { $0 } ?? [] }
                let media = operation["requestBody"].map(schema.resolve)?["content"]?["application/json"]
                operations.append(
                    DocumentedOperation(
                        method: verb, path: path, statuses: Set((operation["responses"]?.object ?? [:]).keys.compactMap(Int.init)),
                        security: schemes.contains("deviceSignature") ? .deviceSignature : schemes.contains("apiToken") ? .apiToken : .none,
                        parameters: parameters, bodySchema: media?["schema"], bodyExample: media?["example"]))
            }
        }
        return operations
    }
}

/// Right and wrong values for a JSON Schema of the document: a plausible value, and for one field at a
/// time values of the wrong type, out of range, empty, huge, with control characters, or missing.
struct SchemaValues: Sendable {
    let document: JSONValue
    /// Strings that name something that exists (a person, a device, a profile), tried in every string field.
    var known: [String] = []

    /// `schema` with a `$ref` into the document followed.
    func resolve(_ schema: JSONValue) -> JSONValue {
        guard let ref = schema["$ref"]?.string, ref.hasPrefix("#/") else { return schema }
        var node = document
        for part in ref.dropFirst(2).split(separator: "/") { node = node[String(part)] ?? .null }
        return resolve(node)
    }

    /// The schema's type: its `type`, or what its `const`, `enum` or `properties` imply.
    func type(of schema: JSONValue) -> String {
        let schema = resolve(schema)
        if let type = schema["type"]?.string { return type }
        if schema["properties"] != nil { return "object" }
        if case .string = schema["const"] ?? schema["enum"]?.array?.first ?? .null { return "string" }
        return "any"
    }

    /// A value the schema allows, with every property filled in.
    func sample(_ schema: JSONValue, depth: Int = 0) -> JSONValue {
        let schema = resolve(schema)
        if let value = schema["example"] ?? schema["const"] ?? schema["enum"]?.array?.first { return value }
        switch type(of: schema) {
        case "object":
            guard depth < 6 else { return .object([:]) }
            return .object((schema["properties"]?.object ?? [:]).mapValues { sample($0, depth: depth + 1) })
        case "array": return depth < 6 ? .array([sample(schema["items"] ?? .null, depth: depth + 1)]) : .array([])
        case "integer": return .int(schema["minimum"]?.int ?? 1)
        case "number": return .int(1)
        case "boolean": return .bool(false)
        case "string":
            switch schema["format"]?.string {
            case "date-time": return .string("2027-03-01T12:00:00Z")
            case "email": return .string("fuzz@example.org")
            default: return .string("fuzz")
            }
        default: return .null
        }
    }

    /// Values of another JSON type than the schema's.
    func wrongTypes(_ schema: JSONValue) -> [JSONValue] {
        switch type(of: schema) {
        case "string": [.int(42), .bool(true), .null, .object([:]), .array([])]
        case "integer", "number": [.string("1"), .double(1.5), .bool(true), .null, .object([:])]
        case "boolean": [.string("true"), .int(1), .null]
        case "array": [.object([:]), .string("fuzz"), .null]
        case "object": [.array([]), .string("fuzz"), .int(1), .null]
        default: []
        }
    }

    /// Values of the right type that are empty, huge, out of range or badly formed.
    func edgeValues(_ schema: JSONValue) -> [JSONValue] {
        let schema = resolve(schema)
        switch type(of: schema) {
        case "string":
            var values: [JSONValue] =
                [
                    .string(""), .string(" "), .string(String(repeating: "x", count: 10_000)), .string("a\u{0}b\u{7}\n"), .string("\u{202E}evil\u{200B}"),
                    .string("../../etc/passwd"),
                ] + known.map(JSONValue.string)
            if schema["enum"] != nil || schema["const"] != nil { values.append(.string("bogus")) }
            if schema["format"]?.string == "date-time" { values += [.string("yesterday"), .string("2027-13-45T99:00:00Z")] }
            return values
        case "integer", "number":
            var values: [JSONValue] = [.int(0), .int(-1), .int(Int.max), .int(Int.min), .double(1e300)]
            if let minimum = schema["minimum"]?.int { values.append(.int(minimum - 1)) }
            if let maximum = schema["maximum"]?.int { values.append(.int(maximum + 1)) }
            return values
        case "array":
            let item = sample(schema["items"] ?? .null)
            let count = min((schema["maxItems"]?.int ?? 100) + 1, 10_001)
            return [.array([]), .array(Array(repeating: item, count: count))]
        default: return []
        }
    }

    /// Whole values derived from `value` by changing one field (at any depth) to a wrong value, or by
    /// leaving it out; each labelled with the field and what was done to it.
    func mutations(of value: JSONValue, schema: JSONValue, at path: String = "body", depth: Int = 0) -> [(String, JSONValue)] {
        let schema = resolve(schema)
        var out: [(String, JSONValue)] = wrongTypes(schema).map { ("\(path) = \($0.short)", $0) } + edgeValues(schema).map { ("\(path) = \($0.short)", $0) }
        guard depth < 5 else { return out }
        switch (type(of: schema), value) {
        case ("object", .object(let object)):
            for (name, property) in (schema["properties"]?.object ?? [:]).sorted(by: { $0.key < $1.key }) {
                if object[name] != nil {
                    var without = object
                    without[name] = nil
                    out.append(("\(path) without \(name)", .object(without)))
                }
                for (label, changed) in mutations(of: object[name] ?? sample(property), schema: property, at: "\(path).\(name)", depth: depth + 1) {
                    var copy = object
                    copy[name] = changed
                    out.append((label, .object(copy)))
                }
            }
            var extra = object
            extra["unexpectedField"] = .int(1)
            out.append(("\(path) with an unknown field", .object(extra)))
        case ("array", .array(let items)):
            let item = items.first ?? sample(schema["items"] ?? .null)
            for (label, changed) in mutations(of: item, schema: schema["items"] ?? .null, at: "\(path)[0]", depth: depth + 1) {
                out.append((label, .array([changed] + items.dropFirst())))
            }
        default: break
        }
        return out
    }
}

extension JSONValue {
    /// The value as text of at most 60 characters, for labels.
    var short: String {
        let text = self.text
        return text.count <= 60 ? text : String(text.prefix(40)) + "…(\(text.utf8.count) bytes)"
    }
}

/// One request of the status test, with a label saying what it tries.
struct Probe: Sendable {
    var label: String
    var method: HTTPRequest.Method
    var uri: String
    var headers: HTTPFields = [:]
    var body: Data?

    var description: String { "\(method.rawValue) \(uri.count > 80 ? String(uri.prefix(80)) + "…" : uri) \(label)" }
}

/// Whole bodies that are not the JSON object an operation takes, as raw bytes.
enum RawBodies {
    static func all(maxBodyBytes: Int) -> [(String, Data)] {
        [
            ("an empty body", Data()),
            ("body null", Data("null".utf8)),
            ("body []", Data("[]".utf8)),
            ("body 42", Data("42".utf8)),
            ("body \"text\"", Data(#""text""#.utf8)),
            ("body {", Data("{".utf8)),
            ("body {} with trailing garbage", Data("{}garbage".utf8)),
            ("body {}", Data("{}".utf8)),
            ("a body with a byte-order mark", Data([0xEF, 0xBB, 0xBF] + Array("{}".utf8))),
            ("a body that is not UTF-8", Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D])),
            ("arrays nested 10,000 deep", Data((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8)),
            ("an oversize body", Data(("{\"padding\": \"" + String(repeating: "x", count: maxBodyBytes + 1) + "\"}").utf8)),
        ]
    }
}

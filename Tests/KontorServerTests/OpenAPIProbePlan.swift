import Crypto
import Foundation
import HTTPTypes
import KontorClient
import KontorCore
import Testing

@testable import KontorServer

/// The requests the status test sends to one operation: for API-token operations each caller with known
/// and unknown IDs, then (as admin) every malformed body and parameter; for device operations the same
/// bodies signed properly, and a good body unsigned, badly signed, signed by the wrong key or replayed.
struct ProbePlan {
    let operation: DocumentedOperation
    let world: FuzzWorld
    let now: Date
    let schema: SchemaValues
    let maxBodyBytes = ServerConfig().maxBodyBytes

    init(operation: DocumentedOperation, world: FuzzWorld, now: Date) {
        self.operation = operation
        self.world = world
        self.now = now
        self.schema = SchemaValues(document: DocumentedOperation.document, known: world.knownStrings)
    }

    func probes() throws -> [Probe] {
        switch operation.security {
        case .deviceSignature: try deviceProbes()
        case .apiToken, .none: tokenProbes()
        }
    }

    // MARK: Operations with an API token (or none)

    /// Who calls, as an Authorization header.
    var callers: [(String, HTTPFields)] {
        var out: [(String, HTTPFields)] = [
            ("without a token", [:]), ("with a made-up token", [.authorization: "Bearer kat_madeup"]), ("with an empty bearer", [.authorization: "Bearer "]),
            ("with basic auth", [.authorization: "Basic YWRtaW46YWRtaW4="]),
        ]
        for (role, token) in world.roles { out.append(("as \(role)", [.authorization: "Bearer \(token)"])) }
        return out
    }

    var admin: HTTPFields { [.authorization: "Bearer \(world.admin)"] }

    /// A good body: the document's example, else a value its schema allows.
    var goodBody: JSONValue? { operation.bodySchema.map { operation.bodyExample ?? schema.sample($0) } }

    func tokenProbes() -> [Probe] {
        var probes: [Probe] = []
        let parameter = operation.pathParameters.first?.name
        let known = parameter.map { world.known($0, in: operation.path) } ?? [""]
        let unknown = parameter == nil ? [] : FuzzWorld.unknownIDs
        let body = goodBody.map { Data($0.text.utf8) }
        for (who, headers) in callers {
            for value in known + unknown.prefix(2) {
                probes.append(probe(who, pathValue: value, headers: headers, body: body))
            }
        }
        for value in unknown.dropFirst(2) { probes.append(probe("as admin", pathValue: value, headers: admin, body: body)) }
        let first = known.first ?? ""
        if let good = goodBody, let bodySchema = operation.bodySchema {
            for (label, data) in RawBodies.all(maxBodyBytes: maxBodyBytes) {
                probes.append(probe("as admin with \(label)", pathValue: first, headers: admin, body: data))
            }
            probes.append(probe("as admin without a body", pathValue: first, headers: admin, body: nil, contentType: nil))
            probes.append(probe("as admin with text/plain", pathValue: first, headers: admin, body: body, contentType: "text/plain"))
            for (label, value) in schema.mutations(of: good, schema: bodySchema) {
                probes.append(probe("as admin with \(label)", pathValue: first, headers: admin, body: Data(value.text.utf8)))
            }
        }
        for (label, query) in queryVariants() { probes.append(probe("as admin with \(label)", pathValue: first, query: query, headers: admin, body: body)) }
        return probes
    }

    /// The query string that fills in the required query parameters with good values.
    var goodQuery: [String: String] {
        var query: [String: String] = [:]
        for parameter in operation.queryParameters where parameter.required { query[parameter.name] = schema.sample(parameter.schema).queryText }
        return query
    }

    /// For each query parameter: left out, and given each of a few good and bad values.
    func queryVariants() -> [(String, [String: String])] {
        var out: [(String, [String: String])] = []
        for parameter in operation.queryParameters {
            var without = goodQuery
            without[parameter.name] = nil
            out.append(("no \(parameter.name)", without))
            var values = [schema.sample(parameter.schema).queryText, "", "%00", "%FF", String(repeating: "x", count: 300)]
            values += (schema.wrongTypes(parameter.schema) + schema.edgeValues(parameter.schema)).map(\.queryText)
            values += (parameter.schema["enum"]?.array ?? []).map(\.queryText)
            for value in values {
                var query = goodQuery
                query[parameter.name] = value
                out.append(("\(parameter.name)=\(value.count > 40 ? String(value.prefix(20)) + "…" : value)", query))
            }
        }
        return out
    }

    func uri(pathValue: String, query: [String: String]? = nil) -> String {
        var path = operation.path
        if let parameter = operation.pathParameters.first { path = path.replacingOccurrences(of: "{\(parameter.name)}", with: pathValue) }
        let pairs = (query ?? goodQuery).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return pairs.isEmpty ? path : path + "?" + pairs.joined(separator: "&")
    }

    func probe(
        _ label: String, pathValue: String, query: [String: String]? = nil, headers: HTTPFields, body: Data?, contentType: String? = "application/json"
    ) -> Probe {
        var fields = headers
        if body != nil, let contentType { fields[.contentType] = contentType }
        return Probe(label: label, method: operation.method, uri: uri(pathValue: pathValue, query: query), headers: fields, body: body)
    }
}

extension JSONValue {
    /// The value as it would appear in a query string, percent-encoded.
    var queryText: String {
        let raw: String = if case .string(let s) = self { s } else { text }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return raw.addingPercentEncoding(withAllowedCharacters: allowed) ?? raw
    }
}

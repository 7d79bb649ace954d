import Foundation
import Hummingbird
import KontorCore
import NIOCore

extension Request {
    /// Collects an admin request's body (at most `limit` bytes) and decodes it as JSON, naming the bad
    /// field on failure. Text from people holds no NUL (U+0000): PostgreSQL cannot store it, so it would
    /// fail there with a 500 where SQLite takes it. (Device requests use ``decodeJSON(_:from:)``: their
    /// identifiers refuse every control character and their free text is made visible.)
    func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int) async throws -> T {
        let data = try await collectBody(limit: limit)
        // Valid JSON holds NUL only as the escape \u0000: look closer only at a body that has one.
        if data.range(of: Data(#"\u0000"#.utf8)) != nil, let field = JSONValue(parsing: String(decoding: data, as: UTF8.self))?.firstNUL(at: "") {
            throw APIError.invalid("\(field.isEmpty ? "body" : field): contains the NUL character (U+0000)")
        }
        return try decodeJSON(type, from: data)
    }

    /// The query parameter `name` of an admin request, refused when it holds NUL (see ``decodeJSON(_:limit:)``).
    func queryParameter(_ name: String) throws -> String? {
        guard let value = uri.queryParameters.get(name) else { return nil }
        guard !value.contains("\0") else { throw APIError.invalid("\(name): contains the NUL character (U+0000)") }
        return value
    }

    /// A query parameter that must be an ISO 8601 instant; nil when absent, refused naming it when malformed.
    func dateQueryParameter(_ name: String) throws -> Date? {
        guard let text = try queryParameter(name) else { return nil }
        guard let date = ISO8601.date(from: text) else { throw APIError.invalid("\(name): expected an ISO 8601 instant, found \"\(text)\"") }
        return date
    }

    /// The token of an `Authorization: Bearer …` header; nil when there is no such header.
    var bearerToken: String? {
        guard let header = headers[.authorization], header.lowercased().hasPrefix("bearer ") else { return nil }
        return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    func decodeJSON<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        if let contentType = headers[.contentType], !contentType.lowercased().hasPrefix("application/json") {
            throw APIError(.unsupportedMediaType, .unsupportedMediaType, "content-type must be application/json, not \(contentType)")
        }
        guard !data.isEmpty else { throw APIError.invalid("body: a JSON object is required") }
        do {
            return try KontorJSON.decode(type, from: data)
        } catch let error as DecodingError {
            throw APIError.invalid(error.fieldDescription)
        }
    }

    /// The raw body, refused with 413 past `limit` bytes.
    func collectBody(limit: Int) async throws -> Data {
        do {
            let buffer = try await body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, .payloadTooLarge, "request body is larger than \(limit) bytes")
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, .payloadTooLarge, "request body is larger than \(limit) bytes")
        }
    }
}

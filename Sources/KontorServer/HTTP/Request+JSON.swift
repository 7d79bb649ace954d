import Foundation
import Hummingbird
import KontorCore
import NIOCore

extension Request {
    /// Collects the body (at most `limit` bytes) and decodes it as JSON, naming the bad field on failure.
    func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int) async throws -> T {
        let data = try await collectBody(limit: limit)
        return try decodeJSON(type, from: data)
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

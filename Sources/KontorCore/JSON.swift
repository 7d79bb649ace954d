#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The JSON coders every Kontor component uses on the wire and at rest: camelCase keys,
/// ISO 8601 UTC timestamps, sorted keys so that equal values encode to equal bytes.
public enum KontorJSON {
    /// An encoder with sorted keys and ISO 8601 UTC dates (whole seconds).
    public static func makeEncoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(ISO8601.string(from: date))
        }
        return encoder
    }

    /// A decoder accepting ISO 8601 dates with or without fractional seconds.
    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = ISO8601.date(from: text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "expected an ISO 8601 timestamp such as 2027-01-31T08:00:00Z, found \"\(text)\"")
            }
            return date
        }
        return decoder
    }

    /// Encodes a value with the shared encoder.
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        try makeEncoder(pretty: pretty).encode(value)
    }

    /// Decodes a value with the shared decoder.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try makeDecoder().decode(type, from: data)
    }
}

/// ISO 8601 UTC formatting and parsing, thread-safe and allocation-light.
public enum ISO8601 {
    private static let whole = Date.ISO8601FormatStyle(timeZone: .gmt)
    private static let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    /// `2027-01-31T08:00:00Z`.
    public static func string(from date: Date) -> String { whole.format(date) }

    /// Parses `2027-01-31T08:00:00Z`, `2027-01-31T08:00:00.123Z` or an explicit offset.
    public static func date(from text: String) -> Date? {
        if let d = try? whole.parse(text) { return d }
        if let d = try? fractional.parse(text) { return d }
        // Accept explicit offsets such as +01:00 as well.
        let withOffset = Date.ISO8601FormatStyle()
        return try? withOffset.parse(text)
    }
}

extension DecodingError {
    /// A one-line explanation that names the offending field, e.g. `token: expected a string`.
    public var fieldDescription: String {
        func path(_ keys: [any CodingKey]) -> String {
            let parts = keys.map { key -> String in
                if let index = key.intValue { return "[\(index)]" }
                return key.stringValue
            }
            var out = ""
            for part in parts {
                if part.hasPrefix("[") || out.isEmpty { out += part } else { out += "." + part }
            }
            return out.isEmpty ? "body" : out
        }
        switch self {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(Self.typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(Self.typeName(type)), found null"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): required field is missing"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "body: not valid JSON" }
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "body: could not be decoded"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "a boolean"
        case is Date.Type: return "an ISO 8601 timestamp"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}

import Foundation
import KontorCore

/// Any JSON value, kept exactly (integers apart from other numbers, booleans apart from both): the
/// OpenAPI document is assembled from these, admin bodies are searched for NUL with them, and tests read
/// the document back with them.
enum JSONValue: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses JSON text; nil when it is not JSON.
    init?(parsing text: String) {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return nil }
        self = value
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Order matters: JSONDecoder refuses to read a number as Bool and 1.5 as Int, so each case is exact.
        if c.decodeNil() {
            self = .null
        } else if let v = try? c.decode(Bool.self) {
            self = .bool(v)
        } else if let v = try? c.decode(Int.self) {
            self = .int(v)
        } else if let v = try? c.decode(Double.self) {
            self = .double(v)
        } else if let v = try? c.decode(String.self) {
            self = .string(v)
        } else if let v = try? c.decode([JSONValue].self) {
            self = .array(v)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        }
    }

    /// The value as compact JSON text with sorted keys.
    var text: String { (try? KontorJSON.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null" }

    subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { o[key] } else { nil }
    }

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var int: Int? { if case .int(let i) = self { i } else { nil } }
    var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
}

extension JSONValue {
    /// The path (`groups[0]`, `checkpoints[2].head`) of the first string or key holding NUL (U+0000), if any.
    func firstNUL(at path: String) -> String? {
        switch self {
        case .string(let text): return text.contains("\0") ? path : nil
        case .array(let items):
            for (i, item) in items.enumerated() { if let found = item.firstNUL(at: "\(path)[\(i)]") { return found } }
            return nil
        case .object(let object):
            for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                let child = path.isEmpty ? VisibleText.escaped(key) : "\(path).\(VisibleText.escaped(key))"
                if key.contains("\0") { return child }
                if let found = value.firstNUL(at: child) { return found }
            }
            return nil
        default: return nil
        }
    }
}

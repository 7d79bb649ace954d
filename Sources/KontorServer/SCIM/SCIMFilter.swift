import Foundation
import KontorCore

/// An attribute path of SCIM (RFC 7644 §3.10): an optional schema URN, an attribute and an optional
/// sub-attribute, all compared without regard to case. `urn:…:core:2.0:User:userName` and `userName` are
/// the same path; an extension's attributes keep their URN (`urn:…:enterprise:2.0:User:department`).
struct SCIMPath: Equatable, Sendable, CustomStringConvertible {
    /// The extension URN, nil for the core schema.
    var urn: String?
    var attribute: String
    var subAttribute: String?

    /// Parses `text`; nil when it is not an attribute path.
    init?(_ text: String, coreSchemas: [String]) {
        var rest = text
        urn = nil
        if text.lowercased().hasPrefix("urn:") {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            let schema = String(text[..<colon])
            rest = String(text[text.index(after: colon)...])
            if !coreSchemas.contains(where: { $0.caseInsensitiveCompare(schema) == .orderedSame }) { urn = schema }
        }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), parts.allSatisfy(Self.isName) else { return nil }
        attribute = parts[0]
        subAttribute = parts.count == 2 ? parts[1] : nil
    }

    init(urn: String? = nil, attribute: String, subAttribute: String? = nil) {
        self.urn = urn
        self.attribute = attribute
        self.subAttribute = subAttribute
    }

    /// ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA; `$ref` too.
    static func isName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first.isASCIILetter || s == "$ref" else { return false }
        return s == "$ref" || s.unicodeScalars.allSatisfy { $0.isASCIILetter || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }

    var description: String { [urn, [attribute, subAttribute].compactMap { $0 }.joined(separator: ".")].compactMap { $0 }.joined(separator: ":") }

    /// The values at this path in `resource` (multi-valued attributes flattened), for filters.
    func values(in resource: JSONValue) -> [JSONValue] {
        var container = resource
        if let urn {
            guard let ext = SCIMJSON.member(resource, urn) else { return [] }
            container = ext
        }
        guard let top = SCIMJSON.member(container, attribute) else { return [] }
        let items = top.array ?? [top]
        guard let subAttribute else { return items.flatMap { $0.array ?? [$0] } }
        return items.compactMap { SCIMJSON.member($0, subAttribute) }
    }
}

/// A SCIM filter (RFC 7644 §3.4.2.2): parsed once, evaluated against a resource's JSON.
indirect enum SCIMFilter: Equatable, Sendable {
    enum Operator: String, Sendable, CaseIterable { case eq, ne, co, sw, ew, gt, ge, lt, le }

    case present(SCIMPath)
    case compare(SCIMPath, Operator, JSONValue)
    /// `emails[type eq "work"]`: some element of the multi-valued attribute matches the inner filter.
    case valuePath(SCIMPath, SCIMFilter)
    case and(SCIMFilter, SCIMFilter)
    case or(SCIMFilter, SCIMFilter)
    case not(SCIMFilter)

    /// Attributes whose values compare with case (RFC 7643: `id`, `externalId`, `meta.version` are caseExact).
    static let caseExact: Set<String> = ["id", "externalid", "version"]

    func matches(_ resource: JSONValue) -> Bool {
        switch self {
        case .present(let path):
            return path.values(in: resource).contains { value in
                switch value {
                case .null: false
                case .string(let s): !s.isEmpty
                case .array(let a): !a.isEmpty
                default: true
                }
            }
        case .compare(let path, let op, let expected):
            let exact = Self.caseExact.contains((path.subAttribute ?? path.attribute).lowercased())
            let values = path.values(in: resource)
            if op == .ne { return !values.contains { Self.compare($0, .eq, expected, caseExact: exact) } }
            return values.contains { Self.compare($0, op, expected, caseExact: exact) }
        case .valuePath(let path, let inner):
            var container = resource
            if let urn = path.urn {
                guard let ext = SCIMJSON.member(resource, urn) else { return false }
                container = ext
            }
            guard let items = SCIMJSON.member(container, path.attribute) else { return false }
            return (items.array ?? [items]).contains { inner.matches($0) }
        case .and(let a, let b): return a.matches(resource) && b.matches(resource)
        case .or(let a, let b): return a.matches(resource) || b.matches(resource)
        case .not(let inner): return !inner.matches(resource)
        }
    }

    private static func compare(_ value: JSONValue, _ op: Operator, _ expected: JSONValue, caseExact: Bool) -> Bool {
        switch (value, expected) {
        case (.string(let a), .string(let b)):
            let x = caseExact ? a : a.lowercased()
            let y = caseExact ? b : b.lowercased()
            switch op {
            case .eq: return x == y
            case .ne: return x != y
            case .co: return x.contains(y)
            case .sw: return x.hasPrefix(y)
            case .ew: return x.hasSuffix(y)
            case .gt: return x > y
            case .ge: return x >= y
            case .lt: return x < y
            case .le: return x <= y
            }
        case (.bool(let a), .bool(let b)): return op == .eq ? a == b : op == .ne ? a != b : false
        case (.null, .null): return op == .eq
        default:
            guard let a = number(value), let b = number(expected) else { return false }
            switch op {
            case .eq: return a == b
            case .ne: return a != b
            case .gt: return a > b
            case .ge: return a >= b
            case .lt: return a < b
            case .le: return a <= b
            case .co, .sw, .ew: return false
            }
        }
    }

    private static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }
}

/// Looking up members of SCIM JSON without regard to case, as RFC 7643 §2.1 asks.
enum SCIMJSON {
    static func member(_ value: JSONValue, _ name: String) -> JSONValue? {
        guard case .object(let object) = value else { return nil }
        if let exact = object[name] { return exact }
        return object.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The key under which `name` is stored in `object` (its own spelling), nil when absent.
    static func key(_ object: [String: JSONValue], _ name: String) -> String? {
        object[name] != nil ? name : object.keys.first { $0.caseInsensitiveCompare(name) == .orderedSame }
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}

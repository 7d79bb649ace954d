import Foundation
import KontorCore

/// Parses SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): `not` binds tighter than `and`, which
/// binds tighter than `or`; parentheses group; operators and `and`/`or`/`not` are case-insensitive. Every
/// refusal says where the text went wrong, for a `400 invalidFilter` / `invalidPath`.
struct SCIMFilterParser {
    struct Failure: Error, Equatable { let message: String }

    private enum Token: Equatable {
        case word(String)
        case string(String)
        case open, close, openBracket, closeBracket
    }

    private var tokens: [Token]
    private var index = 0
    private let coreSchemas: [String]

    /// The filter in `text`, at most 4 KiB and nested at most 32 deep.
    static func filter(_ text: String, coreSchemas: [String]) throws -> SCIMFilter {
        guard text.utf8.count <= 4096 else { throw Failure(message: "the filter is longer than 4096 bytes") }
        var parser = SCIMFilterParser(tokens: try tokenize(text), coreSchemas: coreSchemas)
        let filter = try parser.orExpression(depth: 0)
        guard parser.index == parser.tokens.count else { throw Failure(message: "unexpected \(parser.describe(parser.tokens[parser.index])) after the filter") }
        return filter
    }

    /// A PATCH path: an attribute path, or `attr[filter]` optionally followed by `.subAttribute`.
    static func patchPath(_ text: String, coreSchemas: [String]) throws -> (path: SCIMPath, filter: SCIMFilter?, subAttribute: String?) {
        guard let bracket = text.firstIndex(of: "[") else {
            guard let path = SCIMPath(text, coreSchemas: coreSchemas) else { throw Failure(message: "\"\(text)\" is not an attribute path") }
            return (path, nil, nil)
        }
        guard let close = text.lastIndex(of: "]"), close > bracket else { throw Failure(message: "\"\(text)\": [ without ]") }
        guard let path = SCIMPath(String(text[..<bracket]), coreSchemas: coreSchemas), path.subAttribute == nil else {
            throw Failure(message: "\"\(text)\": expected an attribute before [")
        }
        let inner = try filter(String(text[text.index(after: bracket)..<close]), coreSchemas: coreSchemas)
        let tail = text[text.index(after: close)...]
        guard tail.isEmpty || (tail.hasPrefix(".") && SCIMPath.isName(String(tail.dropFirst()))) else {
            throw Failure(message: "\"\(text)\": expected .subAttribute or nothing after ]")
        }
        return (path, inner, tail.isEmpty ? nil : String(tail.dropFirst()))
    }

    private init(tokens: [Token], coreSchemas: [String]) {
        self.tokens = tokens
        self.coreSchemas = coreSchemas
    }

    private mutating func orExpression(depth: Int) throws -> SCIMFilter {
        var left = try andExpression(depth: depth)
        while keyword("or") { left = .or(left, try andExpression(depth: depth)) }
        return left
    }

    private mutating func andExpression(depth: Int) throws -> SCIMFilter {
        var left = try unary(depth: depth)
        while keyword("and") { left = .and(left, try unary(depth: depth)) }
        return left
    }

    private mutating func unary(depth: Int) throws -> SCIMFilter {
        guard depth < 32 else { throw Failure(message: "the filter is nested more than 32 deep") }
        if keyword("not") {
            guard next() == .open else { throw Failure(message: "expected ( after not") }
            let inner = try orExpression(depth: depth + 1)
            guard next() == .close else { throw Failure(message: "expected ) to close not(") }
            return .not(inner)
        }
        if peek() == .open {
            index += 1
            let inner = try orExpression(depth: depth + 1)
            guard next() == .close else { throw Failure(message: "expected ) to close (") }
            return inner
        }
        return try attributeExpression(depth: depth)
    }

    private mutating func attributeExpression(depth: Int) throws -> SCIMFilter {
        guard case .word(let name)? = peek() else { throw Failure(message: "expected an attribute name\(position)") }
        index += 1
        guard let path = SCIMPath(name, coreSchemas: coreSchemas) else { throw Failure(message: "\"\(name)\" is not an attribute path") }
        if peek() == .openBracket {
            index += 1
            let inner = try orExpression(depth: depth + 1)
            guard next() == .closeBracket else { throw Failure(message: "expected ] to close \(name)[") }
            return .valuePath(path, inner)
        }
        guard case .word(let opText)? = next() else { throw Failure(message: "expected an operator after \(name)") }
        if opText.lowercased() == "pr" { return .present(path) }
        guard let op = SCIMFilter.Operator(rawValue: opText.lowercased()) else {
            throw Failure(message: "unknown operator \"\(opText)\" (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
        }
        return .compare(path, op, try value(after: "\(name) \(opText)"))
    }

    private mutating func value(after: String) throws -> JSONValue {
        switch next() {
        case .string(let s)?: return .string(s)
        case .word(let w)?:
            switch w.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "null": return .null
            default:
                if let i = Int(w) { return .int(i) }
                if let d = Double(w), d.isFinite { return .double(d) }
                throw Failure(message: "expected a value after \(after), found \(w) (strings are in double quotes)")
            }
        default: throw Failure(message: "expected a value after \(after)")
        }
    }

    private mutating func keyword(_ word: String) -> Bool {
        guard case .word(let w)? = peek(), w.lowercased() == word else { return false }
        index += 1
        return true
    }

    private func peek() -> Token? { index < tokens.count ? tokens[index] : nil }
    private mutating func next() -> Token? {
        defer { index += 1 }
        return peek()
    }
    private var position: String { index < tokens.count ? ", found \(describe(tokens[index]))" : " at the end" }
    private func describe(_ token: Token) -> String {
        switch token {
        case .word(let w): "\"\(w)\""
        case .string(let s): "the string \"\(s)\""
        case .open: "("
        case .close: ")"
        case .openBracket: "["
        case .closeBracket: "]"
        }
    }

    private static func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        var chars = Array(text.unicodeScalars)[...]
        while let c = chars.first {
            switch c {
            case " ", "\t", "\n", "\r": chars.removeFirst()
            case "(":
                tokens.append(.open)
                chars.removeFirst()
            case ")":
                tokens.append(.close)
                chars.removeFirst()
            case "[":
                tokens.append(.openBracket)
                chars.removeFirst()
            case "]":
                tokens.append(.closeBracket)
                chars.removeFirst()
            case "\"": tokens.append(.string(try string(&chars)))
            default:
                var word = String.UnicodeScalarView()
                while let w = chars.first, !" \t\n\r()[]\"".unicodeScalars.contains(w) { word.append(chars.removeFirst()) }
                tokens.append(.word(String(word)))
            }
        }
        return tokens
    }

    /// A JSON string literal, read with JSON's own rules (escapes included).
    private static func string(_ chars: inout ArraySlice<Unicode.Scalar>) throws -> String {
        var literal = String.UnicodeScalarView([chars.removeFirst()])
        var escaped = false
        while let c = chars.first {
            literal.append(chars.removeFirst())
            if escaped {
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "\"" {
                guard let value = try? JSONDecoder().decode(String.self, from: Data(String(literal).utf8)) else {
                    throw Failure(message: "\(String(literal)) is not a valid string")
                }
                guard !value.contains("\0") else { throw Failure(message: "a string contains the NUL character (U+0000)") }
                return value
            }
        }
        throw Failure(message: "a string is not closed with \"")
    }
}

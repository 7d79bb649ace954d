/// The YAML that agent.yaml is written in: `name: value` lines, comments, quoted or plain values, and
/// lists (`[a, b]` or `- a` lines below the name). Not a YAML library: the agent links no Foundation
/// with ICU (Yams needs it), and anything beyond this (anchors, tags, nesting, block text) is refused
/// by line rather than guessed at.
enum AgentYAML {
    enum Value: Equatable {
        case scalar(String)
        case list([String])
    }

    struct Entry: Equatable {
        var key: String
        var line: Int
        var value: Value
    }

    struct SyntaxError: Error, CustomStringConvertible {
        var line: Int
        var reason: String
        var description: String { "line \(line): \(reason)" }
    }

    /// The settings of `text` in file order.
    static func parse(_ text: String) throws -> [Entry] {
        var entries: [Entry] = []
        // The entry whose `name:` had nothing after it, so `- item` lines below it form its list.
        var openList: Int?
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            let line = try withoutComment(String(raw.hasSuffix("\r") ? raw.dropLast() : raw), line: number)
            if line.allSatisfy({ $0 == " " }) || (number == 1 && line == "---") { continue }
            let item = line.drop { $0 == " " }
            if item.hasPrefix("- ") || item == "-" {
                guard let open = openList, case .list(let items) = entries[open].value else {
                    throw SyntaxError(line: number, reason: "a list item outside a list (write `name:` on the line above)")
                }
                entries[open].value = .list(items + [try scalar(String(item.dropFirst()), line: number)])
                continue
            }
            guard line.first != " " else { throw SyntaxError(line: number, reason: "expected `name: value` at the start of the line") }
            guard let colon = line.firstIndex(of: ":") else { throw SyntaxError(line: number, reason: "expected `name: value`") }
            let key = String(line[..<colon])
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw SyntaxError(line: number, reason: "expected a setting name before ':', found \"\(key)\"")
            }
            guard !entries.contains(where: { $0.key == key }) else { throw SyntaxError(line: number, reason: "\(key) is set twice") }
            let rest = line[line.index(after: colon)...]
            guard rest.isEmpty || rest.first == " " else { throw SyntaxError(line: number, reason: "expected a space after \"\(key):\"") }
            if rest.trimmed.isEmpty {
                openList = entries.count
                entries.append(Entry(key: key, line: number, value: .list([])))
            } else {
                openList = nil
                entries.append(Entry(key: key, line: number, value: try value(String(rest), line: number)))
            }
        }
        // A name with nothing after it and no `- ` lines below is an empty value.
        return entries.map { $0.value == .list([]) && !isFlowList(lines[$0.line - 1]) ? Entry(key: $0.key, line: $0.line, value: .scalar("")) : $0 }
    }

    private static func isFlowList(_ line: Substring) -> Bool {
        guard let colon = line.firstIndex(of: ":") else { return false }
        return line[line.index(after: colon)...].drop { $0 == " " }.hasPrefix("[")
    }

    /// What follows `name:`: nothing (a list may follow), `[a, b]`, or one scalar.
    private static func value(_ text: String, line: Int) throws -> Value {
        let trimmed = text.trimmed
        if trimmed.isEmpty { return .list([]) }
        guard trimmed.hasPrefix("[") else { return .scalar(try scalar(trimmed, line: line)) }
        guard trimmed.hasSuffix("]") else { throw SyntaxError(line: line, reason: "a list opened with '[' must close with ']' on the same line") }
        let inner = trimmed.dropFirst().dropLast()
        if inner.trimmed.isEmpty { return .list([]) }
        var items: [String] = []
        var current = ""
        var quote: Character?
        for c in inner {
            if let q = quote {
                if c == q { quote = nil }
                current.append(c)
            } else if c == "," {
                items.append(try scalar(current, line: line))
                current = ""
            } else {
                if c == "\"" || c == "'" { quote = c }
                current.append(c)
            }
        }
        items.append(try scalar(current, line: line))
        return .list(items)
    }

    /// A plain, `'single'` or `"double"` quoted scalar.
    private static func scalar(_ raw: String, line: Int) throws -> String {
        let text = raw.trimmed
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\"") else { throw SyntaxError(line: line, reason: "unterminated \"quoted\" value") }
            var out = ""
            var escaped = false
            for c in text.dropFirst().dropLast() {
                if escaped {
                    switch c {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "\\", "\"", "/": out.append(c)
                    default: throw SyntaxError(line: line, reason: "unsupported escape \\\(c) in a quoted value")
                    }
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else {
                    out.append(c)
                }
            }
            return out
        }
        if text.hasPrefix("'") {
            guard text.count >= 2, text.hasSuffix("'") else { throw SyntaxError(line: line, reason: "unterminated 'quoted' value") }
            var out = ""
            var afterQuote = false
            for c in text.dropFirst().dropLast() {
                if c == "'", !afterQuote {
                    afterQuote = true
                    continue
                }
                afterQuote = false
                out.append(c)
            }
            return out
        }
        if let first = text.first, "[]{}&*!|>%@`".contains(first) {
            throw SyntaxError(line: line, reason: "\(text) is YAML that agent.yaml does not take (plain values, quoted values and lists only)")
        }
        return text
    }

    /// `line` up to a `#` that starts a comment (at the start or after a space, outside quotes).
    private static func withoutComment(_ line: String, line number: Int) throws -> Substring {
        if line.contains("\t") { throw SyntaxError(line: number, reason: "a tab character (YAML indents with spaces)") }
        var quote: Character?
        var previous: Character = " "
        for index in line.indices {
            let c = line[index]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "#", previous == " " {
                return line[..<index]
            } else if c == "\"" || c == "'", previous == " " || previous == "[" || previous == "," || previous == "-" {
                quote = c
            }
            previous = c
        }
        return line[...]
    }
}

extension StringProtocol {
    fileprivate var trimmed: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

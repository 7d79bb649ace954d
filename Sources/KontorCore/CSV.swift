#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// RFC 4180 CSV, safe to open in a spreadsheet: cells that a spreadsheet would run as a formula
/// (starting with =, +, -, @, tab or carriage return) are prefixed with an apostrophe.
public enum CSV {
    /// One CSV document (CRLF line ends) from a header and rows.
    public static func document(header: [String], rows: [[String]]) -> String {
        ([header] + rows).map { $0.map(cell).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    static func cell(_ value: String) -> String {
        var text = value
        if let first = text.first, "=+-@\t\r".contains(first) { text = "'" + text }
        // By scalar: "\r\n" is one Character, equal to neither "\r" nor "\n".
        guard text.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacing("\"", with: "\"\"") + "\""
    }
}

extension CSV {
    /// Why a CSV text could not be read, with the line (1-based) where it went wrong.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }

        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }
    }

    /// One record and the line it starts on.
    public struct Record: Equatable, Sendable {
        public var line: Int
        public var fields: [String]
    }

    /// Reads RFC 4180 CSV: fields separated by commas, records by CRLF or LF; a field in double quotes may
    /// hold commas, line breaks and doubled quotes. A byte-order mark is skipped, blank lines are left out.
    /// Throws on an unterminated quote or a quote inside an unquoted field, naming the line.
    public static func parse(_ text: String) throws -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var line = 1
        var start = 1
        var quoted = false
        var afterQuote = false
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        func endRecord() {
            fields.append(field)
            if fields.count > 1 || !fields[0].isEmpty || afterQuote { records.append(Record(line: start, fields: fields)) }
            fields = []
            field = ""
            afterQuote = false
        }
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < scalars.count, scalars[i + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        i += 1
                    } else {
                        quoted = false
                        afterQuote = true
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "," {
                fields.append(field)
                field = ""
                afterQuote = false
            } else if c == "\n" || c == "\r" {
                if c == "\r", i + 1 < scalars.count, scalars[i + 1] == "\n" { i += 1 }
                endRecord()
                line += 1
                start = line
            } else if c == "\"" {
                guard field.isEmpty, !afterQuote else { throw ParseError(line: line, message: "a double quote inside a field that does not start with one") }
                quoted = true
            } else {
                guard !afterQuote else { throw ParseError(line: line, message: "text after the closing double quote of a field") }
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if quoted { throw ParseError(line: start, message: "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty || afterQuote { endRecord() }
        return records
    }
}

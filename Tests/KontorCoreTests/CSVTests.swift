import Foundation
import KontorCore
import KontorTestSupport
import Testing

@Suite("CSV (RFC 4180) reading")
struct CSVTests {
    @Test("quotes, doubled quotes, commas and line breaks in fields, CRLF and LF, a byte-order mark, blank lines; each record with its line")
    func reads() throws {
        let text =
            "\u{FEFF}email,name,groups\r\nada@example.org,\"Lovelace, Ada\",\"techs;office\"\r\n\r\nbo@example.org,\"Bo \"\"the\"\" Builder\",\n\"cy@example.org\",\"two\nlines\",x\n"
        let records = try CSV.parse(text)
        #expect(records.map(\.line) == [1, 2, 4, 5])
        #expect(records[0].fields == ["email", "name", "groups"])
        #expect(records[1].fields == ["ada@example.org", "Lovelace, Ada", "techs;office"])
        #expect(records[2].fields == ["bo@example.org", "Bo \"the\" Builder", ""])
        #expect(records[3].fields == ["cy@example.org", "two\nlines", "x"])
        #expect(try CSV.parse("a,b").map(\.fields) == [["a", "b"]])
        #expect(try CSV.parse("\"\"\n").map(\.fields) == [[""]])
        #expect(try CSV.parse("").isEmpty)
    }

    @Test("broken quoting is refused naming the line")
    func refuses() {
        #expect(throws: CSV.ParseError(line: 2, message: "a quoted field is not closed")) { try CSV.parse("a,b\n\"open,c\nmore\n") }
        #expect(throws: CSV.ParseError(line: 1, message: "a double quote inside a field that does not start with one")) { try CSV.parse("ab\"c,d") }
        #expect(throws: CSV.ParseError(line: 3, message: "text after the closing double quote of a field")) { try CSV.parse("a\nb\n\"c\"d\n") }
    }

    @Test("what CSV.document writes reads back the same (cells a spreadsheet would not run as formulas)")
    func roundTrip() throws {
        let rows = [["a", "b, c", "say \"hi\""], ["multi\r\nline", "", "ü€😀"]]
        let read = try CSV.parse(CSV.document(header: ["x", "y", "z"], rows: rows))
        #expect(read.map(\.fields) == [["x", "y", "z"]] + rows)
    }

    @Test(
        "what Python's csv module writes (an independent implementation) reads back field for field",
        .enabled(if: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil, "needs KONTOR_INTEROP_PYTHON"))
    func python() throws {
        let rows = [
            ["ada@example.org", "Lovelace, Ada", "techs;office", "+49 30 1"], ["q\"uote", "\"", "", " spaced "],
            ["line\nbreak", "crlf\r\nhere", "tab\tx", "ü"],
        ]
        let script = """
            import csv, json, sys
            rows = json.load(sys.stdin)
            w = csv.writer(sys.stdout, lineterminator=sys.argv[1])
            w.writerows(rows)
            """
        for terminator in ["\r\n", "\n"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"]!)
            process.arguments = ["-c", script, terminator]
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: rows))
            try input.fileHandleForWriting.close()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitForExit()
            #expect(process.terminationStatus == 0)
            #expect(try CSV.parse(String(decoding: data, as: UTF8.self)).map(\.fields) == rows, "terminator \(terminator.debugDescription)")
        }
    }
}

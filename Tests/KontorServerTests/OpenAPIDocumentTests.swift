import Foundation
import KontorTestSupport
import Testing

@testable import KontorServer

@Suite("OpenAPI document shape")
struct OpenAPIDocumentTests {
    let document = DocumentedOperation.document

    /// Every `$ref` string anywhere under `value`.
    func references(in value: JSONValue) -> [String] {
        switch value {
        case .object(let object): (object["$ref"]?.string.map { [$0] } ?? []) + object.values.flatMap(references)
        case .array(let array): array.flatMap(references)
        default: []
        }
    }

    @Test("every reference in the document resolves")
    func referencesResolve() {
        let schema = SchemaValues(document: document)
        let refs = Set(references(in: document))
        #expect(refs.count > 10)
        for ref in refs.sorted() {
            #expect(schema.resolve(.object(["$ref": .string(ref)])) != .null, "\(ref) does not resolve")
        }
    }

    @Test("every operation declares its path parameters, a success, and the refusals of its access, body, query and path")
    func operationsAreComplete() {
        let operations = DocumentedOperation.all()
        #expect(operations.count == OpenAPIDocument.operations.count)
        for operation in operations {
            let inPath = operation.path.split(separator: "/").compactMap { segment -> String? in
                guard let open = segment.firstIndex(of: "{"), let close = segment.firstIndex(of: "}") else { return nil }
                return String(segment[segment.index(after: open)..<close])
            }
            #expect(operation.pathParameters.map(\.name) == inPath, "\(operation.testDescription)")
            #expect(operation.statuses.contains { (200..<300).contains($0) }, "\(operation.testDescription) lists no success")
            var implied: Set<Int> = []
            if operation.security == .apiToken { implied.insert(401) }
            if operation.security == .deviceSignature { implied.formUnion([400, 401, 503]) }
            if operation.bodySchema != nil { implied.formUnion([400, 413, 415]) }
            if !operation.queryParameters.isEmpty { implied.insert(400) }
            if !inPath.isEmpty { implied.insert(404) }
            #expect(implied.isSubset(of: operation.statuses), "\(operation.testDescription) lacks \(implied.subtracting(operation.statuses).sorted())")
        }
    }

    @Test("every operation a feed token may not use lists 403; the feed itself, which every role reads, does not")
    func forbiddenListedWhereARoleIsNeeded() {
        for operation in OpenAPIDocument.operations {
            guard case .token(let role) = operation.access else { continue }
            let rendered = operation.rendered["responses"]?.object ?? [:]
            #expect((rendered["403"] != nil) == (role != .feed), "\(operation.method) \(operation.path)")
        }
    }

    /// The test command of the README installs openapi-spec-validator next to http-message-signatures and
    /// sets KONTOR_INTEROP_PYTHON; CI always runs this.
    @Test(
        "the document is valid OpenAPI 3.1 by openapi-spec-validator (PyPI)",
        .enabled(if: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil, "set KONTOR_INTEROP_PYTHON to a Python with openapi-spec-validator"))
    func validByOpenAPISpecValidator() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-openapi-\(UUID().uuidString).json")
        try Data(OpenAPIDocument.json.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"]!)
        process.arguments = [
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')",
            file.path,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitForExit()
        #expect(process.terminationStatus == 0 && text.contains("valid"), "\(text)")
    }
}

import Foundation
import KontorCore
import Testing

/// Kontor's age encryption and tar writer against independent implementations: pyrage (PyPI, the Rust
/// `rage` underneath) decrypts what Kontor encrypts, Kontor decrypts what pyrage encrypts, keys cross both
/// ways, and Python's `tarfile` lists and extracts an encrypted Kontor archive. Run by Interop/age_interop.py.
@Suite(
    "age and tar read by pyrage and tarfile (PyPI, Python)", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil, "set KONTOR_INTEROP_PYTHON to a Python with pyrage"))
struct AgeInteropEndToEndTests {
    static let sizes = [0, 1, 65536, 65537, 200 * 1024]
    static let longName =
        "Kündigungsvereinbarung für Ådne Øberg – Rückgabe der Arbeitsmittel, Schlüssel und Zugänge, Entwurf vom 30.11.2026 (endgültig).txt"

    struct Expected: Encodable {
        var name: String
        var type: String
        var mode: UInt32
        var mtime: Int64
        var uid = 0
        var gid = 0
        var size: UInt64
        var plain: String?
    }

    let folder: URL
    let python = ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] ?? "python3"
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Interop/age_interop.py")

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-age-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: folder.appendingPathComponent(name))) }
    func write(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: folder.appendingPathComponent(name)) }
    func text(_ name: String) throws -> String { String(decoding: try read(name), as: UTF8.self).trimmingWhitespace() }

    @Test("pyrage decrypts what Kontor encrypts and the reverse, with keys made by either, and tarfile reads Kontor's encrypted archive")
    func interop() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = SystemRandomNumberGenerator()
        let kontor = AgeIdentity.generate(using: &generator)
        try write("kontor.recipient", Array(kontor.recipient.description.utf8))
        let prepared = try await runCommand(python, [script.path, "prepare", folder.path])
        try #require(prepared.status == 0, "\(prepared.stderr)")

        // (c) pyrage encrypts, Kontor decrypts: sizes around the chunk boundary, and a file for four recipients.
        for name in Self.sizes.map({ "pyrage-\($0)" }) + ["pyrage-multi"] {
            #expect(try AgeDecryptor.decrypt(read(name + ".age"), identity: kontor) == read(name + ".plain"), "\(name)")
        }
        // (a) Kontor encrypts to its own identity, which pyrage parses; (b) to a recipient pyrage made.
        let pyrageRecipient = try AgeRecipient(text("pyrage.recipient"))
        try write("kontor.identity", Array(kontor.secretText.utf8))
        for size in Self.sizes {
            let plain = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            for (name, recipient) in [("kontor-\(size)", kontor.recipient), ("to-pyrage-\(size)", pyrageRecipient)] {
                try write(name + ".plain", plain)
                try write(name + ".age", AgeEncryptor.encrypt(plain, to: [recipient], using: &generator))
            }
        }
        // (d) A tar stream, encrypted while it is written, for pyrage's recipient.
        try writeArchive(to: pyrageRecipient)

        let checked = try await runCommand(python, [script.path, "check", folder.path])
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.stdout.contains("\"files\": \(2 * Self.sizes.count)"), "\(checked.stdout)")
        #expect(checked.stdout.contains("\"entries\": ["), "\(checked.stdout)")
    }

    /// Writes archive.tar (the plain stream), archive.tar.age and archive.json (what tarfile must list).
    func writeArchive(to recipient: AgeRecipient) throws {
        let mtime: Int64 = 1_767_225_600
        let files: [(String, [UInt8])] = [
            ("Verträge/" + Self.longName, Array("Ådne Øberg gibt Laptop und Schlüssel zurück.\n".utf8)),
            ("leer.txt", []),
            ("Mail/big.bin", (0..<(70 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }),
        ]
        var expected = [
            Expected(name: "Verträge", type: "directory", mode: 0o750, mtime: mtime, size: 0),
            Expected(name: "Mail", type: "directory", mode: 0o700, mtime: mtime, size: 0),
        ]
        var entries: [(TarEntry, [UInt8])] = expected.map { (TarEntry(name: $0.name, kind: .directory, mode: $0.mode, mtime: mtime), []) }
        for (index, (name, contents)) in files.enumerated() {
            try write("entry-\(index).plain", contents)
            expected.append(Expected(name: name, type: "file", mode: 0o640, mtime: mtime, size: UInt64(contents.count), plain: "entry-\(index).plain"))
            entries.append((TarEntry(name: name, kind: .file(size: UInt64(contents.count)), mode: 0o640, mtime: mtime), contents))
        }
        // Order as an archiver walks: a directory before its files.
        let order = [0, 2, 3, 1, 4]
        var encryptor = try AgeEncryptor(recipients: [recipient])
        var tar: [UInt8] = []
        var file = encryptor.header
        func emit(_ bytes: [UInt8]) {
            tar += bytes
            file += encryptor.update(bytes)
        }
        for index in order {
            let (entry, contents) = entries[index]
            emit(try TarWriter.header(for: entry))
            for start in stride(from: 0, to: contents.count, by: 4096) { emit(Array(contents[start..<min(contents.count, start + 4096)])) }
            emit(TarWriter.padding(after: UInt64(contents.count)))
        }
        emit(TarWriter.end())
        file += encryptor.finish()
        try write("archive.tar", tar)
        try write("archive.tar.age", file)
        let encoder = JSONEncoder()
        try write("archive.json", Array(try encoder.encode(order.map { expected[$0] })))
    }
}

import Testing

@testable import KontorCore

@Suite("tar (pax/ustar) writer")
struct TarTests {
    static func field(_ block: ArraySlice<UInt8>, _ offset: Int, _ length: Int) -> String {
        let start = block.startIndex + offset
        let bytes = block[start..<(start + length)]
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    static func checksumIsValid(_ block: ArraySlice<UInt8>) -> Bool {
        var copy = Array(block)
        let stored = Int(field(block, 148, 7), radix: 8)
        copy.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
        return stored == copy.reduce(0) { $0 + Int($1) }
    }

    @Test("a file's ustar header holds its name, mode, owner, size, time, type and checksum field by field")
    func fileHeader() throws {
        let header = try TarWriter.header(for: TarEntry(name: "Mail/2026/invoice.pdf", kind: .file(size: 70_000), mode: 0o100640, mtime: 1_767_225_600))
        #expect(header.count == 512)
        let block = header[...]
        #expect(Self.field(block, 0, 100) == "Mail/2026/invoice.pdf")
        #expect(Self.field(block, 100, 8) == "0000640")
        #expect(Self.field(block, 108, 8) == "0000000")
        #expect(Self.field(block, 116, 8) == "0000000")
        #expect(Self.field(block, 124, 12) == "00000210560")  // 70000 in octal
        #expect(Self.field(block, 136, 12) == "15125334400")  // 1767225600 in octal
        #expect(header[156] == UInt8(ascii: "0"))
        #expect(Array(header[257..<265]) == Array("ustar\u{0}00".utf8))
        #expect(Self.field(block, 265, 32) == "root")
        #expect(header[154] == 0 && header[155] == 0x20)
        #expect(Self.checksumIsValid(block))
    }

    @Test("a directory is type 5 with a trailing slash and no size")
    func directoryHeader() throws {
        let header = try TarWriter.header(for: TarEntry(name: "Mail", kind: .directory, mode: 0o755, mtime: 0))
        #expect(Self.field(header[...], 0, 100) == "Mail/")
        #expect(header[156] == UInt8(ascii: "5"))
        #expect(Self.field(header[...], 124, 12) == "00000000000")
    }

    @Test(
        "a long or non-ASCII name goes into a pax path record; the ustar name is an ASCII stand-in",
        arguments: [
            String(repeating: "Verträge/", count: 14) + "Kündigung.txt", "Grüße.txt", String(repeating: "a", count: 101),
        ])
    func paxPath(name: String) throws {
        let header = try TarWriter.header(for: TarEntry(name: name, kind: .file(size: 3), mode: 0o644, mtime: 5))
        #expect(header.count == 3 * 512)
        #expect(header[156] == UInt8(ascii: "x"))
        #expect(Self.checksumIsValid(header[0..<512]) && Self.checksumIsValid(header[1024..<1536]))
        let size = try #require(Int(Self.field(header[...], 124, 12), radix: 8))
        let record = String(decoding: header[512..<(512 + size)], as: UTF8.self)
        #expect(record == "\(size) path=\(name)\n")
        #expect(header[(512 + size)..<1024].allSatisfy { $0 == 0 })
        let standIn = Self.field(header[1024...], 0, 100)
        #expect(standIn.utf8.allSatisfy { $0 < 0x80 } && standIn.utf8.count <= 100)
        #expect(header[1024 + 156] == UInt8(ascii: "0"))
    }

    @Test("a pax record's length counts its own digits, also where adding a digit changes the count")
    func paxRecordLength() {
        for valueLength in 80...110 {
            let record = TarWriter.paxRecord("path", String(repeating: "x", count: valueLength))
            let declared = Int(String(decoding: record.prefix { $0 != 0x20 }, as: UTF8.self))
            #expect(declared == record.count)
        }
    }

    @Test("a file of 8 GiB or more gets a pax size record")
    func hugeFile() throws {
        let size: UInt64 = 9 << 30
        let header = try TarWriter.header(for: TarEntry(name: "disk.img", kind: .file(size: size), mode: 0o600, mtime: 1))
        let recordSize = try #require(Int(Self.field(header[...], 124, 12), radix: 8))
        #expect(String(decoding: header[512..<(512 + recordSize)], as: UTF8.self) == "\(recordSize) size=\(size)\n")
        #expect(Self.field(header[1024...], 124, 12) == "00000000000")
    }

    @Test("a modification time before 1970 gets a pax mtime record and 0 in the ustar field")
    func negativeMtime() throws {
        let header = try TarWriter.header(for: TarEntry(name: "old.txt", kind: .file(size: 1), mode: 0o644, mtime: -86400))
        let recordSize = try #require(Int(Self.field(header[...], 124, 12), radix: 8))
        #expect(String(decoding: header[512..<(512 + recordSize)], as: UTF8.self) == "\(recordSize) mtime=-86400\n")
        #expect(Self.field(header[1024...], 136, 12) == "00000000000")
    }

    @Test("padding fills the last 512-byte block and the end is two zero blocks")
    func paddingAndEnd() {
        #expect(TarWriter.padding(after: 0).isEmpty)
        #expect(TarWriter.padding(after: 1).count == 511)
        #expect(TarWriter.padding(after: 512).isEmpty)
        #expect(TarWriter.padding(after: 70_000).count == 512 - 70_000 % 512)
        #expect(TarWriter.end() == [UInt8](repeating: 0, count: 1024))
    }

    @Test(
        "names that could escape the archive root or hide a NUL are refused",
        arguments: [
            ("", TarError.emptyName), ("/etc/passwd", .absoluteName("/etc/passwd")), ("../x", .parentReference("../x")),
            ("a/../../x", .parentReference("a/../../x")), ("a/./b", .parentReference("a/./b")), ("a\u{0}b", .nulInName),
            ("a//b", .emptyComponent("a//b")), ("a/", .emptyComponent("a/")),
        ])
    func refusedNames(name: String, error: TarError) {
        #expect(throws: error) { try TarWriter.header(for: TarEntry(name: name, kind: .file(size: 0), mode: 0o644, mtime: 0)) }
    }
}

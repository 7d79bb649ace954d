import Foundation
import Testing

@testable import KontorCore

@Suite("ZIP writer (stored)")
struct ZipTests {
    @Test("CRC-32 matches the check value of the standard and of zlib")
    func crc() {
        #expect(ZipWriter.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(ZipWriter.crc32([]) == 0)
        #expect(ZipWriter.crc32(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
    }

    @Test("the layout: a local header per file with its data, the central directory, the end record pointing at it")
    func layout() throws {
        let zip = try ZipWriter.archive(
            [.init(name: "report.json", data: Array("{}".utf8)), .init(name: "Prüfbericht.txt", data: [])],
            modified: Date(timeIntervalSince1970: 1_764_547_200))  // 2025-12-01T00:00:00Z
        func u16(_ at: Int) -> Int { Int(zip[at]) | Int(zip[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        #expect(u32(0) == 0x0403_4B50 && u16(6) == 0x0800 && u16(8) == 0)
        #expect(u16(10) == 0 && u16(12) == (2025 - 1980) << 9 | 12 << 5 | 1, "DOS time 00:00:00, date 2025-12-01")
        #expect(u32(14) == Int(ZipWriter.crc32(Array("{}".utf8))) && u32(18) == 2 && u32(22) == 2 && u16(26) == 11)
        let end = zip.count - 22
        #expect(u32(end) == 0x0605_4B50 && u16(end + 8) == 2 && u16(end + 10) == 2)
        let directory = u32(end + 16)
        #expect(u32(directory) == 0x0201_4B50 && u32(end + 12) == end - directory)
        #expect(u32(directory + 42) == 0, "the first file's local header is at 0")
    }

    @Test("names that would leave the folder they are unpacked in are refused", arguments: ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\b"])
    func badNames(name: String) {
        #expect(throws: ZipWriter.Problem.badName(name)) { try ZipWriter.archive([.init(name: name, data: [])], modified: Date()) }
    }
}

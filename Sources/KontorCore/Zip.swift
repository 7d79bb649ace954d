#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A ZIP archive of a few small files, stored without compression (APPNOTE 6.3.x: local headers, the central
/// directory, the end record; no ZIP64, so at most 65,535 files of under 4 GiB): what the DPO pack needs, in
/// a format every system opens. Names are UTF-8 (flag bit 11).
public struct ZipWriter: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var data: [UInt8]
        public init(name: String, data: [UInt8]) {
            self.name = name
            self.data = data
        }
    }

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case badName(String)
        case tooLarge(String)

        public var description: String {
            switch self {
            case .badName(let name): "zip entry \"\(name)\": names are relative, without \"..\", empty parts or a backslash"
            case .tooLarge(let name): "zip entry \"\(name)\": 4 GiB or more needs ZIP64, which this writer does not make"
            }
        }
    }

    /// The archive's bytes; every file dated `modified` (DOS time, local fields taken as UTC).
    public static func archive(_ entries: [Entry], modified: Date) throws(Problem) -> [UInt8] {
        let (time, date) = dosTime(modified)
        var out: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries {
            let parts = entry.name.split(separator: "/", omittingEmptySubsequences: false)
            guard !entry.name.isEmpty, !entry.name.hasPrefix("/"), !entry.name.contains("\\"), !parts.contains(where: { $0.isEmpty || $0 == ".." }) else {
                throw .badName(entry.name)
            }
            guard entry.data.count < 0xFFFF_FFFF, out.count < 0xFFFF_FFFF else { throw .tooLarge(entry.name) }
            let name = Array(entry.name.utf8)
            let crc = crc32(entry.data)
            let offset = UInt32(out.count)
            // Version 2.0, flag 0x0800 (UTF-8 names), method 0 (stored).
            var common = le16(20) + le16(0x0800) + le16(0) + le16(time) + le16(date) + le32(crc)
            common += le32(UInt32(entry.data.count)) + le32(UInt32(entry.data.count)) + le16(UInt16(name.count)) + le16(0)
            out += le32(0x0403_4B50) + common + name + entry.data
            central += le32(0x0201_4B50) + le16(0x031E) + common + le16(0) + le16(0) + le16(0) + le32(0o100644 << 16) + le32(offset) + name
        }
        let start = UInt32(out.count)
        out += central
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(UInt16(entries.count)) + le16(UInt16(entries.count))
        out += le32(UInt32(central.count)) + le32(start) + le16(0)
        return out
    }

    /// CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320), as ZIP and gzip use it.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = (crc >> 8) ^ table[Int((crc ^ UInt32(byte)) & 0xFF)] }
        return crc ^ 0xFFFF_FFFF
    }

    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// DOS time and date fields (2-second resolution, years 1980–2107).
    static func dosTime(_ date: Date) -> (UInt16, UInt16) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = Int(seconds.quotientAndRemainder(dividingBy: 86_400).quotient) - (seconds < 0 && seconds % 86_400 != 0 ? 1 : 0)
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        let (y, m, d) = HolidayCalendar.civil(dayNumber: days)
        let year = min(max(y, 1980), 2107)
        let time = UInt16(secondOfDay / 3600) << 11 | UInt16(secondOfDay / 60 % 60) << 5 | UInt16(secondOfDay % 60 / 2)
        let day = UInt16(year - 1980) << 9 | UInt16(m) << 5 | UInt16(d)
        return (time, day)
    }

    private static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
}

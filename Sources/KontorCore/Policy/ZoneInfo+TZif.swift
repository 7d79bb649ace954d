#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A TZif file that could not be read, naming the zone and what was wrong.
public struct ZoneInfoError: Error, CustomStringConvertible {
    public let description: String
}

extension ZoneInfo {
    /// Parses a TZif file (RFC 8536, versions 1 to 4). Leap-second records are skipped (the `right/` zones
    /// are not meant for civil time).
    public init(tzif bytes: [UInt8], identifier: String) throws {
        func fail(_ what: String) -> ZoneInfoError { ZoneInfoError(description: "time zone \(identifier): \(what)") }
        var reader = TZifReader(bytes: bytes)
        guard let header = reader.header() else { throw fail("not a TZif file") }
        var block = header
        var timeSize = 4
        if header.version >= 2 {
            // Skip the 32-bit block; the 64-bit one follows with its own header.
            guard reader.skip(header.blockSize(timeSize: 4)), let second = reader.header() else { throw fail("truncated version \(header.version) data") }
            block = second
            timeSize = 8
        }
        guard block.typeCount >= 1, let body = reader.body(block, timeSize: timeSize) else { throw fail("truncated or malformed data") }
        var rule: PosixZoneRule?
        if header.version >= 2, let footer = reader.footer(), !footer.isEmpty {
            guard let parsed = PosixZoneRule(footer) else { throw fail("unreadable rule \"\(footer)\"") }
            rule = parsed
        }
        guard zip(body.times, body.times.dropFirst()).allSatisfy({ $0 < $1 }) else { throw fail("transitions out of order") }
        self.init(
            identifier: identifier, transitions: body.times, offsets: body.indices.map { body.offsets[$0] }, initialOffset: body.offsets[0], rule: rule)
    }
}

/// Reads the parts of a TZif file: headers, the data block, the footer.
private struct TZifReader {
    struct Header {
        var version: Int
        var utLocalCount, standardWallCount, leapCount, timeCount, typeCount, charCount: Int

        func blockSize(timeSize: Int) -> Int {
            timeCount * timeSize + timeCount + typeCount * 6 + charCount + leapCount * (timeSize + 4) + standardWallCount + utLocalCount
        }
    }

    let bytes: [UInt8]
    var at = 0

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, bytes.count - at >= count else { return false }
        at += count
        return true
    }

    mutating func integer(_ size: Int) -> Int64? {
        guard bytes.count - at >= size else { return nil }
        var value: UInt64 = 0
        for byte in bytes[at..<(at + size)] { value = value << 8 | UInt64(byte) }
        at += size
        // Sign-extend 32-bit values.
        return size == 4 ? Int64(Int32(bitPattern: UInt32(value))) : Int64(bitPattern: value)
    }

    mutating func header() -> Header? {
        guard bytes.count - at >= 44, Array(bytes[at..<(at + 4)]) == Array("TZif".utf8) else { return nil }
        let versionByte = bytes[at + 4]
        let version: Int
        switch versionByte {
        case 0: version = 1
        case UInt8(ascii: "2")...UInt8(ascii: "9"): version = Int(versionByte - UInt8(ascii: "0"))
        default: return nil
        }
        at += 20
        var counts: [Int] = []
        for _ in 0..<6 {
            guard let n = integer(4), (0...1_000_000).contains(n) else { return nil }
            counts.append(Int(n))
        }
        return Header(
            version: version, utLocalCount: counts[0], standardWallCount: counts[1], leapCount: counts[2], timeCount: counts[3], typeCount: counts[4],
            charCount: counts[5])
    }

    /// Transition times, the local time type of each, and each type's UTC offset.
    mutating func body(_ header: Header, timeSize: Int) -> (times: [Int64], indices: [Int], offsets: [Int])? {
        guard bytes.count - at >= header.blockSize(timeSize: timeSize) else { return nil }
        var times: [Int64] = []
        for _ in 0..<header.timeCount { times.append(integer(timeSize)!) }
        let indices = bytes[at..<(at + header.timeCount)].map(Int.init)
        at += header.timeCount
        guard indices.allSatisfy({ $0 < header.typeCount }) else { return nil }
        var offsets: [Int] = []
        for _ in 0..<header.typeCount {
            // RFC 8536: the offset is never -2^31; real zones stay within a day.
            guard let offset = integer(4), (-89_999...93_599).contains(offset) else { return nil }
            offsets.append(Int(offset))
            at += 2
        }
        at += header.charCount + header.leapCount * (timeSize + 4) + header.standardWallCount + header.utLocalCount
        return (times, indices, offsets)
    }

    /// The POSIX TZ string between two newlines after the version 2+ data.
    mutating func footer() -> String? {
        guard at < bytes.count, bytes[at] == UInt8(ascii: "\n") else { return nil }
        guard let end = bytes[(at + 1)...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        return String(decoding: bytes[(at + 1)..<end], as: UTF8.self)
    }
}

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One entry of a tar archive: a regular file (its contents are streamed by the caller after the header)
/// or a directory.
public struct TarEntry: Sendable, Equatable {
    /// What the entry is.
    public enum Kind: Sendable, Equatable {
        case file(size: UInt64)
        case directory
    }

    /// The path relative to the archive root, `/`-separated, without a trailing slash.
    public var name: String
    public var kind: Kind
    /// Permission bits (`0o644`); file-type bits are ignored.
    public var mode: UInt32
    /// Modification time, seconds since 1970.
    public var mtime: Int64

    /// An entry; ownership is always root (uid and gid 0) because the archive's files belong to no one on the machine that reads it.
    public init(name: String, kind: Kind, mode: UInt32, mtime: Int64) {
        self.name = name
        self.kind = kind
        self.mode = mode
        self.mtime = mtime
    }
}

/// Why a tar entry was refused.
public enum TarError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyName
    case absoluteName(String)
    case parentReference(String)
    case nulInName
    case emptyComponent(String)

    public var description: String {
        switch self {
        case .emptyName: "a tar entry has an empty name"
        case .absoluteName(let name): "the tar entry name \"\(name)\" is absolute; names are relative to the archive root"
        case .parentReference(let name): "the tar entry name \"\(name)\" contains \"..\" or \".\""
        case .nulInName: "a tar entry name contains a NUL byte"
        case .emptyComponent(let name): "the tar entry name \"\(name)\" has an empty component (\"//\" or a trailing \"/\")"
        }
    }
}

/// A streaming POSIX tar writer (ustar headers, pax extended headers where ustar cannot say it). Pure
/// formatting: write ``header(for:)``, then the file's bytes, then ``padding(after:)``; after the last
/// entry, ``end()``.
public enum TarWriter {
    static let block = 512
    /// The largest value an 11-digit octal ustar field holds (8 GiB - 1).
    static let maxOctal11: UInt64 = 0o777_7777_7777

    /// The header block(s) for `entry`: a pax extended header first when the name is longer than 100
    /// bytes or not ASCII, the size is 8 GiB or more, or the mtime does not fit.
    public static func header(for entry: TarEntry) throws(TarError) -> [UInt8] {
        try check(entry.name)
        let isDirectory = entry.kind == .directory
        let name = Array(entry.name.utf8) + (isDirectory ? [0x2F] : [])
        let size: UInt64 = if case .file(let size) = entry.kind { size } else { 0 }
        var records: [(String, String)] = []
        if name.count > 100 || name.contains(where: { $0 >= 0x80 }) {
            records.append(("path", entry.name + (isDirectory ? "/" : "")))
        }
        if size > maxOctal11 { records.append(("size", String(size))) }
        if entry.mtime < 0 || UInt64(entry.mtime) > maxOctal11 { records.append(("mtime", String(entry.mtime))) }
        var output: [UInt8] = []
        if !records.isEmpty {
            let data = records.flatMap { paxRecord($0.0, $0.1) }
            output += ustar(
                name: Array("././@PaxHeader".utf8), mode: 0o644, size: UInt64(data.count), mtime: 0, typeflag: UInt8(ascii: "x"))
            output += data + padding(after: UInt64(data.count))
        }
        // The ustar fields carry an ASCII stand-in where the pax record holds the truth.
        let fallback = Array(name.map { $0 >= 0x80 ? UInt8(ascii: "_") : $0 }.suffix(100))
        output += ustar(
            name: fallback, mode: entry.mode & 0o7777, size: size > maxOctal11 ? 0 : size,
            mtime: UInt64(clamping: max(0, min(Int64(maxOctal11), entry.mtime))),
            typeflag: isDirectory ? UInt8(ascii: "5") : UInt8(ascii: "0"))
        return output
    }

    /// Zero bytes that fill the last block of a file of `size` bytes.
    public static func padding(after size: UInt64) -> [UInt8] {
        let remainder = Int(size % UInt64(block))
        return [UInt8](repeating: 0, count: remainder == 0 ? 0 : block - remainder)
    }

    /// The end of the archive: two zero blocks.
    public static func end() -> [UInt8] {
        [UInt8](repeating: 0, count: 2 * block)
    }

    static func check(_ name: String) throws(TarError) {
        guard !name.isEmpty else { throw .emptyName }
        guard !name.utf8.contains(0) else { throw .nulInName }
        guard !name.hasPrefix("/") else { throw .absoluteName(name) }
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !components.contains(where: { $0 == ".." || $0 == "." }) else { throw .parentReference(name) }
        guard !components.contains(where: \.isEmpty) else { throw .emptyComponent(name) }
    }

    /// `"<length> key=value\n"`, where the length counts the whole record including its own digits.
    static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let base = key.utf8.count + value.utf8.count + 3
        var length = base + String(base).count
        if String(length).count != String(base).count { length = base + String(length).count }
        return Array("\(length) \(key)=\(value)\n".utf8)
    }

    static func ustar(name: [UInt8], mode: UInt32, size: UInt64, mtime: UInt64, typeflag: UInt8) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: block)
        func put(_ bytes: [UInt8], at offset: Int) {
            header.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        }
        put(name, at: 0)
        put(octal(UInt64(mode), width: 8), at: 100)
        put(octal(0, width: 8), at: 108)  // uid
        put(octal(0, width: 8), at: 116)  // gid
        put(octal(size, width: 12), at: 124)
        put(octal(mtime, width: 12), at: 136)
        put([UInt8](repeating: 0x20, count: 8), at: 148)  // checksum, counted as spaces
        header[156] = typeflag
        put(Array("ustar\u{0}00".utf8), at: 257)
        put(Array("root".utf8), at: 265)  // uname
        put(Array("root".utf8), at: 297)  // gname
        let checksum = header.reduce(0) { $0 + Int($1) }
        put(octal(UInt64(checksum), width: 7) + [0x20], at: 148)
        return header
    }

    /// `width - 1` zero-padded octal digits and a NUL.
    static func octal(_ value: UInt64, width: Int) -> [UInt8] {
        let digits = Array(String(value, radix: 8).utf8)
        return [UInt8](repeating: UInt8(ascii: "0"), count: max(0, width - 1 - digits.count)) + digits + [0]
    }
}

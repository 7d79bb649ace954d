/// Decodes the LZ4 frame format, which apt uses for its lists under `Acquire::GzipIndexes` (`*_Packages.lz4`,
/// the default in Debian's container images). Block by block: each decoded block is handed on and only the
/// last 64 KiB (as far back as a linked block may refer) are kept. Anything malformed — a reference before
/// the start, a length past the end, a block larger than the frame allows — stops decoding with an error
/// rather than reading or writing out of bounds. Checksums are not verified: damage that decodes anyway
/// gives lines that parse as nothing.
enum LZ4Frame {
    struct Malformed: Error {}

    static let magic: UInt32 = 0x184D_2204
    static let history = 64 * 1024

    /// Calls `body` with each decoded block of `input`, stopping (with an error) after `limit` decoded bytes.
    static func decode(_ input: [UInt8], limit: Int = 256 * 1024 * 1024, _ body: (ArraySlice<UInt8>) -> Void) throws {
        var p = 0
        func word() throws -> Int {
            guard p + 4 <= input.count else { throw Malformed() }
            defer { p += 4 }
            return Int(input[p]) | Int(input[p + 1]) << 8 | Int(input[p + 2]) << 16 | Int(input[p + 3]) << 24
        }
        guard try word() == Int(magic), p + 3 <= input.count else { throw Malformed() }
        let flags = input[p]
        let sizes = [4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024]
        guard flags >> 6 == 1, let blockMax = sizes[Int(input[p + 1] >> 4 & 7)] else { throw Malformed() }
        // Flags, block descriptor, the optional content size and dictionary ID, the header checksum.
        p += 2 + (flags & 0x08 != 0 ? 8 : 0) + (flags & 0x01 != 0 ? 4 : 0) + 1
        var window: [UInt8] = []
        var total = 0
        while true {
            let size = try word()
            if size == 0 { return }
            let length = size & 0x7FFF_FFFF
            guard length <= blockMax, p + length <= input.count else { throw Malformed() }
            let start = window.count
            if size & 0x8000_0000 != 0 {
                window += input[p..<(p + length)]
            } else {
                try decodeBlock(input[p..<(p + length)], into: &window, limit: start + blockMax)
            }
            p += length + (flags & 0x10 != 0 ? 4 : 0)
            total += window.count - start
            guard total <= limit else { throw Malformed() }
            body(window[start...])
            if window.count > history { window.removeFirst(window.count - history) }
        }
    }

    /// One LZ4 block: sequences of literals and a match (offset back into `out`, length at least 4).
    static func decodeBlock(_ src: ArraySlice<UInt8>, into out: inout [UInt8], limit: Int) throws {
        var i = src.startIndex
        func extended(_ base: Int) throws -> Int {
            var value = base
            guard base == 15 else { return value }
            while true {
                guard i < src.endIndex else { throw Malformed() }
                let byte = src[i]
                i += 1
                value += Int(byte)
                if byte != 255 { return value }
            }
        }
        while i < src.endIndex {
            let token = src[i]
            i += 1
            let literals = try extended(Int(token >> 4))
            guard literals <= src.endIndex - i, out.count + literals <= limit else { throw Malformed() }
            out += src[i..<(i + literals)]
            i += literals
            // The last sequence is literals only.
            if i == src.endIndex { return }
            guard i + 2 <= src.endIndex else { throw Malformed() }
            let offset = Int(src[i]) | Int(src[i + 1]) << 8
            i += 2
            let length = try extended(Int(token & 15)) + 4
            guard offset > 0, offset <= out.count, out.count + length <= limit else { throw Malformed() }
            // Byte by byte: a match may overlap what it writes (offset 1 repeats one byte).
            var from = out.count - offset
            for _ in 0..<length {
                out.append(out[from])
                from += 1
            }
        }
    }
}

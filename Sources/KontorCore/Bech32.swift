#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Bech32 (BIP 173, not bech32m), the text form of age keys. Unlike BIP 173 there is no 90-character
/// limit: age identities are longer than that.
public enum Bech32 {
    /// Why a string is not valid Bech32, or not the Bech32 that was expected.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case empty
        case mixedCase
        case invalidCharacter(Character)
        case noSeparator
        case emptyHumanReadablePart
        case tooShort
        case invalidDataCharacter(Character)
        case badChecksum
        case wrongHumanReadablePart(expected: String, found: String)
        case nonZeroPadding

        public var description: String {
            switch self {
            case .empty: "it is empty"
            case .mixedCase: "it mixes upper and lower case"
            case .invalidCharacter: "it contains a character outside printable ASCII"
            case .noSeparator: "it has no \"1\" separating the prefix from the data"
            case .emptyHumanReadablePart: "its prefix before the \"1\" is empty"
            case .tooShort: "its data part is shorter than the 6-character checksum"
            case .invalidDataCharacter(let character): "its data part contains \"\(character)\", which is not in the Bech32 alphabet"
            case .badChecksum: "its checksum does not match (a character is mistyped or missing)"
            case .wrongHumanReadablePart(let expected, let found): "its prefix is \"\(found)\", expected \"\(expected)\""
            case .nonZeroPadding: "its data does not decode to whole bytes"
            }
        }
    }

    static let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    static let reverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = Int8(index) }
        return table
    }()

    /// Encodes `data` under the human-readable prefix `hrp` (given in lower case); `uppercase` gives the
    /// all-capitals form age uses for identities.
    public static func encode(hrp: String, data: [UInt8], uppercase: Bool = false) -> String {
        let hrpBytes = Array(hrp.lowercased().utf8)
        let values = convertBits(data, from: 8, to: 5, pad: true) ?? []
        let checksum = createChecksum(hrp: hrpBytes, values: values)
        var text = String(decoding: hrpBytes, as: UTF8.self) + "1"
        text += String(decoding: (values + checksum).map { alphabet[Int($0)] }, as: UTF8.self)
        return uppercase ? text.uppercased() : text
    }

    /// Decodes a Bech32 string into its lower-case prefix and its bytes.
    public static func decode(_ text: String) throws(Failure) -> (hrp: String, data: [UInt8]) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .empty }
        if let bad = bytes.first(where: { $0 < 33 || $0 > 126 }) {
            throw .invalidCharacter(Character(Unicode.Scalar(bad)))
        }
        let hasLower = bytes.contains { $0 >= 0x61 && $0 <= 0x7A }
        let hasUpper = bytes.contains { $0 >= 0x41 && $0 <= 0x5A }
        guard !(hasLower && hasUpper) else { throw .mixedCase }
        let lower = bytes.map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 + 32 : $0 }
        guard let separator = lower.lastIndex(of: 0x31) else { throw .noSeparator }
        guard separator > 0 else { throw .emptyHumanReadablePart }
        guard lower.count - separator - 1 >= 6 else { throw .tooShort }
        var values: [UInt8] = []
        for character in lower[(separator + 1)...] {
            let value = character < 128 ? reverse[Int(character)] : -1
            guard value >= 0 else { throw .invalidDataCharacter(Character(Unicode.Scalar(character))) }
            values.append(UInt8(value))
        }
        let hrp = Array(lower[..<separator])
        guard polymod(expand(hrp) + values) == 1 else { throw .badChecksum }
        guard let data = convertBits(Array(values.dropLast(6)), from: 5, to: 8, pad: false) else { throw .nonZeroPadding }
        return (String(decoding: hrp, as: UTF8.self), data)
    }

    /// Decodes and checks the prefix (compared without regard to case).
    public static func decode(_ text: String, expecting hrp: String) throws(Failure) -> [UInt8] {
        let decoded = try decode(text)
        guard decoded.hrp == hrp.lowercased() else { throw .wrongHumanReadablePart(expected: hrp, found: decoded.hrp) }
        return decoded.data
    }

    static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for index in 0..<5 where (top >> UInt32(index)) & 1 == 1 { checksum ^= generator[index] }
        }
        return checksum
    }

    static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    static func createChecksum(hrp: [UInt8], values: [UInt8]) -> [UInt8] {
        let mod = polymod(expand(hrp) + values + [0, 0, 0, 0, 0, 0]) ^ 1
        return (0..<6).map { UInt8((mod >> (5 * (5 - UInt32($0)))) & 31) }
    }

    /// Regroups bits (8 → 5 to encode, 5 → 8 to decode); nil when decoding leaves non-zero or over-long padding.
    static func convertBits(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var accumulator = 0
        var bits = 0
        var result: [UInt8] = []
        let maxValue = (1 << to) - 1
        for value in data {
            accumulator = (accumulator << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                result.append(UInt8((accumulator >> bits) & maxValue))
            }
            accumulator &= (1 << bits) - 1
        }
        if pad {
            if bits > 0 { result.append(UInt8((accumulator << (to - bits)) & maxValue)) }
        } else if bits >= from || (accumulator << (to - bits)) & maxValue != 0 {
            return nil
        }
        return result
    }
}

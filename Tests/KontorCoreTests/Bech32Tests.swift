import Testing

@testable import KontorCore

@Suite("Bech32 (BIP 173)")
struct Bech32Tests {
    @Test(
        "the valid strings of BIP 173 decode, and encode back to themselves",
        arguments: [
            "A12UEL5L", "a12uel5l",
            "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
            "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
            "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
            "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        ])
    func validVectors(text: String) throws {
        let decoded = try Bech32.decode(text)
        let isUpper = text == text.uppercased() && text != text.lowercased()
        #expect(Bech32.encode(hrp: decoded.hrp, data: decoded.data, uppercase: isUpper) == text)
    }

    @Test(
        "the invalid strings of BIP 173 are refused with the reason",
        arguments: [
            ("\u{20}1nwldj5", Bech32.Failure.invalidCharacter(" ")),
            ("\u{7F}1axkwrx", .invalidCharacter("\u{7F}")),
            ("pzry9x0s0muk", .noSeparator),
            ("1pzry9x0s0muk", .emptyHumanReadablePart),
            ("x1b4n0q5v", .invalidDataCharacter("b")),
            ("li1dgmt3", .tooShort),
            ("A1G7SGD8", .badChecksum),
            ("10a06t8", .emptyHumanReadablePart),
            ("1qzzfhee", .emptyHumanReadablePart),
            ("a12UEL5L", .mixedCase),
        ])
    func invalidVectors(text: String, failure: Bech32.Failure) {
        #expect(throws: failure) { try Bech32.decode(text) }
    }

    @Test("a string whose 5-bit groups leave non-zero padding is refused")
    func nonZeroPadding() {
        // One 5-bit group cannot make a byte: 5 left-over bits.
        let text = "a1" + String(decoding: [Bech32.alphabet[1]], as: UTF8.self)
        let values: [UInt8] = [1]
        let checksum = Bech32.createChecksum(hrp: Array("a".utf8), values: values)
        let full = text + String(decoding: checksum.map { Bech32.alphabet[Int($0)] }, as: UTF8.self)
        #expect(throws: Bech32.Failure.nonZeroPadding) { try Bech32.decode(full) }
    }

    @Test("age strings are longer than BIP 173's 90 characters and still decode")
    func noLengthLimit() throws {
        let data = [UInt8](repeating: 0xA5, count: 100)
        let text = Bech32.encode(hrp: "age", data: data)
        #expect(text.count > 90)
        #expect(try Bech32.decode(text, expecting: "age") == data)
    }
}

import Foundation
import KontorCore
import Testing

@Suite("Bytes: hex both ways")
struct BytesHexTests {
    @Test("hex text reads back as the bytes it was made from, in either case; anything else is refused")
    func roundTrip() {
        let bytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xAB, 0xFF]
        #expect(Bytes.fromHex(Bytes.hex(bytes)) == bytes)
        #expect(Bytes.fromHex("00017F80ABFF") == bytes)
        #expect(Bytes.fromHex("") == [])
        for bad in ["0", "0g", "+f", " 0", "0x00", "ab\u{0}0"] { #expect(Bytes.fromHex(bad) == nil, "\(bad)") }
    }
}

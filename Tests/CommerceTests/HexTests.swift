import BinaryCodec
import Testing

@Suite struct HexTests {
    @Test func bytesAndCommandIdsRoundTripInLowercase() {
        let bytes: [UInt8] = [0, 1, 0x0f, 0x10, 0xab, 0xff]
        #expect(Hex.encode(bytes) == "00010f10abff")
        #expect(Hex.decode("00010f10abff") == bytes)
        #expect(Hex.decode("00010F10ABFF") == bytes)
        #expect(Hex.encode(UInt64(0x2a)) == "000000000000002a")
        #expect(Hex.encode(UInt64.max) == "ffffffffffffffff")
        #expect(Hex.encode([UInt8]()) == "" && Hex.decode("") == [])
        for bad in ["0", "0g", "+f", "zz", " 0"] { #expect(Hex.decode(bad) == nil, "\(bad)") }
    }
}

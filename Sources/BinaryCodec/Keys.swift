/// Building keys that sort the way numbers do: big-endian fixed-width integers.
public enum Keys {
    @inline(__always)
    public static func uint64(_ value: UInt64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    @inline(__always)
    public static func uint64(_ a: UInt64, _ b: UInt64) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16)
        withUnsafeBytes(of: a.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: b.bigEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// Reads a big-endian UInt64 at `offset`; nil when the buffer is too short.
    @inline(__always)
    public static func readUInt64(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt64? {
        guard bytes.count >= offset + 8 else { return nil }
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[offset + i]) }
        return v
    }
}

/// Appends a compact binary encoding: LEB128 varints (zig-zag for signed), length-prefixed
/// strings and byte arrays, big-endian fixed-width integers for keys that must sort.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    public mutating func write(_ value: UInt8) { bytes.append(value) }

    @inline(__always)
    public mutating func write(varint value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inline(__always)
    public mutating func write(varint value: Int64) {
        write(varint: UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    @inline(__always)
    public mutating func write(bool value: Bool) { bytes.append(value ? 1 : 0) }

    public mutating func write(string value: String) {
        var value = value
        value.withUTF8 { utf8 in
            write(varint: UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func write(bytes value: some Collection<UInt8>) {
        write(varint: UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Raw bytes with no length prefix (the reader must know where they end).
    public mutating func write(raw value: some Sequence<UInt8>) {
        bytes.append(contentsOf: value)
    }

    @inline(__always)
    public mutating func write(bigEndian value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    public mutating func write(bigEndian value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write<T>(optional value: T?, _ body: (inout BinaryWriter, T) -> Void) {
        if let value {
            bytes.append(1)
            body(&self, value)
        } else {
            bytes.append(0)
        }
    }
}

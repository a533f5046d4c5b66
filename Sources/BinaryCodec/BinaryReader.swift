/// Thrown when bytes end early or hold a value the format does not allow.
public struct DecodingError: Error, CustomStringConvertible, Sendable, Equatable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "malformed record: \(reason)" }
}

/// Reads what `BinaryWriter` wrote. Never traps on bad input: every overrun throws.
public struct BinaryReader {
    public let buffer: UnsafeRawBufferPointer
    public private(set) var offset: Int

    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    public var remaining: Int { buffer.count - offset }
    public var isAtEnd: Bool { offset >= buffer.count }

    @inline(__always)
    public mutating func readByte() throws -> UInt8 {
        guard offset < buffer.count else { throw DecodingError("truncated at byte \(offset)") }
        let b = buffer[offset]
        offset += 1
        return b
    }

    @inline(__always)
    public mutating func readVarUInt() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try readByte()
            if shift == 63 && b > 1 { throw DecodingError("varint overflow at byte \(offset)") }
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw DecodingError("varint too long at byte \(offset)") }
        }
    }

    @inline(__always)
    public mutating func readVarInt() throws -> Int64 {
        let raw = try readVarUInt()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func readBool() throws -> Bool {
        switch try readByte() {
        case 0: return false
        case 1: return true
        case let other: throw DecodingError("bool byte \(other)")
        }
    }

    public mutating func readLength() throws -> Int {
        let n = try readVarUInt()
        guard n <= UInt64(remaining) else { throw DecodingError("length \(n) beyond end at byte \(offset)") }
        return Int(n)
    }

    public mutating func readString() throws -> String {
        let n = try readLength()
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + n])
        offset += n
        // ASCII is valid UTF-8 and nearly every string stored is ASCII: the generic validating
        // initializer costs far more than this scan (every record of a fold has two strings).
        if !slice.contains(where: { $0 >= 0x80 }) { return String(decoding: slice, as: UTF8.self) }
        guard let s = String(validating: slice.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw DecodingError("invalid UTF-8 at byte \(offset - n)")
        }
        return s
    }

    public mutating func readBytes() throws -> [UInt8] {
        let n = try readLength()
        return try readRaw(count: n)
    }

    public mutating func readRaw(count n: Int) throws -> [UInt8] {
        guard n >= 0, n <= remaining else { throw DecodingError("need \(n) bytes at byte \(offset)") }
        let out = Array(buffer[offset..<offset + n])
        offset += n
        return out
    }

    @inline(__always)
    public mutating func readBigEndianUInt64() throws -> UInt64 {
        guard remaining >= 8 else { throw DecodingError("truncated uint64 at byte \(offset)") }
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(buffer[offset + i]) }
        offset += 8
        return v
    }

    @inline(__always)
    public mutating func readBigEndianUInt32() throws -> UInt32 {
        guard remaining >= 4 else { throw DecodingError("truncated uint32 at byte \(offset)") }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(buffer[offset + i]) }
        offset += 4
        return v
    }

    public mutating func readOptional<T>(_ body: (inout BinaryReader) throws -> T) throws -> T? {
        try readBool() ? body(&self) : nil
    }
}

extension Array where Element == UInt8 {
    /// Decodes with a reader over this array's storage.
    @inlinable
    public func decode<T>(_ body: (inout BinaryReader) throws -> T) throws -> T {
        try withUnsafeBytes { raw in
            var reader = BinaryReader(raw)
            return try body(&reader)
        }
    }
}

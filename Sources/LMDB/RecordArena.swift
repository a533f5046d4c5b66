#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rows stored back to back in large blocks, in the order they were written: no allocation and
/// no pointer per row, and reading them all back is one sequential pass.
///
/// A row (`Record`) is a 12-byte header, then the key, then room for the value.
struct RecordArena {
    struct Block {
        let base: UnsafeMutableRawPointer
        let size: Int
        var used = 0
    }

    private(set) var blocks: [Block] = []
    /// Bytes of memory held.
    private(set) var allocated = 0

    static let blockSize = 4 << 20

    /// Room for a row of `key` and a value of up to `capacity` bytes, at the end; returns it.
    mutating func append(keyCount: Int, capacity: Int) throws -> UnsafeMutableRawPointer {
        let size = Record.headerSize + keyCount + capacity
        if let last = blocks.last, last.size - last.used >= size {
            let at = last.base + last.used
            blocks[blocks.count - 1].used += size
            return at
        }
        // A new block; a row too large for one gets one of its own (and the rows after it a new
        // one, so that blocks keep the order rows were written in).
        let own = size > Self.blockSize / 4
        let blockSize = own ? size : Self.blockSize
        guard let base = LargeMemory.allocate(blockSize) else {
            throw LMDBError(code: ENOMEM, operation: "write buffer: no memory for \(blockSize) more bytes (\(allocated) held)")
        }
        blocks.append(Block(base: base, size: blockSize, used: size))
        allocated += LargeMemory.rounded(blockSize)
        if own { blocks.append(Block(base: base + size, size: 0)) }
        return base
    }

    /// Every row, in the order written.
    @inline(__always)
    func forEach(_ body: (UnsafeMutableRawPointer) throws -> Void) rethrows {
        for block in blocks {
            var at = 0
            while at < block.used {
                let row = block.base + at
                try body(row)
                at += Record.size(row)
            }
        }
    }

    /// Takes over `other`'s blocks, after this arena's own; `other` is left empty.
    mutating func absorb(_ other: inout RecordArena) {
        blocks += other.blocks
        allocated += other.allocated
        other.blocks = []
        other.allocated = 0
    }

    mutating func release() {
        for block in blocks where block.size > 0 { LargeMemory.release(block.base, block.size) }
        blocks = []
        allocated = 0
    }
}

/// The layout of a row in a `RecordArena`: key length (2 bytes), flags (1), a spare byte, value
/// length (4), room for the value (4), then the key and the value.
enum Record {
    static let headerSize = 12

    /// A removal, written as a row.
    static let removed: UInt8 = 1
    /// A later row holds this key (a read database moved it when its new value did not fit).
    static let superseded: UInt8 = 2

    @inline(__always) static func keyCount(_ row: UnsafeRawPointer) -> Int { Int(row.loadUnaligned(as: UInt16.self)) }
    @inline(__always) static func flags(_ row: UnsafeRawPointer) -> UInt8 { row.load(fromByteOffset: 2, as: UInt8.self) }
    @inline(__always) static func valueCount(_ row: UnsafeRawPointer) -> Int { Int(row.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) }
    @inline(__always) static func capacity(_ row: UnsafeRawPointer) -> Int { Int(row.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
    @inline(__always) static func key(_ row: UnsafeRawPointer) -> UnsafeRawPointer { row + headerSize }
    @inline(__always) static func value(_ row: UnsafeRawPointer) -> UnsafeRawPointer { row + headerSize + keyCount(row) }
    @inline(__always) static func size(_ row: UnsafeRawPointer) -> Int { headerSize + keyCount(row) + capacity(row) }

    @inline(__always)
    static func keyBytes(_ row: UnsafeRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: key(row), count: keyCount(row))
    }

    /// Writes a whole row at `row` (room for `capacity` value bytes must be there).
    @inline(__always)
    static func write(_ row: UnsafeMutableRawPointer, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, capacity: Int, flags: UInt8) {
        row.storeBytes(of: UInt16(truncatingIfNeeded: key.count), as: UInt16.self)
        row.storeBytes(of: flags, toByteOffset: 2, as: UInt8.self)
        row.storeBytes(of: 0, toByteOffset: 3, as: UInt8.self)
        row.storeBytes(of: UInt32(truncatingIfNeeded: capacity), toByteOffset: 8, as: UInt32.self)
        if let k = key.baseAddress { (row + headerSize).copyMemory(from: k, byteCount: key.count) }
        setValue(row, value, flags: flags)
    }

    /// Replaces the value (it must fit the row's room) and the flags.
    @inline(__always)
    static func setValue(_ row: UnsafeMutableRawPointer, _ value: UnsafeRawBufferPointer, flags: UInt8) {
        row.storeBytes(of: UInt32(truncatingIfNeeded: value.count), toByteOffset: 4, as: UInt32.self)
        row.storeBytes(of: flags, toByteOffset: 2, as: UInt8.self)
        if value.count > 0, let v = value.baseAddress { (row + headerSize + keyCount(row)).copyMemory(from: v, byteCount: value.count) }
    }

    @inline(__always)
    static func setFlags(_ row: UnsafeMutableRawPointer, _ flags: UInt8) {
        row.storeBytes(of: flags, toByteOffset: 2, as: UInt8.self)
    }
}

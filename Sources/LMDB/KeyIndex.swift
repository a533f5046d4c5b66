#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A hash index from key bytes to the latest row (`Record`) of that key: open addressing,
/// linear probing. A slot holds the key's full hash, which spares nearly every key comparison
/// (each would read a row elsewhere in memory), and the row.
final class KeyIndex {
    private struct Slot {
        var hash: UInt64
        var row: UnsafeMutableRawPointer?
    }

    private var slots: UnsafeMutablePointer<Slot>
    private var mask: Int
    private var count = 0
    private let seed: UInt64

    init(capacityFor rows: Int, seed: UInt64) {
        var capacity = 1024
        while capacity * 3 < rows * 4 + 4 { capacity *= 2 }
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(hash: 0, row: nil), count: capacity)
        mask = capacity - 1
        self.seed = seed
    }

    deinit { slots.deallocate() }

    var bytes: Int { (mask + 1) * MemoryLayout<Slot>.stride }

    @inline(__always)
    func hash(_ k: UnsafeRawBufferPointer) -> UInt64 { Self.hash(k, seed: seed) }

    /// The row holding `k` and its slot; or nil and the empty slot where `k` would go.
    @inline(__always)
    func find(_ k: UnsafeRawBufferPointer, hash: UInt64) -> (row: UnsafeMutableRawPointer?, slot: Int) {
        var slot = Int(truncatingIfNeeded: hash) & mask
        // Keys are never empty (the buffer refuses them), so an empty one is simply not there.
        guard let base = k.baseAddress, k.count > 0 else { return (nil, slot) }
        while true {
            guard let row = slots[slot].row else { return (nil, slot) }
            if slots[slot].hash == hash, Record.keyCount(row) == k.count, memcmp(Record.key(row), base, k.count) == 0 {
                return (row, slot)
            }
            slot = (slot + 1) & mask
        }
    }

    /// Points `slot` (where `find` found the key) at a later row of the same key.
    @inline(__always)
    func replace(at slot: Int, with row: UnsafeMutableRawPointer) {
        slots[slot].row = row
    }

    /// Adds `row` at the empty `slot` `find` returned; grows when three quarters full.
    func insert(_ row: UnsafeMutableRawPointer, hash: UInt64, at slot: Int) {
        slots[slot] = Slot(hash: hash, row: row)
        count += 1
        if count * 4 > (mask + 1) * 3 { grow() }
    }

    private func grow() {
        let old = slots
        let oldCapacity = mask + 1
        let capacity = oldCapacity * 2
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(hash: 0, row: nil), count: capacity)
        mask = capacity - 1
        for i in 0..<oldCapacity where old[i].row != nil {
            var slot = Int(truncatingIfNeeded: old[i].hash) & mask
            while slots[slot].row != nil { slot = (slot + 1) & mask }
            slots[slot] = old[i]
        }
        old.deallocate()
    }

    /// A fast keyed mix of 8-byte words (not cryptographic; the seed differs per buffer).
    @inline(__always)
    static func hash(_ k: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        var h = seed ^ (UInt64(truncatingIfNeeded: k.count) &* 0x9E37_79B9_7F4A_7C15)
        guard let base = k.baseAddress else { return h }
        var i = 0
        while i + 8 <= k.count {
            h = (h ^ base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        if i < k.count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < k.count {
                tail |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
            h ^= h >> 29
        }
        h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return h ^ (h >> 32)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A database's buffered rows in LMDB's key order (bytewise, the shorter key first when one is
/// a prefix of the other), one per key: the last written.
///
/// Millions of rows, sorted so that no step waits on memory at random:
///
/// 1. passes over the rows as they were written (sequential reads) find where keys start to
///    differ and count how many rows fall in each of up to 4,096 buckets by their next 12 bits;
/// 2. another pass copies each row's sort item (its first 23 key bytes and its length as three
///    big-endian words, and the row) into its bucket: sequential reads, writes advancing in
///    4,096 places;
/// 3. each bucket, a few thousand items, is radix-sorted in cache, which keeps the order rows
///    were written in among equal keys, and only the last row of each key is kept.
///
/// With many rows, two threads share each step (the first and second half of the rows, then of
/// the buckets). The items are all the writer reads afterwards: its one jump at random is to
/// each row's bytes.
final class SortedRows {
    /// A row and its sort key: key bytes 0–7, 8–15 and 16–22 then the key's length (255 for 24
    /// bytes or more: such keys that tie here are compared in full).
    struct Item {
        var k0: UInt64
        var k1: UInt64
        var k2: UInt64
        var row: UnsafeMutableRawPointer
    }

    private let items: UnsafeMutablePointer<Item>
    private let allocatedBytes: Int
    let count: Int

    var bytes: Int { LargeMemory.rounded(allocatedBytes) }

    @inline(__always)
    subscript(i: Int) -> UnsafeMutableRawPointer { items[i].row }

    deinit { LargeMemory.release(UnsafeMutableRawPointer(items), allocatedBytes) }

    init(_ rows: PendingRows) throws {
        let blocks = rows.arena.blocks
        let n = rows.count
        allocatedBytes = max(1, n) * MemoryLayout<Item>.stride
        guard let memory = LargeMemory.allocate(allocatedBytes) else {
            throw LMDBError(code: ENOMEM, operation: "write buffer: no memory to sort \(n) rows of \(rows.database.name)")
        }
        let items = memory.bindMemory(to: Item.self, capacity: max(1, n))
        self.items = items
        count = Self.sort(blocks, rows: n, into: items)
    }

    /// Fewer rows are sorted on the calling thread alone.
    static let parallelFrom = 100_000

    private static func sort(_ blocks: [RecordArena.Block], rows n: Int, into items: UnsafeMutablePointer<Item>) -> Int {
        guard n > 0 else { return 0 }
        let parallel = n >= parallelFrom && Parallel.cores > 1 && blocks.count > 1
        // The rows in two halves, by blocks, in the order written.
        let split = parallel ? blocks.count / 2 : blocks.count
        let halves = [blocks[0..<split], blocks[split...]]
        func both<R>(_ body: (ArraySlice<RecordArena.Block>) -> R) -> [R] {
            guard parallel else { return [body(halves[0]), body(halves[1])] }
            var results: [R?] = [nil, nil]
            results.withUnsafeMutableBufferPointer { out in
                Parallel.run({ out[0] = body(halves[0]) }, { out[1] = body(halves[1]) })
            }
            return results.compactMap { $0 }
        }

        // Where keys start to differ, and 12 bits from there pick the bucket (fewer for fewer
        // rows: about a thousand rows per bucket).
        let firsts = both { half -> (UInt64, UInt64, UInt64)? in
            var first: (UInt64, UInt64, UInt64)?
            forEachRow(half) { row in if first == nil { first = words(row) } }
            return first
        }
        guard let first = firsts.compactMap({ $0 }).first else { return 0 }
        let diffs = both { half -> (UInt64, UInt64, UInt64) in
            var diff = (UInt64(0), UInt64(0), UInt64(0))
            forEachRow(half) { row in
                let w = words(row)
                diff.0 |= w.0 ^ first.0
                diff.1 |= w.1 ^ first.1
                diff.2 |= w.2 ^ first.2
            }
            return diff
        }
        let diff = (diffs[0].0 | diffs[1].0, diffs[0].1 | diffs[1].1, diffs[0].2 | diffs[1].2)
        let start: Int? = diff.0 != 0 ? diff.0.leadingZeroBitCount
            : diff.1 != 0 ? 64 + diff.1.leadingZeroBitCount
            : diff.2 != 0 ? 128 + diff.2.leadingZeroBitCount : nil
        let bits = start == nil ? 0 : min(12, max(0, (Int.bitWidth - n.leadingZeroBitCount) - 10))
        let from = start ?? 0
        let buckets = 1 << bits

        // Rows per bucket and half; the first half's rows go first in each bucket.
        let counts = both { half -> [Int] in
            var counts = [Int](repeating: 0, count: buckets)
            counts.withUnsafeMutableBufferPointer { c in
                forEachRow(half) { row in c[digit(words(row), from: from, bits: bits)] += 1 }
            }
            return counts
        }
        var starts = [Int](repeating: 0, count: buckets + 1)
        for b in 0..<buckets { starts[b + 1] = starts[b] + counts[0][b] + counts[1][b] }
        let nexts = [starts, (0..<buckets).map { starts[$0] + counts[0][$0] }]
        _ = both { half -> Int in
            var next = half.startIndex == 0 ? nexts[0] : nexts[1]
            next.withUnsafeMutableBufferPointer { next in
                forEachRow(half) { row in
                    let w = words(row)
                    let b = digit(w, from: from, bits: bits)
                    items[next[b]] = Item(k0: w.0, k1: w.1, k2: w.2, row: row)
                    next[b] += 1
                }
            }
            return 0
        }

        // Each bucket sorted and deduplicated in place, the halves of the buckets apart.
        var middle = 0
        while middle < buckets, starts[middle] < n / 2 { middle += 1 }
        guard parallel, middle > 0, middle < buckets else { return sortBuckets(items, starts: starts, 0..<buckets) }
        var kept = [0, 0]
        kept.withUnsafeMutableBufferPointer { kept in
            Parallel.run({ kept[0] = sortBuckets(items, starts: starts, 0..<middle) },
                         { kept[1] = sortBuckets(items, starts: starts, middle..<buckets) })
        }
        let high = kept[1] - starts[middle]
        UnsafeMutableRawPointer(items + kept[0]).copyMemory(from: items + starts[middle], byteCount: high * MemoryLayout<Item>.stride)
        return kept[0] + high
    }

    /// The rows of some blocks that no later row replaced, in the order written.
    @inline(__always)
    private static func forEachRow(_ blocks: ArraySlice<RecordArena.Block>, _ body: (UnsafeMutableRawPointer) -> Void) {
        for block in blocks {
            var at = 0
            while at < block.used {
                let row = block.base + at
                if Record.flags(row) & Record.superseded == 0 { body(row) }
                at += Record.size(row)
            }
        }
    }

    /// Sorts the buckets in `range` and keeps the last row of each key, compacted to the
    /// range's start. Returns the end of the rows kept.
    private static func sortBuckets(_ items: UnsafeMutablePointer<Item>, starts: [Int], _ range: Range<Int>) -> Int {
        var largest = 0
        for b in range { largest = max(largest, starts[b + 1] - starts[b]) }
        let scratch = UnsafeMutablePointer<Item>.allocate(capacity: max(1, largest))
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 256)
        defer {
            scratch.deallocate()
            counts.deallocate()
        }
        var kept = starts[range.lowerBound]
        for b in range where starts[b] < starts[b + 1] {
            let bucket = UnsafeMutableBufferPointer(start: items + starts[b], count: starts[b + 1] - starts[b])
            radixSort(bucket, scratch: scratch, counts: counts)
            var m = 0
            while m < bucket.count {
                // A run of items equal in their sort key: one key written several times (keep the
                // last), or long keys that need comparing in full.
                var end = m + 1
                while end < bucket.count, bucket[end].k0 == bucket[m].k0, bucket[end].k1 == bucket[m].k1, bucket[end].k2 == bucket[m].k2 { end += 1 }
                if end - m > 1 && bucket[m].k2 & 0xFF == 0xFF {
                    insertionSortInFull(UnsafeMutableBufferPointer(rebasing: bucket[m..<end]))
                    for i in m..<end where i + 1 == end || !sameKey(bucket[i].row, bucket[i + 1].row) {
                        items[kept] = bucket[i]
                        kept += 1
                    }
                } else {
                    items[kept] = bucket[end - 1]
                    kept += 1
                }
                m = end
            }
        }
        return kept
    }

    /// A stable least-significant-digit radix sort by (k0, k1, k2), a byte at a time, skipping
    /// the bytes that are the same in every item. `counts` has room for 256 counts.
    private static func radixSort(_ items: UnsafeMutableBufferPointer<Item>, scratch: UnsafeMutablePointer<Item>, counts: UnsafeMutablePointer<Int>) {
        let n = items.count
        guard n > 1, let base = items.baseAddress else { return }
        if n <= 16 {
            insertionSort(items)
            return
        }
        // Which bytes differ anywhere in the bucket.
        let first = base[0]
        var differ = (UInt64(0), UInt64(0), UInt64(0))
        for i in 1..<n {
            differ.0 |= base[i].k0 ^ first.k0
            differ.1 |= base[i].k1 ^ first.k1
            differ.2 |= base[i].k2 ^ first.k2
        }
        var source = base
        var target = scratch
        // Position 0 is the least significant byte of k2, 23 the most significant of k0.
        for p in 0..<24 {
            let word = p < 8 ? differ.2 : p < 16 ? differ.1 : differ.0
            let shift = UInt64((p & 7) * 8)
            guard (word >> shift) & 0xFF != 0 else { continue }
            @inline(__always) func digit(_ item: Item) -> Int {
                Int(truncatingIfNeeded: (p < 8 ? item.k2 : p < 16 ? item.k1 : item.k0) >> shift) & 0xFF
            }
            counts.update(repeating: 0, count: 256)
            for i in 0..<n { counts[digit(source[i])] += 1 }
            var offset = 0
            for d in 0..<256 {
                let c = counts[d]
                counts[d] = offset
                offset += c
            }
            for i in 0..<n {
                let item = source[i]
                let d = digit(item)
                target[counts[d]] = item
                counts[d] += 1
            }
            swap(&source, &target)
        }
        if source != base { base.update(from: source, count: n) }
    }

    private static func insertionSort(_ items: UnsafeMutableBufferPointer<Item>) {
        for i in items.indices.dropFirst() {
            let item = items[i]
            var j = i
            while j > 0, lessByWords(item, items[j - 1]) {
                items[j] = items[j - 1]
                j -= 1
            }
            items[j] = item
        }
    }

    /// Long keys that tie in their first 23 bytes, by their whole keys; stable.
    private static func insertionSortInFull(_ items: UnsafeMutableBufferPointer<Item>) {
        for i in items.indices.dropFirst() {
            let item = items[i]
            var j = i
            while j > 0, compare(item.row, Record.keyBytes(items[j - 1].row)) < 0 {
                items[j] = items[j - 1]
                j -= 1
            }
            items[j] = item
        }
    }

    @inline(__always)
    private static func lessByWords(_ a: Item, _ b: Item) -> Bool {
        if a.k0 != b.k0 { return a.k0 < b.k0 }
        if a.k1 != b.k1 { return a.k1 < b.k1 }
        return a.k2 < b.k2
    }

    @inline(__always)
    private static func sameKey(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Bool {
        compare(a, Record.keyBytes(b)) == 0
    }

    /// The sort key of a row: its first 23 key bytes, zero-padded, as big-endian words, and its
    /// length in the last byte (255 for 24 bytes or more). Comparing these compares keys in
    /// LMDB's order, except between long keys equal in their first 23 bytes.
    @inline(__always)
    static func words(_ row: UnsafeRawPointer) -> (UInt64, UInt64, UInt64) {
        let count = Record.keyCount(row)
        let key = Record.key(row)
        @inline(__always) func load(_ offset: Int) -> UInt64 { UInt64(bigEndian: key.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        let length = UInt64(min(count, 255))
        switch count {
        case 24...:
            return (load(0), load(8), load(16) & ~0xFF | 0xFF)
        case 16...:
            // The last 8 key bytes, shifted into place (the load starts inside the key).
            let tail = count == 16 ? 0 : load(count - 8) << UInt64((24 - count) * 8)
            return (load(0), load(8), tail & ~0xFF | length)
        case 8...:
            let tail = count == 8 ? 0 : load(count - 8) << UInt64((16 - count) * 8)
            return (load(0), tail, length)
        default:
            var head: UInt64 = 0
            for i in 0..<count { head |= UInt64(key.load(fromByteOffset: i, as: UInt8.self)) << UInt64((7 - i) * 8) }
            return (head, 0, length)
        }
    }

    /// `bits` bits of the 192-bit number `w`, starting `from` bits below its top.
    @inline(__always)
    static func digit(_ w: (UInt64, UInt64, UInt64), from: Int, bits: Int) -> Int {
        guard bits > 0 else { return 0 }
        @inline(__always) func word(_ i: Int) -> UInt64 { i == 0 ? w.0 : i == 1 ? w.1 : i == 2 ? w.2 : 0 }
        let index = from >> 6, offset = from & 63
        var v = word(index) << UInt64(offset)
        if offset + bits > 64 { v |= word(index + 1) >> UInt64(64 - offset) }
        return Int(truncatingIfNeeded: v >> UInt64(64 - bits))
    }

    /// LMDB's default order between a row's key and `other`: bytewise over the common length,
    /// then the shorter first.
    @inline(__always)
    static func compare(_ row: UnsafeRawPointer, _ other: UnsafeRawBufferPointer) -> Int {
        let count = Record.keyCount(row)
        let common = min(count, other.count)
        if common > 0, let base = other.baseAddress {
            let diff = memcmp(Record.key(row), base, common)
            if diff != 0 { return Int(diff) }
        }
        return count - other.count
    }
}

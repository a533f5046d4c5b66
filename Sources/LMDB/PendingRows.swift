/// One database's buffered rows, kept for millions of rows at a time.
///
/// Rows are appended in the order they are written to a `RecordArena`: no allocation per row,
/// and a write touches only memory written just before. On a machine where a cache miss costs a
/// few hundred nanoseconds that matters more than anything else. A key written several times is
/// kept several times until the rows are sorted for writing, where the last write of each key
/// wins.
///
/// Reading needs to find a key's latest row, so the first read of a database builds a hash
/// index over its rows (`KeyIndex`) and keeps it up to date from then on; a later write of an
/// indexed key then replaces its row. Databases a fold only writes (most rows of most folds)
/// never pay for one.
final class PendingRows {
    let database: Database

    /// The mutable state, behind a pointer: a class's stored properties are checked for
    /// exclusive access at run time, several times a row.
    private let state = UnsafeMutablePointer<State>.allocate(capacity: 1)

    private struct State {
        var arena = RecordArena()
        /// Rows held, not counting those a later row of the same key replaced.
        var rows = 0
        /// Built at the first read.
        var index: KeyIndex?
        /// Built at the first write into LMDB after a change.
        var sorted: SortedRows?
        var sink: UInt8 = 0
    }

    let seed: UInt64

    init(database: Database, seed: UInt64) {
        self.database = database
        self.seed = seed
        state.initialize(to: State())
    }

    deinit {
        state.pointee.arena.release()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Rows held; a key written several times before its database was first read counts each time.
    var count: Int { state.pointee.rows }

    var bytes: Int {
        state.pointee.arena.allocated + (state.pointee.index?.bytes ?? 0) + (state.pointee.sorted?.bytes ?? 0)
    }

    var arena: RecordArena { state.pointee.arena }

    enum Found {
        case value([UInt8])
        case removed
        case absent
    }

    func lookup(_ k: UnsafeRawBufferPointer) -> Found {
        let index = state.pointee.index ?? buildIndex()
        guard let row = index.find(k, hash: index.hash(k)).row else { return .absent }
        if Record.flags(row) & Record.removed != 0 { return .removed }
        return .value(Array(UnsafeRawBufferPointer(start: Record.value(row), count: Record.valueCount(row))))
    }

    @inline(__always)
    func put(_ k: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer) throws {
        try store(k, v, flags: 0)
    }

    func remove(_ k: UnsafeRawBufferPointer) throws {
        try store(k, UnsafeRawBufferPointer(start: nil, count: 0), flags: Record.removed)
    }

    @inline(__always)
    private func store(_ k: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer, flags: UInt8) throws {
        state.pointee.sorted = nil
        guard let index = state.pointee.index else {
            try append(k, v, flags: flags)
            return
        }
        let hash = index.hash(k)
        let (found, slot) = index.find(k, hash: hash)
        guard let row = found else {
            index.insert(try append(k, v, flags: flags), hash: hash, at: slot)
            return
        }
        // The later write replaces the earlier one: in place when it fits, else in a new row.
        if v.count <= Record.capacity(row) {
            Record.setValue(row, v, flags: flags)
            return
        }
        Record.setFlags(row, Record.flags(row) | Record.superseded)
        state.pointee.rows -= 1
        index.replace(at: slot, with: try append(k, v, flags: flags))
    }

    @inline(__always)
    @discardableResult
    private func append(_ k: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer, flags: UInt8) throws -> UnsafeMutableRawPointer {
        let row = try state.pointee.arena.append(keyCount: k.count, capacity: v.count)
        Record.write(row, key: k, value: v, capacity: v.count, flags: flags)
        state.pointee.rows += 1
        return row
    }

    /// Indexes every row so far; where a key was written several times, the last row stands
    /// and the earlier ones are marked replaced.
    private func buildIndex() -> KeyIndex {
        let index = KeyIndex(capacityFor: state.pointee.rows, seed: seed)
        state.pointee.arena.forEach { row in self.index(row, in: index) }
        state.pointee.index = index
        return index
    }

    /// Enters `row` into `index`: a row of a key already there replaces it, marked superseded.
    @inline(__always)
    private func index(_ row: UnsafeMutableRawPointer, in index: KeyIndex) {
        guard Record.flags(row) & Record.superseded == 0 else { return }
        let k = Record.keyBytes(row)
        let hash = index.hash(k)
        let (earlier, slot) = index.find(k, hash: hash)
        if let earlier {
            Record.setFlags(earlier, Record.flags(earlier) | Record.superseded)
            state.pointee.rows -= 1
            index.replace(at: slot, with: row)
        } else {
            index.insert(row, hash: hash, at: slot)
        }
    }

    /// Takes over `other`'s rows (of the same database), after this one's own.
    func absorb(_ other: PendingRows) {
        state.pointee.sorted = nil
        let first = state.pointee.arena.blocks.count
        state.pointee.arena.absorb(&other.state.pointee.arena)
        state.pointee.rows += other.state.pointee.rows
        other.state.pointee.rows = 0
        other.state.pointee.index = nil
        other.state.pointee.sorted = nil
        // An index must learn of the rows: each replaces an earlier row of its key.
        guard let index = state.pointee.index else { return }
        for block in state.pointee.arena.blocks[first...] {
            var at = 0
            while at < block.used {
                let row = block.base + at
                at += Record.size(row)
                self.index(row, in: index)
            }
        }
    }

    /// The rows in key order, one per key: sorted at the first call after a change.
    func sortedRows() throws -> SortedRows {
        if let sorted = state.pointee.sorted { return sorted }
        let sorted = try SortedRows(self)
        state.pointee.sorted = sorted
        return sorted
    }

    /// Where loads made only to bring rows into the cache leave their result, so that the
    /// compiler keeps them.
    var sink: UInt8 {
        get { state.pointee.sink }
        set { state.pointee.sink = newValue }
    }
}

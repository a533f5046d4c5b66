import CLMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension PendingRows {
    /// Writes rows in key order into `txn`, from the `start`th of `sortedRows()`, while
    /// `proceed` says so (asked every 256 rows): puts and removals where keys may already exist,
    /// then appends for the keys past the database's last key. Returns where it stopped (the
    /// number of sorted rows when done) and how many rows it appended.
    func write(into txn: OpaquePointer, environment: String, from start: Int, while proceed: () -> Bool) throws -> (next: Int, appended: Int) {
        let sorted = try sortedRows()
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, database.dbi, &cursor), "mdb_cursor_open \(database.name)")
        guard let cursor else { throw LMDBError(code: EINVAL, operation: "mdb_cursor_open \(database.name)") }
        defer { mdb_cursor_close(cursor) }
        func fail(_ rc: Int32, _ what: String) -> LMDBError {
            LMDBError(code: rc, operation: "\(what) \(database.name) (buffered)", environment: environment)
        }

        // Where the appending can start: the first row past the last key already stored.
        var lastKey = MDB_val()
        var lastValue = MDB_val()
        var appendFrom = start
        let rc = mdb_cursor_get(cursor, &lastKey, &lastValue, MDB_LAST)
        if rc == 0 {
            let last = UnsafeRawBufferPointer(start: lastKey.mv_data, count: lastKey.mv_size)
            var high = sorted.count
            while appendFrom < high {
                let mid = (appendFrom + high) / 2
                if SortedRows.compare(sorted[mid], last) <= 0 { appendFrom = mid + 1 } else { high = mid }
            }
        } else if rc != MDB_NOTFOUND {
            throw fail(rc, "mdb_cursor_get")
        }

        var appended = 0
        var position = start
        var fetched = start
        var touched: UInt8 = 0
        while position < sorted.count {
            if position & 255 == 0, position > start, !proceed() { break }
            if position == fetched {
                // The next rows lie anywhere in memory: touch a block of them at once, with loads
                // that do not wait on one another, before LMDB reads them one by one.
                fetched = min(sorted.count, position + Self.touchAhead)
                for i in position..<fetched { touched &+= sorted[i].load(fromByteOffset: 2, as: UInt8.self) }
            }
            let row = sorted[position]
            var key = MDB_val(mv_size: Record.keyCount(row), mv_data: UnsafeMutableRawPointer(mutating: Record.key(row)))
            let appending = position >= appendFrom
            if Record.flags(row) & Record.removed != 0 {
                // Past the last key there is nothing to remove.
                if !appending {
                    let rc = mdb_del(txn, database.dbi, &key, nil)
                    if rc != 0 && rc != MDB_NOTFOUND { throw fail(rc, "mdb_del") }
                }
            } else {
                var value = MDB_val(mv_size: Record.valueCount(row), mv_data: UnsafeMutableRawPointer(mutating: Record.value(row)))
                let rc = mdb_cursor_put(cursor, &key, &value, appending ? UInt32(MDB_APPEND) : 0)
                if rc != 0 { throw fail(rc, "mdb_cursor_put") }
                if appending { appended += 1 }
            }
            position += 1
        }
        sink = touched
        return (position, appended)
    }

    /// Rows touched at a time ahead of writing them.
    static let touchAhead = 32
}

import CLMDB

/// A position in a database. Entries borrow the map: valid until the next move or the end of the transaction.
///
/// A cursor is used inside its transaction's closure. One that escapes it throws
/// `LMDBError.transactionEnded` on its next move, and is freed correctly either way: LMDB frees a
/// write transaction's cursors when the transaction ends (closing them again would be a double
/// free) but leaves a read transaction's to be closed by their owner.
public final class Cursor {
    public struct Entry {
        public let key: UnsafeRawBufferPointer
        public let value: UnsafeRawBufferPointer
    }

    private let handle: OpaquePointer
    public let database: Database
    private let transaction: Transaction

    init(handle: OpaquePointer, database: Database, transaction: Transaction) {
        self.handle = handle
        self.database = database
        self.transaction = transaction
    }

    deinit {
        if transaction.handle != nil || transaction.isReadOnly { mdb_cursor_close(handle) }
    }

    @inline(__always)
    private func move(_ op: MDB_cursor_op, key: [UInt8]? = nil) throws -> Entry? {
        guard transaction.handle != nil else { throw LMDBError.transactionEnded }
        var k = MDB_val()
        var v = MDB_val()
        let rc: Int32
        if let key {
            rc = key.withUnsafeBytes { bytes -> Int32 in
                k = MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                return mdb_cursor_get(handle, &k, &v, op)
            }
        } else {
            rc = mdb_cursor_get(handle, &k, &v, op)
        }
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_cursor_get \(database.name)")
        return Entry(
            key: UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
            value: UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
        )
    }

    public func first() throws -> Entry? { try move(MDB_FIRST) }
    public func last() throws -> Entry? { try move(MDB_LAST) }
    public func next() throws -> Entry? { try move(MDB_NEXT) }
    public func previous() throws -> Entry? { try move(MDB_PREV) }
    /// The first entry whose key is ≥ `key`.
    public func seek(atOrAfter key: [UInt8]) throws -> Entry? { try move(MDB_SET_RANGE, key: key) }
    /// The entry whose key is exactly `key`.
    public func seek(exactly key: [UInt8]) throws -> Entry? { try move(MDB_SET_KEY, key: key) }

    /// The last entry whose key is < `key`.
    public func seek(before key: [UInt8]) throws -> Entry? {
        if try seek(atOrAfter: key) != nil { return try previous() }
        return try last()
    }
}

extension Cursor {
    /// The last entry whose key is ≤ `key`.
    public func seek(atOrBefore key: [UInt8]) throws -> Entry? {
        if let e = try seek(atOrAfter: key) {
            if e.key.elementsEqual(key) { return e }
            return try previous()
        }
        return try last()
    }
}

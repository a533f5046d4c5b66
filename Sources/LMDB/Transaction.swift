import CLMDB

/// A read or write transaction, valid only inside the closure that received it.
///
/// Lifetimes are checked, not assumed: a transaction used after its closure returned throws
/// `LMDBError.transactionEnded` instead of touching freed memory, and so does a cursor that
/// outlived its transaction (see `Cursor`).
///
/// Buffers handed out by `withValue` and by cursors point into the map and are valid only
/// until the transaction ends or the next write, so callers decode them at once.
public final class Transaction {
    private(set) var handle: OpaquePointer?
    public let isReadOnly: Bool
    let environment: String

    init(handle: OpaquePointer, readOnly: Bool, environment: String) {
        self.handle = handle
        self.isReadOnly = readOnly
        self.environment = environment
    }

    /// A failed write names the environment, so a full map can be told apart from another's.
    @inline(__always) private func checkWrite(_ code: Int32, _ operation: @autoclosure () -> String) throws {
        if code != 0 { throw LMDBError(code: code, operation: operation(), environment: environment) }
    }

    @inline(__always) func txn() throws -> OpaquePointer {
        guard let handle else { throw LMDBError.transactionEnded }
        return handle
    }

    /// LMDB's id of this transaction: a read transaction's is that of the newest commit it sees,
    /// a write transaction's is one more. So a write transaction whose id is a snapshot's plus one
    /// sees exactly that snapshot: nothing was committed in between.
    public var id: Int {
        get throws { mdb_txn_id(try txn()) }
    }

    func commit() throws {
        guard let handle else { throw LMDBError.transactionEnded }
        self.handle = nil
        // mdb_txn_commit frees the transaction even when it fails.
        try checkWrite(mdb_txn_commit(handle), "mdb_txn_commit")
    }

    func abort() {
        guard let handle else { return }
        self.handle = nil
        mdb_txn_abort(handle)
    }

    func openDatabase(_ name: String, create: Bool) throws -> Database {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(try txn(), name, create ? UInt32(MDB_CREATE) : 0, &dbi), "mdb_dbi_open \(name)")
        return Database(name: name, dbi: dbi)
    }

    /// Runs `body` with a borrowed view of the value stored under `key`, or returns nil when absent.
    @inline(__always)
    public func withValue<R>(_ db: Database, _ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try key.withUnsafeBytes { try withValue(db, key: $0, body) }
    }

    /// `withValue` for a key the caller holds as bytes in place.
    @inline(__always)
    public func withValue<R>(_ db: Database, key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        let txn = try txn()
        var data = MDB_val()
        var keyVal = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_get(txn, db.dbi, &keyVal, &data)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get \(db.name)")
        return try body(UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size))
    }

    /// A copy of the value stored under `key`.
    public func get(_ db: Database, _ key: [UInt8]) throws -> [UInt8]? {
        try withValue(db, key) { Array($0) }
    }

    public func get(_ db: Database, key: UnsafeRawBufferPointer) throws -> [UInt8]? {
        try withValue(db, key: key) { Array($0) }
    }

    public struct PutFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Fail with `MDB_KEYEXIST` instead of replacing.
        public static let noOverwrite = PutFlags(rawValue: UInt32(MDB_NOOVERWRITE))
        /// The key sorts after every existing key (cheap sequential insert).
        public static let append = PutFlags(rawValue: UInt32(MDB_APPEND))
    }

    /// Stores `value` under `key`, replacing any earlier value.
    public func put(_ db: Database, _ key: [UInt8], _ value: [UInt8]) throws {
        try put(db, key, value, flags: [])
    }

    public func put(_ db: Database, _ key: [UInt8], _ value: [UInt8], flags: PutFlags) throws {
        try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try put(db, key: k, value: v, flags: flags) } }
    }

    public func put(_ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        try put(db, key: key, value: value, flags: [])
    }

    public func put(_ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: PutFlags) throws {
        let txn = try txn()
        var keyVal = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var dataVal = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try checkWrite(mdb_put(txn, db.dbi, &keyVal, &dataVal, flags.rawValue), "mdb_put \(db.name)")
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func delete(_ db: Database, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { try delete(db, key: $0) }
    }

    @discardableResult
    public func delete(_ db: Database, key: UnsafeRawBufferPointer) throws -> Bool {
        let txn = try txn()
        var keyVal = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(txn, db.dbi, &keyVal, nil)
        if rc == MDB_NOTFOUND { return false }
        try checkWrite(rc, "mdb_del \(db.name)")
        return true
    }

    /// Empties a database (keeps it open).
    public func clear(_ db: Database) throws {
        try checkWrite(mdb_drop(try txn(), db.dbi, 0), "mdb_drop \(db.name)")
    }

    /// Deletes a database from the environment (its handle is closed).
    public func drop(_ db: Database) throws {
        try checkWrite(mdb_drop(try txn(), db.dbi, 1), "mdb_drop \(db.name)")
    }

    /// Number of entries in a database.
    public func count(_ db: Database) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(try txn(), db.dbi, &stat), "mdb_stat \(db.name)")
        return stat.ms_entries
    }

    public func openDatabase(named name: String, create: Bool) throws -> Database {
        try openDatabase(name, create: create && !isReadOnly)
    }

    /// Another process grew the map since this one last looked; `body` has not run. The caller
    /// adopts the new size (with no transaction of this process open) and begins again.
    struct MapResizedAtBegin: Error {}

    /// Begins a transaction, runs `body`, commits when it returns and aborts when it throws.
    static func committing<R>(env: OpaquePointer, path: String, flags: UInt32, _ operation: String, _ body: (Transaction) throws -> R) throws -> R {
        var txn: OpaquePointer?
        let rc = mdb_txn_begin(env, nil, flags, &txn)
        if rc == MDB_MAP_RESIZED { throw MapResizedAtBegin() }
        try check(rc, operation)
        let transaction = Transaction(handle: try required(txn, operation), readOnly: flags & UInt32(MDB_RDONLY) != 0, environment: path)
        do {
            let result = try body(transaction)
            try transaction.commit()
            return result
        } catch {
            transaction.abort()
            throw error
        }
    }

    /// A cursor over `db`, usable until this transaction ends.
    public func cursor(_ db: Database) throws -> Cursor {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(try txn(), db.dbi, &cursor), "mdb_cursor_open \(db.name)")
        return Cursor(handle: try required(cursor, "mdb_cursor_open \(db.name)"), database: db, transaction: self)
    }
}

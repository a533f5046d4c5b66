import CLMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes held in memory over a transaction, written later in key order.
///
/// A fold that puts rows at random keys makes LMDB descend a cold B-tree and copy a page for
/// nearly every put. Buffered, a key written many times is written once, and each database's
/// rows are written in ascending key order: neighbouring rows share pages, and rows that all
/// sort after a database's last key are appended (`MDB_APPEND`, no search at all).
///
/// Reads see the buffer first, then `transaction`. Two ways to write the rows:
///
/// - `flush()`: into `transaction` (a write transaction), emptying the buffer. It must run
///   before that transaction commits; whatever is still pending then is simply not written.
/// - `write(into:from:while:)`: into another write transaction of the same environment, perhaps
///   in slices over several transactions, keeping the rows (a slice whose transaction aborts is
///   written again). The caller makes sure the databases there hold what this buffer's reads
///   saw (see `Transaction.id`), and writes nothing to the buffer between slices.
///
/// Only for databases with LMDB's default key order (bytewise, shorter first) and without
/// duplicate keys: the order the buffer sorts in must be the order LMDB stores. Not for use by
/// several threads at once.
public final class WriteBuffer: RowWriter {
    public let transaction: Transaction
    /// Pending rows by database handle (handles are small integers). Behind a pointer: the
    /// class's own stored properties would be checked for exclusive access at every row.
    private let pending = UnsafeMutablePointer<[PendingRows?]>.allocate(capacity: 1)
    private let seed = UInt64.random(in: 0...UInt64.max)

    public init(over transaction: Transaction) {
        self.transaction = transaction
        pending.initialize(to: [])
    }

    /// Reads of `transaction` take turns when two buffers on two threads share it (LMDB serves a
    /// transaction to one thread at a time).
    private var turns: Turns?

    /// A second buffer over the same transaction, for another thread: a fold can split its
    /// tables between two threads, each writing its own buffer, and `absorb` one into the other
    /// before writing. Call before either buffer is in use on another thread. The transaction
    /// must be a read transaction: LMDB serves a write transaction only to the thread that
    /// began it.
    public func sibling() -> WriteBuffer {
        let shared = turns ?? Turns()
        turns = shared
        let other = WriteBuffer(over: transaction)
        other.turns = shared
        return other
    }

    /// Takes over `other`'s rows, as if written after this buffer's own (a key both hold ends
    /// up with `other`'s row); `other` is left empty. Buffers over different environments do
    /// not mix: their database handles mean different databases.
    public func absorb(_ other: WriteBuffer) {
        for case let theirs? in other.pending.pointee {
            rows(theirs.database).absorb(theirs)
        }
        other.pending.pointee = []
    }

    deinit {
        pending.deinitialize(count: 1)
        pending.deallocate()
    }

    /// Rows waiting to be written (a removal counts as one; a key written several times before
    /// it was first read may count each time).
    public var count: Int {
        pending.pointee.reduce(0) { $0 + ($1?.count ?? 0) }
    }

    /// Memory the pending rows hold, roughly: callers bound a fold by it.
    public var bytes: Int {
        pending.pointee.reduce(0) { $0 + ($1?.bytes ?? 0) }
    }

    @inline(__always)
    private func rows(_ db: Database) -> PendingRows {
        let slot = Int(db.dbi)
        if slot < pending.pointee.count, let rows = pending.pointee[slot] { return rows }
        return makeRows(db)
    }

    private func makeRows(_ db: Database) -> PendingRows {
        let slot = Int(db.dbi)
        if slot >= pending.pointee.count { pending.pointee.append(contentsOf: repeatElement(nil, count: slot + 1 - pending.pointee.count)) }
        let rows = PendingRows(database: db, seed: seed)
        pending.pointee[slot] = rows
        return rows
    }

    public func get(_ db: Database, key: UnsafeRawBufferPointer) throws -> [UInt8]? {
        let slot = Int(db.dbi)
        if slot < pending.pointee.count, let rows = pending.pointee[slot] {
            switch rows.lookup(key) {
            case let .value(bytes): return bytes
            case .removed: return nil
            case .absent: break
            }
        }
        return try readTransaction(db, key)
    }

    @inline(__always)
    private func readTransaction(_ db: Database, _ key: UnsafeRawBufferPointer) throws -> [UInt8]? {
        guard let turns else { return try transaction.get(db, key: key) }
        return try turns.take { try transaction.get(db, key: key) }
    }

    public func put(_ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        try checkKey(key, db)
        try rows(db).put(key, value)
    }

    @discardableResult
    public func delete(_ db: Database, key: UnsafeRawBufferPointer) throws -> Bool {
        try checkKey(key, db)
        let rows = rows(db)
        let existed: Bool
        switch rows.lookup(key) {
        case .value: existed = true
        case .removed: return false
        case .absent: existed = try readTransaction(db, key) != nil
        }
        try rows.remove(key)
        return existed
    }

    /// LMDB would refuse these keys when they are written, far from the code that made them.
    @inline(__always)
    private func checkKey(_ key: UnsafeRawBufferPointer, _ db: Database) throws {
        if key.isEmpty || key.count > Self.maxKeySize {
            throw LMDBError(code: MDB_BAD_VALSIZE, operation: "buffered write to \(db.name) with a key of \(key.count) bytes")
        }
    }

    /// LMDB's compiled-in limit (`mdb_env_get_maxkeysize` of a default build).
    static let maxKeySize = 511

    /// Cursors see only LMDB's pages: the pending rows are written first.
    public func transactionForCursors() throws -> Transaction {
        try flush()
        return transaction
    }

    /// How far a write has come, and what it did.
    public struct Progress: Equatable, Sendable {
        var slot = 0
        var row = 0
        /// Rows put or removed so far.
        public internal(set) var rows = 0
        /// Of those, rows appended after their database's last key, without a search.
        public internal(set) var appended = 0
        public internal(set) var isDone = false

        public static let start = Progress()
    }

    /// Sorts the pending rows for writing now (a write would otherwise sort first): for callers
    /// that write in short transactions and would rather not hold a writer lock meanwhile.
    public func prepare() throws {
        for case let rows? in pending.pointee where rows.count > 0 { _ = try rows.sortedRows() }
    }

    /// Writes the pending rows, database by database in ascending key order, from `start` into
    /// `txn`, until all are written or `proceed` (asked every few hundred rows) says stop.
    /// The rows stay pending: see the type's comment.
    public func write(into txn: Transaction, from start: Progress = .start, while proceed: () -> Bool = { true }) throws -> Progress {
        var at = start
        while at.slot < pending.pointee.count {
            if let rows = pending.pointee[at.slot], rows.count > 0 {
                let (next, appended) = try rows.write(into: try txn.txn(), environment: txn.environment, from: at.row, while: proceed)
                at.rows += next - at.row
                at.appended += appended
                at.row = next
                if next < (try rows.sortedRows().count) { return at }
            }
            at.slot += 1
            at.row = 0
        }
        at.isDone = true
        return at
    }

    /// Writes every pending row into `transaction` in key order, and empties the buffer.
    @discardableResult
    public func flush() throws -> Progress {
        let done = try write(into: transaction)
        pending.pointee = []
        return done
    }
}

/// A lock for reads that two threads make of one transaction.
private final class Turns: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func take<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

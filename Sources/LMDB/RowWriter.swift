/// What a fold needs of storage: read, write and remove rows by key.
///
/// `Transaction` does each at once in LMDB; `WriteBuffer` keeps the writes in memory and writes
/// them later in key order. Code written against this protocol (generic, so the compiler
/// specializes it for each) runs unchanged on both. Keys and values are bytes the caller holds
/// (perhaps on its stack: a fold writes millions of rows, and an array per key is an allocation).
public protocol RowWriter {
    /// The value stored under `key`, with this writer's own writes visible.
    func get(_ db: Database, key: UnsafeRawBufferPointer) throws -> [UInt8]?
    /// Stores `value` under `key`, replacing any earlier value.
    func put(_ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws
    /// Removes `key`; returns whether it was there.
    @discardableResult
    func delete(_ db: Database, key: UnsafeRawBufferPointer) throws -> Bool
    /// The transaction to open cursors in, with every write so far in it (a buffer writes its
    /// pending rows first). Cursors walk LMDB's pages, so they see nothing still held in memory.
    func transactionForCursors() throws -> Transaction
}

extension RowWriter {
    @inline(__always)
    public func get(_ db: Database, _ key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { try get(db, key: $0) }
    }

    @inline(__always)
    public func put(_ db: Database, _ key: [UInt8], _ value: [UInt8]) throws {
        try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try put(db, key: k, value: v) } }
    }

    @inline(__always)
    @discardableResult
    public func delete(_ db: Database, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { try delete(db, key: $0) }
    }
}

extension Transaction: RowWriter {
    public func transactionForCursors() throws -> Transaction { self }
}

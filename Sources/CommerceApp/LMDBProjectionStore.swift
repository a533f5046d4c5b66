import Commerce
import LMDB

/// The domain's projection tables as LMDB databases, written through `Rows`: a transaction (the
/// writer, queries) or a write buffer over one (the bulk folds).
struct RowProjectionStore<Rows: RowWriter>: ProjectionStore {
    let rows: Rows
    let tables: ProjectionDatabases

    func get(_ table: ProjectionTable, _ key: [UInt8]) throws -> [UInt8]? {
        try tables.withPhysicalKey(table, key) { try rows.get(tables[table], key: $0) }
    }

    func put(_ table: ProjectionTable, _ key: [UInt8], _ value: [UInt8]) throws {
        try tables.withPhysicalKey(table, key) { k in try value.withUnsafeBytes { try rows.put(tables[table], key: k, value: $0) } }
    }

    func delete(_ table: ProjectionTable, _ key: [UInt8]) throws {
        try tables.withPhysicalKey(table, key) { _ = try rows.delete(tables[table], key: $0) }
    }

    /// Folds never scan; should one, a buffer writes its rows first so the cursor sees them.
    func scan(_ table: ProjectionTable, from start: [UInt8], reverse: Bool, _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        let cursor = try rows.transactionForCursors().cursor(tables[table])
        let physicalStart = tables.physicalKey(table, start)
        var entry = reverse ? try cursor.seek(atOrBefore: physicalStart) : try cursor.seek(atOrAfter: physicalStart)
        guard let tag = tables.tag(of: table) else {
            while let e = entry {
                guard try body(Array(e.key), Array(e.value)) else { return }
                entry = reverse ? try cursor.previous() : try cursor.next()
            }
            return
        }
        // A user-scoped table: stay within the user, and see only this table's rows.
        let user = physicalStart.prefix(8)
        while let e = entry, e.key.count >= 9, e.key.prefix(8).elementsEqual(user) {
            if e.key[8] == tag {
                var key = Array(e.key.prefix(8))
                key.append(contentsOf: e.key.dropFirst(9))
                guard try body(key, Array(e.value)) else { return }
            }
            entry = reverse ? try cursor.previous() : try cursor.next()
        }
    }
}

/// The store the writer decides in and queries read: straight into the transaction.
typealias LMDBProjectionStore = RowProjectionStore<Transaction>

extension RowProjectionStore where Rows == Transaction {
    init(txn: Transaction, tables: ProjectionDatabases) {
        self.init(rows: txn, tables: tables)
    }

    /// Every row of a table in key order (a user-scoped table across all users).
    func scanAll(_ table: ProjectionTable, _ body: ([UInt8], [UInt8]) throws -> Void) throws {
        let cursor = try rows.cursor(tables[table])
        var entry = try cursor.first()
        let tag = tables.tag(of: table)
        while let e = entry {
            if let tag {
                if e.key.count >= 9, e.key[8] == tag {
                    var key = Array(e.key.prefix(8))
                    key.append(contentsOf: e.key.dropFirst(9))
                    try body(key, Array(e.value))
                }
            } else {
                try body(Array(e.key), Array(e.value))
            }
            entry = try cursor.next()
        }
    }
}

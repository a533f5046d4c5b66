import Commerce
import LMDB

/// The domain's projection tables as LMDB databases, inside one transaction.
struct LMDBProjectionStore: ProjectionStore {
    let txn: Transaction
    let tables: ProjectionDatabases

    func get(_ table: ProjectionTable, _ key: [UInt8]) throws -> [UInt8]? {
        try txn.get(tables[table], tables.physicalKey(table, key))
    }

    func put(_ table: ProjectionTable, _ key: [UInt8], _ value: [UInt8]) throws {
        try txn.put(tables[table], tables.physicalKey(table, key), value)
    }

    func delete(_ table: ProjectionTable, _ key: [UInt8]) throws {
        try txn.delete(tables[table], tables.physicalKey(table, key))
    }

    func scan(_ table: ProjectionTable, from start: [UInt8], reverse: Bool, _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        let cursor = try txn.cursor(tables[table])
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

    /// Every row of a table in key order (a user-scoped table across all users).
    func scanAll(_ table: ProjectionTable, _ body: ([UInt8], [UInt8]) throws -> Void) throws {
        let cursor = try txn.cursor(tables[table])
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

import Commerce
import LMDB

/// The domain's projection tables as LMDB databases, inside one transaction.
///
/// User-scoped tables share one database, `proj.users`, keyed `user ‖ table tag ‖ rest`, so the
/// pages a command dirties (and the commit must write) are one per user rather than one per table.
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
}

/// The LMDB databases behind the projection tables, opened once.
struct ProjectionDatabases: Sendable {
    private let databases: [Database]
    /// The databases as stored: the user-scoped tables' shared one once, then the others.
    let physical: [Database]

    /// Opens one database per physical name; `name` maps a base name (e.g. `proj.users`) to the
    /// database name to open (a generation or a scratch copy of it).
    init(environment: Environment, create: Bool, name: (String) -> String) throws {
        var byBase: [String: Database] = [:]
        var physical: [Database] = []
        databases = try ProjectionTable.allCases.map { table in
            let base = ProjectionCatalog.physicalName(of: table)
            if let db = byBase[base] { return db }
            let db = try environment.openDatabase(name(base), create: create)
            byBase[base] = db
            physical.append(db)
            return db
        }
        self.physical = physical
    }

    subscript(table: ProjectionTable) -> Database {
        databases[table.ordinal]
    }

    /// The byte that tells a user-scoped table's rows apart in the shared database.
    func tag(of table: ProjectionTable) -> UInt8? {
        table.isUserScoped ? UInt8(table.ordinal) : nil
    }

    @inline(__always)
    func physicalKey(_ table: ProjectionTable, _ key: [UInt8]) -> [UInt8] {
        guard let tag = tag(of: table) else { return key }
        var out = [UInt8]()
        out.reserveCapacity(key.count + 1)
        out.append(contentsOf: key.prefix(8))
        out.append(tag)
        out.append(contentsOf: key.dropFirst(8))
        return out
    }
}

extension ProjectionTable {
    /// Position in `allCases`; a switch, because hashing the String raw value costs on every access.
    var ordinal: Int {
        switch self {
        case .pointBalances: return 0
        case .pointHistory: return 1
        case .products: return 2
        case .coupons: return 3
        case .userCoupons: return 4
        case .orders: return 5
        case .ordersByUser: return 6
        case .issueRequests: return 7
        case .dailySales: return 8
        case .sequences: return 9
        }
    }
}

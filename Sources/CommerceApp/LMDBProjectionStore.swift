import Commerce
import LMDB

/// The domain's projection tables as LMDB databases, inside one transaction.
struct LMDBProjectionStore: ProjectionStore {
    let txn: Transaction
    let tables: ProjectionDatabases

    func get(_ table: ProjectionTable, _ key: [UInt8]) throws -> [UInt8]? {
        try txn.get(tables[table], key)
    }

    func put(_ table: ProjectionTable, _ key: [UInt8], _ value: [UInt8]) throws {
        try txn.put(tables[table], key, value)
    }

    func delete(_ table: ProjectionTable, _ key: [UInt8]) throws {
        try txn.delete(tables[table], key)
    }

    func scan(_ table: ProjectionTable, from start: [UInt8], reverse: Bool, _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        let cursor = try txn.cursor(tables[table])
        var entry = reverse ? try cursor.seek(atOrBefore: start) : try cursor.seek(atOrAfter: start)
        while let e = entry {
            guard try body(Array(e.key), Array(e.value)) else { return }
            entry = reverse ? try cursor.previous() : try cursor.next()
        }
    }
}

/// One LMDB database per projection table, opened once.
struct ProjectionDatabases: Sendable {
    private let databases: [Database]

    init(environment: Environment, prefix: String = "") throws {
        databases = try ProjectionTable.allCases.map { try environment.openDatabase(prefix + $0.rawValue) }
    }

    init(databases: [Database]) { self.databases = databases }

    subscript(table: ProjectionTable) -> Database {
        databases[table.ordinal]
    }

    var all: [(ProjectionTable, Database)] { Array(zip(ProjectionTable.allCases, databases)) }
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

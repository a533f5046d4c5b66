import BinaryCodec
import Commerce
import EventLog
import LMDB

/// The databases of one generation of the views: the domain's projection tables, the stream
/// index and the idempotency index. Everything here is a fold of the log.
struct ViewTables: Sendable {
    let projections: ProjectionDatabases
    let streams: StreamIndex
    let idempotency: IdempotencyIndex

    /// Base names of the physical databases that are not projection tables.
    static let streamsBase = "views.streams"
    static let idempotencyBase = "views.idempotency"

    /// Opens one database per physical base name (e.g. `proj.users`) with `open`, which picks the
    /// generation.
    init(open: (String) throws -> Database) throws {
        projections = try ProjectionDatabases(open: open)
        let users = projections.users
        let others = try open(Self.streamsBase)
        // A user's stream rows sit beside the user's other rows (`user ‖ tag ‖ version`), so a
        // command on a user dirties one page of the views, not two; other streams by name.
        streams = StreamIndex { stream in
            if let user = Streams.userId(of: stream) {
                // One allocation: this runs for every event the writer appends or a fold folds.
                let prefix = [UInt8](unsafeUninitializedCapacity: 9) { bytes, count in
                    UnsafeMutableRawBufferPointer(bytes).storeBytes(of: UInt64(bitPattern: user).bigEndian, as: UInt64.self)
                    bytes[8] = ProjectionDatabases.userStreamTag
                    count = 9
                }
                return .init(database: users, prefix: prefix)
            }
            return .init(database: others, prefix: StreamIndex.namePrefix(stream))
        }
        idempotency = IdempotencyIndex(database: try open(Self.idempotencyBase))
        // The order of `physicalNames`: the projections', then the two indexes'.
        physical = projections.physical + [others, idempotency.database]
    }

    /// Every physical database, in a fixed order (that of `physicalNames`).
    let physical: [Database]

    /// Every physical base name, in the order of `physical`.
    static let physicalNames: [String] = ProjectionDatabases.physicalNames + [streamsBase, idempotencyBase]
}

/// The LMDB databases behind the projection tables, opened once.
///
/// User-scoped tables share one database, `proj.users`, keyed `user ‖ table tag ‖ rest`, so the
/// pages a command dirties are one per user rather than one per table.
struct ProjectionDatabases: Sendable {
    private let databases: [Database]
    /// The databases as stored: the user-scoped tables' shared one once, then the others.
    let physical: [Database]

    static func physicalName(of table: ProjectionTable) -> String {
        table.isUserScoped ? "proj.users" : table.rawValue
    }

    /// The physical databases' base names, in the order of `physical`.
    static let physicalNames: [String] = {
        var names: [String] = []
        for table in ProjectionTable.allCases {
            let name = physicalName(of: table)
            if !names.contains(name) { names.append(name) }
        }
        return names
    }()

    init(open: (String) throws -> Database) throws {
        var byBase: [String: Database] = [:]
        var physical: [Database] = []
        databases = try ProjectionTable.allCases.map { table in
            let base = Self.physicalName(of: table)
            if let db = byBase[base] { return db }
            let db = try open(base)
            byBase[base] = db
            physical.append(db)
            return db
        }
        self.physical = physical
    }

    subscript(table: ProjectionTable) -> Database {
        databases[table.ordinal]
    }

    /// The database the user-scoped tables share.
    var users: Database { self[.pointBalances] }

    /// The tag of user streams' index rows in the users' database, apart from every table's.
    static let userStreamTag: UInt8 = 0x80

    /// The byte that tells a user-scoped table's rows apart in the shared database.
    func tag(of table: ProjectionTable) -> UInt8? {
        table.isUserScoped ? UInt8(table.ordinal) : nil
    }

    /// Runs `body` with the stored key of `key` in `table`, built on the stack (no allocation
    /// for the writes of every command and of every event a fold folds).
    @inline(__always)
    func withPhysicalKey<R>(_ table: ProjectionTable, _ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let tag = tag(of: table) else { return try key.withUnsafeBytes(body) }
        return try withUnsafeTemporaryAllocation(byteCount: key.count + 1, alignment: 8) { out in
            try key.withUnsafeBytes { k in
                let head = min(8, k.count)
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: k[0..<head]))
                out[head] = tag
                if k.count > 8 { UnsafeMutableRawBufferPointer(rebasing: out[9...]).copyMemory(from: UnsafeRawBufferPointer(rebasing: k[8...])) }
            }
            return try body(UnsafeRawBufferPointer(out))
        }
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

enum Key {
    static func user(_ id: Int64) -> [UInt8] { Keys.uint64(UInt64(bitPattern: id)) }
}

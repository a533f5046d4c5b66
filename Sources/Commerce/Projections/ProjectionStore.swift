/// The tables projections write and queries read. The application backs it with LMDB;
/// the domain only sees sorted byte keys and values.
public protocol ProjectionStore {
    func get(_ table: ProjectionTable, _ key: [UInt8]) throws -> [UInt8]?
    func put(_ table: ProjectionTable, _ key: [UInt8], _ value: [UInt8]) throws
    func delete(_ table: ProjectionTable, _ key: [UInt8]) throws
    /// Visits entries from the first key ≥ `start` upward, or from the last key ≤ `start` downward
    /// when `reverse`, while `body` returns true. In a user-scoped table the scan never leaves the
    /// user (the first 8 bytes) of `start`.
    func scan(_ table: ProjectionTable, from start: [UInt8], reverse: Bool, _ body: ([UInt8], [UInt8]) throws -> Bool) throws
}

/// Every projection table. Raw values are the LMDB database names.
public enum ProjectionTable: String, CaseIterable, Sendable {
    case pointBalances = "proj.point_balances"
    case pointHistory = "proj.point_history"
    case products = "proj.products"
    case coupons = "proj.coupons"
    case userCoupons = "proj.user_coupons"
    case orders = "proj.orders"
    case ordersByUser = "proj.orders_by_user"
    case issueRequests = "proj.coupon_issue_requests"
    case dailySales = "proj.daily_sales"
    case sequences = "proj.sequences"

    /// Keys begin with a user id and are only ever read one user at a time, so a store may keep
    /// these tables together per user: one user's balance, history, coupons and orders then share
    /// pages, and a command touches one page per user instead of one per table.
    public var isUserScoped: Bool {
        switch self {
        case .pointBalances, .pointHistory, .userCoupons, .ordersByUser: return true
        default: return false
        }
    }
}

enum Key {
    @inline(__always)
    static func id(_ v: Int64) -> [UInt8] {
        withUnsafeBytes(of: UInt64(bitPattern: v).bigEndian) { Array($0) }
    }

    @inline(__always)
    static func ids(_ a: Int64, _ b: Int64) -> [UInt8] {
        var out = id(a)
        withUnsafeBytes(of: UInt64(bitPattern: b).bigEndian) { out.append(contentsOf: $0) }
        return out
    }

    static func ids(_ a: Int64, _ b: UInt64) -> [UInt8] { ids(a, Int64(bitPattern: b)) }

    static func read(_ bytes: [UInt8], at offset: Int) -> Int64 {
        guard bytes.count >= offset + 8 else { return 0 }
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[offset + i]) }
        return Int64(bitPattern: v)
    }
}

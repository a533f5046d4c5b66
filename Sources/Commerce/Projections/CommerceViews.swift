import BinaryCodec

/// Typed reads of the projection tables: the state deciders decide against and the views queries return.
public struct CommerceViews<S: ProjectionStore> {
    public let store: S

    public init(_ store: S) { self.store = store }

    public func balance(of user: Int64) throws -> Int64 {
        try store.get(.pointBalances, Key.id(user)).map { try $0.decode { try $0.readVarInt() } } ?? 0
    }

    /// Newest first; `before` is a log position (the previous page's `next`).
    public func history(of user: Int64, before: UInt64?, limit: Int) throws -> (items: [PointHistoryEntry], next: UInt64?) {
        var items: [PointHistoryEntry] = []
        var next: UInt64?
        // Positions start at 1: nothing comes before 1 (or 0).
        let before = before ?? UInt64.max
        guard before > 1 else { return (items, nil) }
        let start = Key.ids(user, before - 1)
        try store.scan(.pointHistory, from: start, reverse: true) { key, value in
            guard Key.read(key, at: 0) == user else { return false }
            let position = UInt64(bitPattern: Key.read(key, at: 8))
            if items.count == limit {
                next = items.last?.position
                return false
            }
            items.append(try PointHistoryEntry.decode(position: position, value))
            return true
        }
        return (items, next)
    }

    public func product(_ id: Int64) throws -> ProductRecord? {
        try store.get(.products, Key.id(id)).map(ProductRecord.decode)
    }

    /// Products by id ascending, after `after`.
    public func products(after: Int64, limit: Int) throws -> (items: [ProductRecord], next: Int64?) {
        try page(.products, after: after, limit: limit, id: \.id, decode: ProductRecord.decode)
    }

    /// Rows of a table keyed by id, ascending after `after`; `next` is the last id when more follow.
    private func page<Record>(_ table: ProjectionTable, after: Int64, limit: Int, id: (Record) -> Int64,
                              decode: ([UInt8]) throws -> Record) throws -> (items: [Record], next: Int64?) {
        var items: [Record] = []
        var next: Int64?
        // Ids start at 1: a negative `after` is the start, and nothing follows Int64.max.
        guard after < Int64.max else { return (items, nil) }
        try store.scan(table, from: Key.id(max(after, 0) + 1), reverse: false) { _, value in
            if items.count == limit {
                next = items.last.map(id)
                return false
            }
            items.append(try decode(value))
            return true
        }
        return (items, next)
    }

    public func coupon(_ id: Int64) throws -> CouponRecord? {
        try store.get(.coupons, Key.id(id)).map(CouponRecord.decode)
    }

    /// Coupons by id ascending, after `after`.
    public func coupons(after: Int64, limit: Int) throws -> (items: [CouponRecord], next: Int64?) {
        try page(.coupons, after: after, limit: limit, id: \.id, decode: CouponRecord.decode)
    }

    public func userCoupon(user: Int64, coupon: Int64) throws -> UserCouponRecord? {
        try store.get(.userCoupons, Key.ids(user, coupon)).map(UserCouponRecord.decode)
    }

    public func userCoupons(of user: Int64) throws -> [UserCouponRecord] {
        var items: [UserCouponRecord] = []
        try store.scan(.userCoupons, from: Key.ids(user, Int64(0)), reverse: false) { key, value in
            guard Key.read(key, at: 0) == user else { return false }
            items.append(try UserCouponRecord.decode(value))
            return true
        }
        return items
    }

    public func order(_ id: Int64) throws -> OrderRecord? {
        try store.get(.orders, Key.id(id)).map(OrderRecord.decode)
    }

    /// A user's orders, newest first; `before` is an order id.
    public func orders(of user: Int64, before: Int64?, limit: Int) throws -> (items: [OrderRecord], next: Int64?) {
        var items: [OrderRecord] = []
        var next: Int64?
        // Order ids start at 1: nothing comes before 1 (or before a negative id).
        let before = before ?? Int64.max
        guard before > 1 else { return (items, nil) }
        try store.scan(.ordersByUser, from: Key.ids(user, before - 1), reverse: true) { key, _ in
            guard Key.read(key, at: 0) == user else { return false }
            if items.count == limit {
                next = items.last?.orderId
                return false
            }
            if let order = try order(Key.read(key, at: 8)) { items.append(order) }
            return true
        }
        return (items, next)
    }

    public func issueRequest(_ id: Int64) throws -> IssueRequestRecord? {
        try store.get(.issueRequests, Key.id(id)).map(IssueRequestRecord.decode)
    }

    /// The id the next new thing of `kind` gets.
    public func nextId(_ kind: SequenceProjection.Kind) throws -> Int64 {
        (try store.get(.sequences, Array(kind.rawValue.utf8)).map { Key.read($0, at: 0) } ?? 0) + 1
    }

    /// Units sold per product over the local days `firstDay` through `lastDay`, net of
    /// compensations (best sellers are `DailySalesProjection.rank` of it); products that sold
    /// nothing may be absent or 0.
    public func unitsSold(from firstDay: Int64, through lastDay: Int64) throws -> [Int64: Int64] {
        var totals: [Int64: Int64] = [:]
        // Days are keyed by their two's-complement bits: days before 1970 (negative) sort after
        // every later one, so a window across 1970-01-01 is two ranges of keys.
        for (from, through) in [(firstDay, min(lastDay, -1)), (max(firstDay, 0), lastDay)] where from <= through {
            try store.scan(.dailySales, from: Key.ids(from, Int64(0)), reverse: false) { key, value in
                let day = Key.read(key, at: 0)
                guard day >= from && day <= through else { return false }
                totals[Key.read(key, at: 8), default: 0] += try value.decode { try $0.readVarInt() }
                return true
            }
        }
        return totals
    }
}

import BinaryCodec
import Commerce
import EventLog
import LMDB

/// Queries run in their own read transaction: concurrent with the writer, never waiting for it,
/// and seeing every command acknowledged before they began.
extension Ledger {
    func view<R>(_ body: (CommerceViews<LMDBProjectionStore>) throws -> R) throws -> R {
        try views.read { txn, tables in try body(CommerceViews(LMDBProjectionStore(txn: txn, tables: tables.projections))) }
    }

    public func balance(of user: Int64) throws -> Int64 {
        try view { try $0.balance(of: user) }
    }

    public func pointHistory(of user: Int64, before: UInt64? = nil, limit: Int = 20) throws -> (items: [PointHistoryEntry], next: UInt64?) {
        try view { try $0.history(of: user, before: before, limit: limit) }
    }

    public func product(_ id: Int64) throws -> ProductRecord? {
        try view { try $0.product(id) }
    }

    public func products(after: Int64 = 0, limit: Int = 20) throws -> (items: [ProductRecord], next: Int64?) {
        try view { try $0.products(after: after, limit: limit) }
    }

    public func coupon(_ id: Int64) throws -> CouponRecord? {
        try view { try $0.coupon(id) }
    }

    public func coupons(after: Int64 = 0, limit: Int = 20) throws -> (items: [CouponRecord], next: Int64?) {
        try view { try $0.coupons(after: after, limit: limit) }
    }

    /// A user's coupons with their status as of the clock's now, optionally only one status.
    public func userCoupons(of user: Int64, status: UserCouponStatus? = nil) throws -> [(record: UserCouponRecord, coupon: CouponRecord?, status: UserCouponStatus)] {
        let now = clock.now()
        return try view { v in
            try v.userCoupons(of: user).compactMap { record in
                let s = record.status(at: now)
                if let status, s != status { return nil }
                return (record, try v.coupon(record.couponId), s)
            }
        }
    }

    public func order(_ id: Int64) throws -> OrderRecord? {
        try view { try $0.order(id) }
    }

    public func orders(of user: Int64, before: Int64? = nil, limit: Int = 20) throws -> (items: [OrderRecord], next: Int64?) {
        try view { try $0.orders(of: user, before: before, limit: limit) }
    }

    public func issueRequest(_ id: Int64) throws -> IssueRequestRecord? {
        try view { try $0.issueRequest(id) }
    }

    public struct BestSellerEntry: Sendable, Equatable {
        public let rank: Int
        public let product: ProductRecord
        public let quantity: Int64
    }


    /// Top products by units sold over `days` local days ending with `lastDay` (default: today).
    public func bestSellers(lastDay: Int64? = nil, days: Int? = nil, limit: Int? = nil) throws -> (firstDay: Int64, lastDay: Int64, items: [BestSellerEntry]) {
        let last = lastDay ?? calendar.day(of: clock.now())
        // Days are written YYYY-MM-DD: a window reaching before year 0000 (which could not be
        // named) starts at 0000-01-01, where nothing was sold anyway.
        let days = Int(max(1, min(Int64(days ?? configuration.rules.bestSellerDays), last - ISO8601.days(year: 0, month: 1, day: 1) + 1)))
        let limit = limit ?? configuration.rules.bestSellerLimit
        let key = BestSellerCache.Key(lastDay: last, days: days, limit: limit)
        let window = BestSellerCache.Window(lastDay: last, days: days)
        let items = try views.read { txn, tables -> [BestSellerEntry] in
            // The answer is a function of the views' position and tables: while they stay put, so does the answer.
            let source = BestSellerCache.Source(position: try views.position(in: txn).position, swaps: try views.catalog.swaps(in: txn))
            if let hit = bestSellerCache.lookup(key, source: source) { return hit }
            let v = CommerceViews(LMDBProjectionStore(txn: txn, tables: tables.projections))
            let sellers = try bestSellerCache.bestSellers(window, limit: limit, at: source,
                                                          salesBetween: sales(after:through:),
                                                          sumAll: { try v.unitsSold(from: window.firstDay, through: last) })
            let items = try sellers.enumerated().compactMap { i, seller -> BestSellerEntry? in
                guard let product = try v.product(seller.productId) else { return nil }
                return BestSellerEntry(rank: i + 1, product: product, quantity: seller.quantity)
            }
            bestSellerCache.store(key, source: source, items: items)
            return items
        }
        return (window.firstDay, last, items)
    }

    /// The daily sales made by the events after `after` through `through`, read from the log.
    private func sales(after: UInt64, through: UInt64) throws -> [DailySalesProjection.Sale] {
        var sales: [DailySalesProjection.Sale] = []
        try forEachEvent(after: after) { record in
            guard record.position <= through else { return false }
            if DailySalesProjection.eventTypes.contains(record.type) {
                let recorded = RecordedEvent(position: record.position, timestamp: record.timestamp, event: try record.commerceEvent())
                sales += projections.dailySales.sales(in: recorded)
            }
            return true
        }
        return sales
    }

    /// The position each projection has applied: the views' position, shared by all of them.
    public func appliedPositions() throws -> [(name: String, position: UInt64)] {
        let position = try views.environment.read { try views.position(in: $0).position }
        return projections.all.map { ($0.name, position) }
    }
}

/// A pure fold of events into tables: given the same events in the same order it writes the same bytes.
public protocol Projection: Sendable {
    var name: String { get }
    var tables: [ProjectionTable] { get }
    func apply<S: ProjectionStore>(_ event: RecordedEvent, to store: S) throws
}

/// Every projection the ledger keeps inline. Applied by direct calls, not through an array of
/// existentials, so the compiler specializes each fold for the store it writes to.
public struct CommerceProjections: Sendable {
    public let sequences = SequenceProjection()
    public let pointBalances = PointBalanceProjection()
    public let pointHistory = PointHistoryProjection()
    public let products = ProductProjection()
    public let coupons = CouponProjection()
    public let userCoupons = UserCouponProjection()
    public let orders = OrderProjection()
    public let issueRequests = CouponIssueRequestProjection()
    public let dailySales: DailySalesProjection

    /// Daily sales are counted in `calendar`'s days.
    public init(calendar: DayCalendar) {
        dailySales = DailySalesProjection(calendar: calendar)
    }

    /// In the order they are applied.
    public var all: [any Projection] {
        [sequences, pointBalances, pointHistory, products, coupons, userCoupons, orders, issueRequests, dailySales]
    }

    /// Applies only the projections named in `only` (a rebuild of some of them).
    public func apply<S: ProjectionStore>(_ event: RecordedEvent, to store: S, only: Set<String>) throws {
        for projection in all where only.contains(projection.name) { try projection.apply(event, to: store) }
    }

    public func apply<S: ProjectionStore>(_ event: RecordedEvent, to store: S) throws {
        try sequences.apply(event, to: store)
        try pointBalances.apply(event, to: store)
        try pointHistory.apply(event, to: store)
        try products.apply(event, to: store)
        try coupons.apply(event, to: store)
        try userCoupons.apply(event, to: store)
        try orders.apply(event, to: store)
        try issueRequests.apply(event, to: store)
        try dailySales.apply(event, to: store)
    }
}

/// A pure fold of events into tables: given the same events in the same order it writes the same bytes.
public protocol Projection: Sendable {
    var name: String { get }
    var tables: [ProjectionTable] { get }
    func apply<S: ProjectionStore>(_ event: RecordedEvent, to store: S) throws
}

public enum Projections {
    /// Every projection the ledger keeps inline, in the order they are applied.
    public static func all(rules: CommerceRules) -> [any Projection] {
        [
            SequenceProjection(), PointBalanceProjection(), PointHistoryProjection(), ProductProjection(),
            CouponProjection(), UserCouponProjection(), OrderProjection(), CouponIssueRequestProjection(),
            DailySalesProjection(calendar: DayCalendar(timeZoneIdentifier: rules.timeZoneIdentifier)),
        ]
    }

    public static func apply<S: ProjectionStore>(_ event: RecordedEvent, to store: S, projections: [any Projection]) throws {
        for projection in projections { try projection.apply(event, to: store) }
    }
}

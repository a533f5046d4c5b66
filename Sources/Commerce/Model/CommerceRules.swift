/// Every business limit in one value, so deployments and tests can override any of them.
public struct CommerceRules: Sendable, Equatable {
    /// MIN_CHARGE_AMOUNT: the smallest single charge.
    public var minChargeAmount: Int64 = 10_000
    /// BALANCE_LIMIT_EXCEEDED: no charge may leave a balance above this.
    public var maxBalance: Int64 = 10_000_000
    public var maxOrderLines: Int = 100
    public var maxQuantityPerLine: Int64 = 1_000_000
    public var maxPrice: Int64 = 1_000_000_000
    public var maxStock: Int64 = 1_000_000_000
    public var maxCouponQuantity: Int64 = 100_000_000
    public var maxNameLength: Int = 200
    /// The best-seller view's default length and window, and the most a query may ask for.
    public var bestSellerLimit: Int = 5
    public var bestSellerDays: Int = 3
    public var bestSellerMaxLimit: Int = 100
    public var bestSellerMaxDays: Int = 30
    /// Calendar days for daily sales are counted in this zone.
    public var timeZoneIdentifier: String = "Asia/Seoul"

    public init() {}
}

/// Milliseconds since 1970-01-01T00:00:00Z.
public typealias Timestamp = Int64

public enum Millis {
    public static let day: Int64 = 86_400_000
}

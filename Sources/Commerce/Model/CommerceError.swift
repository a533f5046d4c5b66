/// A command the rules refuse. `code` is stable: clients match on it.
public struct CommerceError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case invalidInput = "INVALID_INPUT"
        case minChargeAmount = "MIN_CHARGE_AMOUNT"
        case balanceLimitExceeded = "BALANCE_LIMIT_EXCEEDED"
        case productNotFound = "PRODUCT_NOT_FOUND"
        case stockLimitExceeded = "STOCK_LIMIT_EXCEEDED"
        case couponNotFound = "COUPON_NOT_FOUND"
        case couponNotActive = "COUPON_NOT_ACTIVE"
        case couponExpired = "COUPON_EXPIRED"
        case couponAlreadyIssued = "COUPON_ALREADY_ISSUED"
        case couponSoldOut = "COUPON_SOLD_OUT"
        case couponNotUsable = "COUPON_NOT_USABLE"
        case insufficientStock = "INSUFFICIENT_STOCK"
        case insufficientPoints = "INSUFFICIENT_POINTS"
        case orderNotFound = "ORDER_NOT_FOUND"
        case orderNotCompensable = "ORDER_NOT_COMPENSABLE"
        case requestNotFound = "REQUEST_NOT_FOUND"
        case idempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    static func invalid(_ message: String) -> CommerceError { .init(.invalidInput, message) }
}

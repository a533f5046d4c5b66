import BinaryCodec

/// Everything a client can ask the ledger to do.
public enum CommerceCommand: Sendable, Equatable {
    case chargePoints(userId: Int64, amount: Int64)
    case registerProduct(name: String, price: Int64, stock: Int64)
    case restockProduct(productId: Int64, quantity: Int64)
    case defineCoupon(CouponDefinition)
    case issueCoupon(userId: Int64, couponId: Int64)
    case requestCouponIssue(userId: Int64, couponId: Int64)
    case placeOrder(userId: Int64, items: [OrderItem], couponId: Int64?)
    case compensateOrder(orderId: Int64, reason: String)

    public var name: String {
        switch self {
        case .chargePoints: return "ChargePoints"
        case .registerProduct: return "RegisterProduct"
        case .restockProduct: return "RestockProduct"
        case .defineCoupon: return "DefineCoupon"
        case .issueCoupon: return "IssueCoupon"
        case .requestCouponIssue: return "RequestCouponIssue"
        case .placeOrder: return "PlaceOrder"
        case .compensateOrder: return "CompensateOrder"
        }
    }

    /// A canonical encoding: two commands are the same exactly when their encodings are equal
    /// (how an idempotency key's reuse is told from a retry).
    public func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 32)
        w.write(string: name)
        switch self {
        case let .chargePoints(user, amount): w.write(varint: user); w.write(varint: amount)
        case let .registerProduct(name, price, stock): w.write(string: name); w.write(varint: price); w.write(varint: stock)
        case let .restockProduct(product, quantity): w.write(varint: product); w.write(varint: quantity)
        case let .defineCoupon(d):
            w.write(string: d.name); d.discount.encode(into: &w); w.write(varint: d.totalQuantity)
            w.write(varint: d.issueStartsAt); w.write(varint: d.issueEndsAt); d.validity.encode(into: &w)
        case let .issueCoupon(user, coupon), let .requestCouponIssue(user, coupon): w.write(varint: user); w.write(varint: coupon)
        case let .placeOrder(user, items, coupon):
            w.write(varint: user)
            encodeList(items, into: &w) { $0.encode(into: &$1) }
            w.write(optional: coupon) { $0.write(varint: $1) }
        case let .compensateOrder(order, reason): w.write(varint: order); w.write(string: reason)
        }
        return w.bytes
    }
}

public struct CouponDefinition: Sendable, Equatable {
    public var name: String
    public var discount: Discount
    public var totalQuantity: Int64
    public var issueStartsAt: Timestamp
    public var issueEndsAt: Timestamp
    public var validity: CouponValidity

    public init(name: String, discount: Discount, totalQuantity: Int64, issueStartsAt: Timestamp, issueEndsAt: Timestamp, validity: CouponValidity) {
        self.name = name
        self.discount = discount
        self.totalQuantity = totalQuantity
        self.issueStartsAt = issueStartsAt
        self.issueEndsAt = issueEndsAt
        self.validity = validity
    }
}

import BinaryCodec
import LedgerJSON

/// How much a coupon takes off an order.
public enum Discount: Sendable, Equatable {
    case fixed(amount: Int64)
    /// `percent` of the total, floored to whole won, capped at `maxAmount` when given.
    case percent(Int64, maxAmount: Int64?)

    /// Never more than the total: a coupon cannot make an order pay out.
    public func amount(on total: Int64) -> Int64 {
        switch self {
        case let .fixed(amount):
            return min(amount, total)
        case let .percent(percent, cap):
            // Exactly floor(total × percent / 100), through a 128-bit product: with the percent
            // within 0...100 the quotient is at most the total, so it always fits.
            let wide = total.multipliedFullWidth(by: min(max(percent, 0), 100))
            var off = Int64(100).dividingFullWidth((high: wide.high, low: wide.low)).quotient
            if let cap { off = min(off, cap) }
            return min(off, total)
        }
    }

    public func validate() throws {
        switch self {
        case let .fixed(amount):
            guard amount >= 1, amount <= 1_000_000_000 else {
                throw CommerceError.invalid("fixed discount amount must be between 1 and 1,000,000,000")
            }
        case let .percent(percent, cap):
            guard (1...100).contains(percent) else { throw CommerceError.invalid("discount percent must be between 1 and 100") }
            if let cap, cap < 1 || cap > 1_000_000_000 {
                throw CommerceError.invalid("discount maxAmount must be between 1 and 1,000,000,000")
            }
        }
    }

    func encode(into w: inout BinaryWriter) {
        switch self {
        case let .fixed(amount):
            w.write(UInt8(0))
            w.write(varint: amount)
        case let .percent(percent, cap):
            w.write(UInt8(1))
            w.write(varint: percent)
            w.write(optional: cap) { $0.write(varint: $1) }
        }
    }

    static func decode(from r: inout BinaryReader) throws -> Discount {
        switch try r.readByte() {
        case 0: return .fixed(amount: try r.readVarInt())
        case 1: return .percent(try r.readVarInt(), maxAmount: try r.readOptional { try $0.readVarInt() })
        case let tag: throw DecodingError("discount tag \(tag)")
        }
    }

    public var json: JSONValue {
        switch self {
        case let .fixed(amount):
            return .object([("type", .string("FIXED")), ("amount", .int(amount))])
        case let .percent(percent, cap):
            return .object([("type", .string("PERCENT")), ("percent", .int(percent)), ("maxAmount", .optional(cap))])
        }
    }
}

/// How long an issued coupon stays usable.
public enum CouponValidity: Sendable, Equatable {
    case days(Int64)
    case until(Timestamp)

    public func expiry(issuedAt: Timestamp) -> Timestamp {
        switch self {
        case let .days(d): return issuedAt + d * Millis.day
        case let .until(t): return t
        }
    }

    func encode(into w: inout BinaryWriter) {
        switch self {
        case let .days(d): w.write(UInt8(0)); w.write(varint: d)
        case let .until(t): w.write(UInt8(1)); w.write(varint: t)
        }
    }

    static func decode(from r: inout BinaryReader) throws -> CouponValidity {
        switch try r.readByte() {
        case 0: return .days(try r.readVarInt())
        case 1: return .until(try r.readVarInt())
        case let tag: throw DecodingError("validity tag \(tag)")
        }
    }
}

public struct OrderItem: Sendable, Equatable {
    public let productId: Int64
    public let quantity: Int64
    public init(productId: Int64, quantity: Int64) {
        self.productId = productId
        self.quantity = quantity
    }
}

/// A line of a completed order, with the price as of the order.
public struct OrderLine: Sendable, Equatable {
    public let productId: Int64
    public let name: String
    public let unitPrice: Int64
    public let quantity: Int64
    public var amount: Int64 { unitPrice * quantity }

    public init(productId: Int64, name: String, unitPrice: Int64, quantity: Int64) {
        self.productId = productId
        self.name = name
        self.unitPrice = unitPrice
        self.quantity = quantity
    }
}

import BinaryCodec
import LedgerJSON

public struct CouponDefined: DomainEvent {
    public static let type = "CouponDefined"
    /// v1 (first release) knew only fixed discounts and a validity in days; v2 added percent
    /// discounts and validity until a date. v1 records are upcast on decode.
    public static let schemaVersion: UInt16 = 2
    public let couponId: Int64
    public let name: String
    public let discount: Discount
    public let totalQuantity: Int64
    public let issueStartsAt: Timestamp
    public let issueEndsAt: Timestamp
    public let validity: CouponValidity
    public var stream: String { Streams.coupon(couponId) }

    public init(couponId: Int64, name: String, discount: Discount, totalQuantity: Int64,
                issueStartsAt: Timestamp, issueEndsAt: Timestamp, validity: CouponValidity) {
        self.couponId = couponId
        self.name = name
        self.discount = discount
        self.totalQuantity = totalQuantity
        self.issueStartsAt = issueStartsAt
        self.issueEndsAt = issueEndsAt
        self.validity = validity
    }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: couponId); w.write(string: name); discount.encode(into: &w)
        w.write(varint: totalQuantity); w.write(varint: issueStartsAt); w.write(varint: issueEndsAt)
        validity.encode(into: &w)
    }

    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        try requireVersion(schemaVersion, 1...2)
        if schemaVersion == 1 {
            // v1: id, name, fixed amount, total, starts, ends, valid days.
            return .init(
                couponId: try r.readVarInt(), name: try r.readString(), discount: .fixed(amount: try r.readVarInt()),
                totalQuantity: try r.readVarInt(), issueStartsAt: try r.readVarInt(), issueEndsAt: try r.readVarInt(),
                validity: .days(try r.readVarInt())
            )
        }
        return .init(
            couponId: try r.readVarInt(), name: try r.readString(), discount: try Discount.decode(from: &r),
            totalQuantity: try r.readVarInt(), issueStartsAt: try r.readVarInt(), issueEndsAt: try r.readVarInt(),
            validity: try CouponValidity.decode(from: &r)
        )
    }

    public var json: JSONValue {
        var fields: [(String, JSONValue)] = [
            ("couponId", .int(couponId)), ("name", .string(name)), ("discount", discount.json),
            ("totalQuantity", .int(totalQuantity)), ("issueStartsAt", .string(ISO8601.format(issueStartsAt))),
            ("issueEndsAt", .string(ISO8601.format(issueEndsAt))),
        ]
        switch validity {
        case let .days(d): fields.append(("validDays", .int(d)))
        case let .until(t): fields.append(("validUntil", .string(ISO8601.format(t))))
        }
        return .object(fields)
    }
}

public struct CouponIssueRequested: DomainEvent {
    public static let type = "CouponIssueRequested"
    public static let schemaVersion: UInt16 = 1
    public let requestId: Int64
    public let couponId: Int64
    public let userId: Int64
    public var stream: String { Streams.coupon(couponId) }

    public init(requestId: Int64, couponId: Int64, userId: Int64) {
        self.requestId = requestId
        self.couponId = couponId
        self.userId = userId
    }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: requestId); w.write(varint: couponId); w.write(varint: userId)
    }

    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        try requireVersion(schemaVersion, 1...1)
        return .init(requestId: try r.readVarInt(), couponId: try r.readVarInt(), userId: try r.readVarInt())
    }

    public var json: JSONValue {
        .object([("requestId", .int(requestId)), ("couponId", .int(couponId)), ("userId", .int(userId))])
    }
}

public struct CouponIssued: DomainEvent {
    public static let type = "CouponIssued"
    public static let schemaVersion: UInt16 = 1
    public let couponId: Int64
    public let userId: Int64
    public let userCouponId: Int64
    public let issuedAt: Timestamp
    public let expiresAt: Timestamp
    /// Set when the issue answered an asynchronous request.
    public let requestId: Int64?
    public var stream: String { Streams.coupon(couponId) }

    public init(couponId: Int64, userId: Int64, userCouponId: Int64, issuedAt: Timestamp, expiresAt: Timestamp, requestId: Int64?) {
        self.couponId = couponId
        self.userId = userId
        self.userCouponId = userCouponId
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.requestId = requestId
    }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: couponId); w.write(varint: userId); w.write(varint: userCouponId)
        w.write(varint: issuedAt); w.write(varint: expiresAt); w.write(optional: requestId) { $0.write(varint: $1) }
    }

    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        try requireVersion(schemaVersion, 1...1)
        return .init(couponId: try r.readVarInt(), userId: try r.readVarInt(), userCouponId: try r.readVarInt(),
                     issuedAt: try r.readVarInt(), expiresAt: try r.readVarInt(), requestId: try r.readOptional { try $0.readVarInt() })
    }

    public var json: JSONValue {
        .object([("couponId", .int(couponId)), ("userId", .int(userId)), ("userCouponId", .int(userCouponId)),
                 ("issuedAt", .string(ISO8601.format(issuedAt))), ("expiresAt", .string(ISO8601.format(expiresAt))),
                 ("requestId", .optional(requestId))])
    }
}

public struct CouponIssueRejected: DomainEvent {
    public static let type = "CouponIssueRejected"
    public static let schemaVersion: UInt16 = 1
    public let requestId: Int64
    public let couponId: Int64
    public let userId: Int64
    public let reason: String
    public var stream: String { Streams.coupon(couponId) }

    public init(requestId: Int64, couponId: Int64, userId: Int64, reason: String) {
        self.requestId = requestId
        self.couponId = couponId
        self.userId = userId
        self.reason = reason
    }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: requestId); w.write(varint: couponId); w.write(varint: userId); w.write(string: reason)
    }

    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        try requireVersion(schemaVersion, 1...1)
        return .init(requestId: try r.readVarInt(), couponId: try r.readVarInt(), userId: try r.readVarInt(), reason: try r.readString())
    }

    public var json: JSONValue {
        .object([("requestId", .int(requestId)), ("couponId", .int(couponId)), ("userId", .int(userId)), ("reason", .string(reason))])
    }
}

/// A held coupon spent on an order (CouponUsed) or given back by compensation (CouponRestored).
public struct CouponUse: EventShape {
    public let couponId: Int64
    public let userId: Int64
    public let orderId: Int64

    public init(couponId: Int64, userId: Int64, orderId: Int64) {
        self.couponId = couponId
        self.userId = userId
        self.orderId = orderId
    }

    public var stream: String { Streams.coupon(couponId) }
    public func encode(into w: inout BinaryWriter) { w.write(varint: couponId); w.write(varint: userId); w.write(varint: orderId) }
    public static func decode(from r: inout BinaryReader) throws -> Self {
        .init(couponId: try r.readVarInt(), userId: try r.readVarInt(), orderId: try r.readVarInt())
    }
    public var json: JSONValue { .object([("couponId", .int(couponId)), ("userId", .int(userId)), ("orderId", .int(orderId))]) }
}

public struct CouponUsed: ShapedEvent {
    public static let type = "CouponUsed"
    public let use: CouponUse
    public var shape: CouponUse { use }
    public init(_ use: CouponUse) { self.use = use }
}

public struct CouponRestored: ShapedEvent {
    public static let type = "CouponRestored"
    public let use: CouponUse
    public var shape: CouponUse { use }
    public init(_ use: CouponUse) { self.use = use }
}

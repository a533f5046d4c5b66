import BinaryCodec

/// Row formats of the projection tables. Rows are written only by projections and read by
/// deciders (as state) and queries (as views).
public struct ProductRecord: Sendable, Equatable {
    public let id: Int64
    public var name: String
    public var price: Int64
    public var stock: Int64

    public init(id: Int64, name: String, price: Int64, stock: Int64) {
        self.id = id
        self.name = name
        self.price = price
        self.stock = stock
    }

    func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 32)
        w.write(varint: id); w.write(string: name); w.write(varint: price); w.write(varint: stock)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> ProductRecord {
        try bytes.decode { r in
            ProductRecord(id: try r.readVarInt(), name: try r.readString(), price: try r.readVarInt(), stock: try r.readVarInt())
        }
    }
}

public struct CouponRecord: Sendable, Equatable {
    public let definition: CouponDefined
    public var issuedQuantity: Int64
    /// When the last coupon was issued, once none is left.
    public var soldOutAt: Timestamp?
    public var id: Int64 { definition.couponId }

    public init(definition: CouponDefined, issuedQuantity: Int64, soldOutAt: Timestamp? = nil) {
        self.definition = definition
        self.issuedQuantity = issuedQuantity
        self.soldOutAt = soldOutAt
    }
    public var remaining: Int64 { definition.totalQuantity - issuedQuantity }

    func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 64)
        definition.encode(into: &w)
        w.write(varint: issuedQuantity)
        w.write(optional: soldOutAt) { $0.write(varint: $1) }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> CouponRecord {
        try bytes.decode { r in
            CouponRecord(definition: try CouponDefined.decode(schemaVersion: CouponDefined.schemaVersion, from: &r), issuedQuantity: try r.readVarInt(),
                         soldOutAt: try r.readOptional { try $0.readVarInt() })
        }
    }
}

public enum UserCouponStatus: String, Sendable, Equatable {
    case available = "AVAILABLE"
    case used = "USED"
    case expired = "EXPIRED"
}

public struct UserCouponRecord: Sendable, Equatable {
    public let userCouponId: Int64
    public let couponId: Int64
    public let userId: Int64
    public let issuedAt: Timestamp
    public let expiresAt: Timestamp
    public var used: Bool
    public var usedAt: Timestamp?
    public var orderId: Int64?

    /// Expiry is judged against the caller's clock, not stored, so it never needs a sweeper.
    public func status(at now: Timestamp) -> UserCouponStatus {
        if used { return .used }
        return now >= expiresAt ? .expired : .available
    }

    func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 48)
        w.write(varint: userCouponId); w.write(varint: couponId); w.write(varint: userId)
        w.write(varint: issuedAt); w.write(varint: expiresAt); w.write(bool: used)
        w.write(optional: usedAt) { $0.write(varint: $1) }
        w.write(optional: orderId) { $0.write(varint: $1) }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> UserCouponRecord {
        try bytes.decode { r in
            UserCouponRecord(
                userCouponId: try r.readVarInt(), couponId: try r.readVarInt(), userId: try r.readVarInt(),
                issuedAt: try r.readVarInt(), expiresAt: try r.readVarInt(), used: try r.readBool(),
                usedAt: try r.readOptional { try $0.readVarInt() }, orderId: try r.readOptional { try $0.readVarInt() }
            )
        }
    }
}

public enum OrderStatus: String, Sendable, Equatable {
    case completed = "COMPLETED"
    case failed = "FAILED"
    case compensated = "COMPENSATED"
}

public struct OrderRecord: Sendable, Equatable {
    public let orderId: Int64
    public let userId: Int64
    public var status: OrderStatus
    /// Priced lines for a completed order; for a failed one, lines with what is known (price 0).
    public let lines: [OrderLine]
    public let couponId: Int64?
    public let totalAmount: Int64
    public let discountAmount: Int64
    public let paidAmount: Int64
    public let createdAt: Timestamp
    public var failureReason: String?
    public var failureStep: String?
    public var compensatedAt: Timestamp?
    public var compensationReason: String?

    func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 96)
        w.write(varint: orderId); w.write(varint: userId); w.write(string: status.rawValue)
        encodeList(lines, into: &w) { $0.encode(into: &$1) }
        w.write(optional: couponId) { $0.write(varint: $1) }
        w.write(varint: totalAmount); w.write(varint: discountAmount); w.write(varint: paidAmount); w.write(varint: createdAt)
        w.write(optional: failureReason) { $0.write(string: $1) }
        w.write(optional: failureStep) { $0.write(string: $1) }
        w.write(optional: compensatedAt) { $0.write(varint: $1) }
        w.write(optional: compensationReason) { $0.write(string: $1) }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> OrderRecord {
        try bytes.decode { r in
            let orderId = try r.readVarInt()
            let userId = try r.readVarInt()
            let statusText = try r.readString()
            guard let status = OrderStatus(rawValue: statusText) else { throw DecodingError("order status \(statusText)") }
            return OrderRecord(
                orderId: orderId, userId: userId, status: status, lines: try decodeList(from: &r, OrderLine.decode),
                couponId: try r.readOptional { try $0.readVarInt() }, totalAmount: try r.readVarInt(),
                discountAmount: try r.readVarInt(), paidAmount: try r.readVarInt(), createdAt: try r.readVarInt(),
                failureReason: try r.readOptional { try $0.readString() }, failureStep: try r.readOptional { try $0.readString() },
                compensatedAt: try r.readOptional { try $0.readVarInt() }, compensationReason: try r.readOptional { try $0.readString() }
            )
        }
    }
}

public enum IssueRequestStatus: String, Sendable, Equatable {
    case pending = "PENDING"
    case issued = "ISSUED"
    case rejected = "REJECTED"
}

public struct IssueRequestRecord: Sendable, Equatable {
    public let requestId: Int64
    public let couponId: Int64
    public let userId: Int64
    public let requestedAt: Timestamp
    public var status: IssueRequestStatus
    public var reason: String?
    public var userCouponId: Int64?
    public var decidedAt: Timestamp?

    func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 40)
        w.write(varint: requestId); w.write(varint: couponId); w.write(varint: userId); w.write(varint: requestedAt)
        w.write(string: status.rawValue)
        w.write(optional: reason) { $0.write(string: $1) }
        w.write(optional: userCouponId) { $0.write(varint: $1) }
        w.write(optional: decidedAt) { $0.write(varint: $1) }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> IssueRequestRecord {
        try bytes.decode { r in
            let requestId = try r.readVarInt()
            let couponId = try r.readVarInt()
            let userId = try r.readVarInt()
            let requestedAt = try r.readVarInt()
            let statusText = try r.readString()
            guard let status = IssueRequestStatus(rawValue: statusText) else { throw DecodingError("request status \(statusText)") }
            return IssueRequestRecord(
                requestId: requestId, couponId: couponId, userId: userId, requestedAt: requestedAt, status: status,
                reason: try r.readOptional { try $0.readString() }, userCouponId: try r.readOptional { try $0.readVarInt() },
                decidedAt: try r.readOptional { try $0.readVarInt() }
            )
        }
    }
}

public enum PointHistoryType: String, Sendable, Equatable {
    case charge = "CHARGE"
    case use = "USE"
    case refund = "REFUND"
}

public struct PointHistoryEntry: Sendable, Equatable {
    /// The log position of the change: the history's paging cursor.
    public let position: UInt64
    public let type: PointHistoryType
    public let amount: Int64
    public let balanceAfter: Int64
    public let orderId: Int64?
    public let at: Timestamp

    func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 24)
        w.write(string: type.rawValue); w.write(varint: amount); w.write(varint: balanceAfter)
        w.write(optional: orderId) { $0.write(varint: $1) }
        w.write(varint: at)
        return w.bytes
    }

    static func decode(position: UInt64, _ bytes: [UInt8]) throws -> PointHistoryEntry {
        try bytes.decode { r in
            let typeText = try r.readString()
            guard let type = PointHistoryType(rawValue: typeText) else { throw DecodingError("history type \(typeText)") }
            return PointHistoryEntry(position: position, type: type, amount: try r.readVarInt(), balanceAfter: try r.readVarInt(),
                                     orderId: try r.readOptional { try $0.readVarInt() }, at: try r.readVarInt())
        }
    }
}

import BinaryCodec
import LedgerJSON

extension OrderLine {
    func encode(into w: inout BinaryWriter) {
        w.write(varint: productId); w.write(string: name); w.write(varint: unitPrice); w.write(varint: quantity)
    }
    static func decode(from r: inout BinaryReader) throws -> OrderLine {
        .init(productId: try r.readVarInt(), name: try r.readString(), unitPrice: try r.readVarInt(), quantity: try r.readVarInt())
    }
    var json: JSONValue {
        .object([("productId", .int(productId)), ("name", .string(name)), ("unitPrice", .int(unitPrice)),
                 ("quantity", .int(quantity)), ("amount", .int(amount))])
    }
}

extension OrderItem {
    func encode(into w: inout BinaryWriter) { w.write(varint: productId); w.write(varint: quantity) }
    static func decode(from r: inout BinaryReader) throws -> OrderItem {
        .init(productId: try r.readVarInt(), quantity: try r.readVarInt())
    }
    var json: JSONValue { .object([("productId", .int(productId)), ("quantity", .int(quantity))]) }
}

func encodeList<T>(_ items: [T], into w: inout BinaryWriter, _ body: (T, inout BinaryWriter) -> Void) {
    w.write(varint: UInt64(items.count))
    for item in items { body(item, &w) }
}

func decodeList<T>(from r: inout BinaryReader, _ body: (inout BinaryReader) throws -> T) throws -> [T] {
    let n = try r.readVarUInt()
    guard n <= UInt64(r.remaining) else { throw DecodingError("list of \(n) beyond end") }
    var out: [T] = []
    out.reserveCapacity(Int(n))
    for _ in 0..<n { out.append(try body(&r)) }
    return out
}

public struct OrderCompleted: DomainEvent {
    public static let type = "OrderCompleted"
    public static let schemaVersion: UInt16 = 1
    public let orderId: Int64
    public let userId: Int64
    public let lines: [OrderLine]
    public let couponId: Int64?
    public let totalAmount: Int64
    public let discountAmount: Int64
    public let paidAmount: Int64
    public var stream: String { Streams.order(orderId) }

    public init(orderId: Int64, userId: Int64, lines: [OrderLine], couponId: Int64?, totalAmount: Int64, discountAmount: Int64, paidAmount: Int64) {
        self.orderId = orderId
        self.userId = userId
        self.lines = lines
        self.couponId = couponId
        self.totalAmount = totalAmount
        self.discountAmount = discountAmount
        self.paidAmount = paidAmount
    }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: orderId); w.write(varint: userId)
        encodeList(lines, into: &w) { $0.encode(into: &$1) }
        w.write(optional: couponId) { $0.write(varint: $1) }
        w.write(varint: totalAmount); w.write(varint: discountAmount); w.write(varint: paidAmount)
    }

    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        try requireVersion(schemaVersion, 1...1)
        return .init(orderId: try r.readVarInt(), userId: try r.readVarInt(), lines: try decodeList(from: &r, OrderLine.decode),
                     couponId: try r.readOptional { try $0.readVarInt() }, totalAmount: try r.readVarInt(),
                     discountAmount: try r.readVarInt(), paidAmount: try r.readVarInt())
    }

    public var json: JSONValue {
        .object([("orderId", .int(orderId)), ("userId", .int(userId)), ("lines", .array(lines.map(\.json))),
                 ("couponId", .optional(couponId)), ("totalAmount", .int(totalAmount)),
                 ("discountAmount", .int(discountAmount)), ("paidAmount", .int(paidAmount))])
    }
}

/// Which step of the seed's order flow refused the order.
public enum OrderStep: String, Sendable, Equatable, CaseIterable {
    case stock = "STOCK"
    case coupon = "COUPON"
    case points = "POINTS"
}

public struct OrderFailed: DomainEvent {
    public static let type = "OrderFailed"
    public static let schemaVersion: UInt16 = 1
    public let orderId: Int64
    public let userId: Int64
    public let items: [OrderItem]
    public let couponId: Int64?
    public let reason: CommerceError.Code
    public let step: OrderStep
    public let message: String
    public var stream: String { Streams.order(orderId) }

    public init(orderId: Int64, userId: Int64, items: [OrderItem], couponId: Int64?, reason: CommerceError.Code, step: OrderStep, message: String) {
        self.orderId = orderId
        self.userId = userId
        self.items = items
        self.couponId = couponId
        self.reason = reason
        self.step = step
        self.message = message
    }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: orderId); w.write(varint: userId)
        encodeList(items, into: &w) { $0.encode(into: &$1) }
        w.write(optional: couponId) { $0.write(varint: $1) }
        w.write(string: reason.rawValue); w.write(string: step.rawValue); w.write(string: message)
    }

    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        try requireVersion(schemaVersion, 1...1)
        let orderId = try r.readVarInt()
        let userId = try r.readVarInt()
        let items = try decodeList(from: &r, OrderItem.decode)
        let couponId = try r.readOptional { try $0.readVarInt() }
        let reasonText = try r.readString()
        let stepText = try r.readString()
        guard let reason = CommerceError.Code(rawValue: reasonText), let step = OrderStep(rawValue: stepText) else {
            throw DecodingError("OrderFailed reason \(reasonText) step \(stepText)")
        }
        return .init(orderId: orderId, userId: userId, items: items, couponId: couponId, reason: reason, step: step, message: try r.readString())
    }

    public var json: JSONValue {
        .object([("orderId", .int(orderId)), ("userId", .int(userId)), ("items", .array(items.map(\.json))),
                 ("couponId", .optional(couponId)), ("reason", .string(reason.rawValue)), ("step", .string(step.rawValue)),
                 ("message", .string(message))])
    }
}

public struct OrderCompensated: DomainEvent {
    public static let type = "OrderCompensated"
    public static let schemaVersion: UInt16 = 1
    public let orderId: Int64
    public let userId: Int64
    public let reason: String
    /// When the order was placed, so daily sales are taken back from the day they were counted on.
    public let orderedAt: Timestamp
    public let items: [OrderItem]
    public let refundedAmount: Int64
    public let couponRestored: Bool
    public var stream: String { Streams.order(orderId) }

    public init(orderId: Int64, userId: Int64, reason: String, orderedAt: Timestamp, items: [OrderItem], refundedAmount: Int64, couponRestored: Bool) {
        self.orderId = orderId
        self.userId = userId
        self.reason = reason
        self.orderedAt = orderedAt
        self.items = items
        self.refundedAmount = refundedAmount
        self.couponRestored = couponRestored
    }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: orderId); w.write(varint: userId); w.write(string: reason); w.write(varint: orderedAt)
        encodeList(items, into: &w) { $0.encode(into: &$1) }
        w.write(varint: refundedAmount); w.write(bool: couponRestored)
    }

    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        try requireVersion(schemaVersion, 1...1)
        return .init(orderId: try r.readVarInt(), userId: try r.readVarInt(), reason: try r.readString(), orderedAt: try r.readVarInt(),
                     items: try decodeList(from: &r, OrderItem.decode), refundedAmount: try r.readVarInt(), couponRestored: try r.readBool())
    }

    public var json: JSONValue {
        .object([("orderId", .int(orderId)), ("userId", .int(userId)), ("reason", .string(reason)),
                 ("orderedAt", .string(ISO8601.format(orderedAt))), ("items", .array(items.map(\.json))),
                 ("refundedAmount", .int(refundedAmount)), ("couponRestored", .bool(couponRestored))])
    }
}

import BinaryCodec
import LedgerJSON

public struct PointCharged: DomainEvent {
    public static let type = "PointCharged"
    public static let schemaVersion: UInt16 = 1
    public let userId: Int64
    public let amount: Int64
    public let balanceAfter: Int64
    public var stream: String { Streams.user(userId) }

    public init(userId: Int64, amount: Int64, balanceAfter: Int64) {
        self.userId = userId
        self.amount = amount
        self.balanceAfter = balanceAfter
    }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: userId); w.write(varint: amount); w.write(varint: balanceAfter)
    }

    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        try requireVersion(schemaVersion, 1...1)
        return .init(userId: try r.readVarInt(), amount: try r.readVarInt(), balanceAfter: try r.readVarInt())
    }

    public var json: JSONValue {
        .object([("userId", .int(userId)), ("amount", .int(amount)), ("balanceAfter", .int(balanceAfter))])
    }
}

/// Points paid for an order (USE) or given back on compensation (REFUND) share this shape.
public struct PointMovement: EventShape {
    public let userId: Int64
    public let amount: Int64
    public let balanceAfter: Int64
    public let orderId: Int64

    public init(userId: Int64, amount: Int64, balanceAfter: Int64, orderId: Int64) {
        self.userId = userId
        self.amount = amount
        self.balanceAfter = balanceAfter
        self.orderId = orderId
    }

    public var stream: String { Streams.user(userId) }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: userId); w.write(varint: amount); w.write(varint: balanceAfter); w.write(varint: orderId)
    }

    public static func decode(from r: inout BinaryReader) throws -> Self {
        .init(userId: try r.readVarInt(), amount: try r.readVarInt(), balanceAfter: try r.readVarInt(), orderId: try r.readVarInt())
    }

    public var json: JSONValue {
        .object([("userId", .int(userId)), ("amount", .int(amount)), ("balanceAfter", .int(balanceAfter)), ("orderId", .int(orderId))])
    }
}

public struct PointUsed: ShapedEvent {
    public static let type = "PointUsed"
    public let movement: PointMovement
    public var shape: PointMovement { movement }
    public init(_ movement: PointMovement) { self.movement = movement }
}

public struct PointRefunded: ShapedEvent {
    public static let type = "PointRefunded"
    public let movement: PointMovement
    public var shape: PointMovement { movement }
    public init(_ movement: PointMovement) { self.movement = movement }
}

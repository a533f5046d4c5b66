import BinaryCodec
import LedgerJSON

public struct ProductRegistered: DomainEvent {
    public static let type = "ProductRegistered"
    public static let schemaVersion: UInt16 = 1
    public let productId: Int64
    public let name: String
    public let price: Int64
    public let stock: Int64
    public var stream: String { Streams.product(productId) }

    public init(productId: Int64, name: String, price: Int64, stock: Int64) {
        self.productId = productId
        self.name = name
        self.price = price
        self.stock = stock
    }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: productId); w.write(string: name); w.write(varint: price); w.write(varint: stock)
    }

    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        try requireVersion(schemaVersion, 1...1)
        return .init(productId: try r.readVarInt(), name: try r.readString(), price: try r.readVarInt(), stock: try r.readVarInt())
    }

    public var json: JSONValue {
        .object([("productId", .int(productId)), ("name", .string(name)), ("price", .int(price)), ("stock", .int(stock))])
    }
}

/// A change of one product's stock; `orderId` is nil for a restock.
public struct StockChange: EventShape {
    public let productId: Int64
    public let quantity: Int64
    public let stockAfter: Int64
    public let orderId: Int64?

    public init(productId: Int64, quantity: Int64, stockAfter: Int64, orderId: Int64?) {
        self.productId = productId
        self.quantity = quantity
        self.stockAfter = stockAfter
        self.orderId = orderId
    }

    public var stream: String { Streams.product(productId) }

    public func encode(into w: inout BinaryWriter) {
        w.write(varint: productId); w.write(varint: quantity); w.write(varint: stockAfter)
        w.write(optional: orderId) { $0.write(varint: $1) }
    }

    public static func decode(from r: inout BinaryReader) throws -> Self {
        .init(productId: try r.readVarInt(), quantity: try r.readVarInt(), stockAfter: try r.readVarInt(),
              orderId: try r.readOptional { try $0.readVarInt() })
    }

    public var json: JSONValue {
        .object([("productId", .int(productId)), ("quantity", .int(quantity)), ("stockAfter", .int(stockAfter)), ("orderId", .optional(orderId))])
    }
}

public struct ProductRestocked: ShapedEvent {
    public static let type = "ProductRestocked"
    public let change: StockChange
    public var shape: StockChange { change }
    public init(_ change: StockChange) { self.change = change }
}

public struct StockDeducted: ShapedEvent {
    public static let type = "StockDeducted"
    public let change: StockChange
    public var shape: StockChange { change }
    public init(_ change: StockChange) { self.change = change }
}

public struct StockRestored: ShapedEvent {
    public static let type = "StockRestored"
    public let change: StockChange
    public var shape: StockChange { change }
    public init(_ change: StockChange) { self.change = change }
}

import BinaryCodec
import LedgerJSON

/// One kind of fact. The type name and schema version are stored with every record.
public protocol DomainEvent: Sendable, Equatable {
    static var type: String { get }
    /// Bumped whenever the payload encoding changes; `decode` must still read every older version.
    static var schemaVersion: UInt16 { get }
    var stream: String { get }
    func encode(into w: inout BinaryWriter)
    static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self
    var json: JSONValue { get }
}

enum Streams {
    static func user(_ id: Int64) -> String { "user-\(id)" }
    static func product(_ id: Int64) -> String { "product-\(id)" }
    static func coupon(_ id: Int64) -> String { "coupon-\(id)" }
    static func order(_ id: Int64) -> String { "order-\(id)" }
}

extension DomainEvent {
    static func requireVersion(_ v: UInt16, _ allowed: ClosedRange<UInt16>) throws {
        guard allowed.contains(v) else { throw DecodingError("\(type) schema version \(v) is not known") }
    }
}

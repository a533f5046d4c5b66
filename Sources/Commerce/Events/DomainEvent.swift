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

/// The streams events belong to: one per user, product, coupon and order.
public enum Streams {
    static func user(_ id: Int64) -> String { "user-\(id)" }
    static func product(_ id: Int64) -> String { "product-\(id)" }
    static func coupon(_ id: Int64) -> String { "coupon-\(id)" }
    static func order(_ id: Int64) -> String { "order-\(id)" }

    /// The user a user stream belongs to; nil for any other name (only the exact form
    /// `user(id)` writes counts: `user-042` is not user 42's stream).
    public static func userId(of stream: String) -> Int64? {
        // Called for every event the writer appends: bytes, not substrings.
        var utf8 = stream.utf8.makeIterator()
        for expected in "user-".utf8 { guard utf8.next() == expected else { return nil } }
        var id: Int64 = 0
        var digits = 0
        while let byte = utf8.next() {
            guard byte >= 0x30, byte <= 0x39, !(digits == 0 && byte == 0x30) else { return nil }
            let (times, o1) = id.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int64(byte - 0x30))
            guard !o1, !o2 else { return nil }
            id = sum
            digits += 1
        }
        return digits > 0 ? id : nil
    }
}

extension DomainEvent {
    static func requireVersion(_ v: UInt16, _ allowed: ClosedRange<UInt16>) throws {
        guard allowed.contains(v) else { throw DecodingError("\(type) schema version \(v) is not known") }
    }
}

/// A payload shape several event types share (a use and a refund of points, a restock and a
/// deduction of stock, a use and a restoration of a coupon). The shape knows its stream.
public protocol EventShape: Sendable, Equatable {
    var stream: String { get }
    func encode(into w: inout BinaryWriter)
    static func decode(from r: inout BinaryReader) throws -> Self
    var json: JSONValue { get }
}

/// An event that is one shape under its own type name; coding and rendering come from the shape.
public protocol ShapedEvent: DomainEvent {
    associatedtype Shape: EventShape
    var shape: Shape { get }
    init(_ shape: Shape)
}

extension ShapedEvent {
    public static var schemaVersion: UInt16 { 1 }
    public var stream: String { shape.stream }
    public func encode(into w: inout BinaryWriter) { shape.encode(into: &w) }
    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        try requireVersion(schemaVersion, 1...1)
        return Self(try Shape.decode(from: &r))
    }
    public var json: JSONValue { shape.json }
}

import BinaryCodec
import LedgerJSON

/// Every fact the ledger records. `unknown` holds a type this build does not know (written by a
/// newer release): projections skip it, tools show it raw.
public enum CommerceEvent: Sendable, Equatable {
    case pointCharged(PointCharged)
    case pointUsed(PointUsed)
    case pointRefunded(PointRefunded)
    case productRegistered(ProductRegistered)
    case productRestocked(ProductRestocked)
    case stockDeducted(StockDeducted)
    case stockRestored(StockRestored)
    case couponDefined(CouponDefined)
    case couponIssueRequested(CouponIssueRequested)
    case couponIssued(CouponIssued)
    case couponIssueRejected(CouponIssueRejected)
    case couponUsed(CouponUsed)
    case couponRestored(CouponRestored)
    case orderCompleted(OrderCompleted)
    case orderFailed(OrderFailed)
    case orderCompensated(OrderCompensated)
    case unknown(type: String, schemaVersion: UInt16)

    public var payload: any DomainEvent {
        switch self {
        case let .pointCharged(e): return e
        case let .pointUsed(e): return e
        case let .pointRefunded(e): return e
        case let .productRegistered(e): return e
        case let .productRestocked(e): return e
        case let .stockDeducted(e): return e
        case let .stockRestored(e): return e
        case let .couponDefined(e): return e
        case let .couponIssueRequested(e): return e
        case let .couponIssued(e): return e
        case let .couponIssueRejected(e): return e
        case let .couponUsed(e): return e
        case let .couponRestored(e): return e
        case let .orderCompleted(e): return e
        case let .orderFailed(e): return e
        case let .orderCompensated(e): return e
        case let .unknown(type, version): return UnknownEvent(typeName: type, version: version)
        }
    }

    public var typeName: String {
        if case let .unknown(type, _) = self { return type }
        return Swift.type(of: payload).type
    }

    /// Stream, type, schema version and encoded payload: what the log stores.
    /// A switch over concrete types: no existential box on the hot path.
    public func encoded() -> (stream: String, type: String, schemaVersion: UInt16, payload: [UInt8]) {
        switch self {
        case let .pointCharged(e): return Self.encode(e)
        case let .pointUsed(e): return Self.encode(e)
        case let .pointRefunded(e): return Self.encode(e)
        case let .productRegistered(e): return Self.encode(e)
        case let .productRestocked(e): return Self.encode(e)
        case let .stockDeducted(e): return Self.encode(e)
        case let .stockRestored(e): return Self.encode(e)
        case let .couponDefined(e): return Self.encode(e)
        case let .couponIssueRequested(e): return Self.encode(e)
        case let .couponIssued(e): return Self.encode(e)
        case let .couponIssueRejected(e): return Self.encode(e)
        case let .couponUsed(e): return Self.encode(e)
        case let .couponRestored(e): return Self.encode(e)
        case let .orderCompleted(e): return Self.encode(e)
        case let .orderFailed(e): return Self.encode(e)
        case let .orderCompensated(e): return Self.encode(e)
        case let .unknown(type, version): return ("", type, version, [])
        }
    }

    @inline(__always)
    static func encode<E: DomainEvent>(_ event: E) -> (stream: String, type: String, schemaVersion: UInt16, payload: [UInt8]) {
        var w = BinaryWriter(capacity: 48)
        event.encode(into: &w)
        return (event.stream, E.type, E.schemaVersion, w.bytes)
    }

    /// Every known type, for decoding and for tools that list types.
    public static let knownTypes: [String: any DomainEvent.Type] = {
        let all: [any DomainEvent.Type] = [
            PointCharged.self, PointUsed.self, PointRefunded.self, ProductRegistered.self, ProductRestocked.self,
            StockDeducted.self, StockRestored.self, CouponDefined.self, CouponIssueRequested.self, CouponIssued.self,
            CouponIssueRejected.self, CouponUsed.self, CouponRestored.self, OrderCompleted.self, OrderFailed.self,
            OrderCompensated.self,
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.type, $0) })
    }()

    /// Decodes a stored payload; an unknown type gives `.unknown`, a malformed payload throws.
    public static func decode(type: String, schemaVersion: UInt16, payload: [UInt8]) throws -> CommerceEvent {
        try payload.withUnsafeBytes { raw in
            var r = BinaryReader(raw)
            let event: CommerceEvent
            switch type {
            case PointCharged.type: event = .pointCharged(try .decode(schemaVersion: schemaVersion, from: &r))
            case PointUsed.type: event = .pointUsed(try .decode(schemaVersion: schemaVersion, from: &r))
            case PointRefunded.type: event = .pointRefunded(try .decode(schemaVersion: schemaVersion, from: &r))
            case ProductRegistered.type: event = .productRegistered(try .decode(schemaVersion: schemaVersion, from: &r))
            case ProductRestocked.type: event = .productRestocked(try .decode(schemaVersion: schemaVersion, from: &r))
            case StockDeducted.type: event = .stockDeducted(try .decode(schemaVersion: schemaVersion, from: &r))
            case StockRestored.type: event = .stockRestored(try .decode(schemaVersion: schemaVersion, from: &r))
            case CouponDefined.type: event = .couponDefined(try .decode(schemaVersion: schemaVersion, from: &r))
            case CouponIssueRequested.type: event = .couponIssueRequested(try .decode(schemaVersion: schemaVersion, from: &r))
            case CouponIssued.type: event = .couponIssued(try .decode(schemaVersion: schemaVersion, from: &r))
            case CouponIssueRejected.type: event = .couponIssueRejected(try .decode(schemaVersion: schemaVersion, from: &r))
            case CouponUsed.type: event = .couponUsed(try .decode(schemaVersion: schemaVersion, from: &r))
            case CouponRestored.type: event = .couponRestored(try .decode(schemaVersion: schemaVersion, from: &r))
            case OrderCompleted.type: event = .orderCompleted(try .decode(schemaVersion: schemaVersion, from: &r))
            case OrderFailed.type: event = .orderFailed(try .decode(schemaVersion: schemaVersion, from: &r))
            case OrderCompensated.type: event = .orderCompensated(try .decode(schemaVersion: schemaVersion, from: &r))
            default: return .unknown(type: type, schemaVersion: schemaVersion)
            }
            guard r.isAtEnd else { throw DecodingError("\(type): \(r.remaining) trailing bytes") }
            return event
        }
    }

    public var json: JSONValue { payload.json }
}

/// Stand-in payload for a type this build does not know.
public struct UnknownEvent: DomainEvent {
    public static let type = "Unknown"
    public static let schemaVersion: UInt16 = 0
    public let typeName: String
    public let version: UInt16
    public var stream: String { "" }
    public func encode(into w: inout BinaryWriter) {}
    public static func decode(schemaVersion: UInt16, from r: inout BinaryReader) throws -> Self {
        throw DecodingError("unknown events cannot be decoded")
    }
    public var json: JSONValue { .object([("unknownType", .string(typeName)), ("schemaVersion", .int(Int64(version)))]) }
}

/// An event with the envelope fields projections need.
public struct RecordedEvent: Sendable, Equatable {
    public let position: UInt64
    public let timestamp: Timestamp
    public let event: CommerceEvent

    public init(position: UInt64, timestamp: Timestamp, event: CommerceEvent) {
        self.position = position
        self.timestamp = timestamp
        self.event = event
    }
}

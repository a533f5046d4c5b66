import BinaryCodec

/// What a command's caller gets back. Stored with an idempotency key, so a retry gets
/// exactly the first answer even after later changes.
public enum CommandResult: Sendable, Equatable {
    case pointsCharged(userId: Int64, balance: Int64)
    case product(ProductRecord)
    case coupon(CouponRecord)
    case couponIssued(UserCouponRecord)
    case couponIssueRequested(IssueRequestRecord)
    case orderCompleted(OrderRecord)
    /// Recorded as `OrderFailed`: an answer, not a thrown error, because it is durable.
    case orderFailed(orderId: Int64, reason: CommerceError.Code, step: OrderStep, message: String)
    case orderCompensated(OrderRecord)

    public func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 64)
        switch self {
        case let .pointsCharged(user, balance): w.write(UInt8(0)); w.write(varint: user); w.write(varint: balance)
        case let .product(p): w.write(UInt8(1)); w.write(bytes: p.encoded())
        case let .coupon(c): w.write(UInt8(2)); w.write(bytes: c.encoded())
        case let .couponIssued(u): w.write(UInt8(3)); w.write(bytes: u.encoded())
        case let .couponIssueRequested(r): w.write(UInt8(4)); w.write(bytes: r.encoded())
        case let .orderCompleted(o): w.write(UInt8(5)); w.write(bytes: o.encoded())
        case let .orderFailed(id, reason, step, message):
            w.write(UInt8(6)); w.write(varint: id); w.write(string: reason.rawValue); w.write(string: step.rawValue); w.write(string: message)
        case let .orderCompensated(o): w.write(UInt8(7)); w.write(bytes: o.encoded())
        }
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> CommandResult {
        try bytes.decode { r in
            switch try r.readByte() {
            case 0: return .pointsCharged(userId: try r.readVarInt(), balance: try r.readVarInt())
            case 1: return .product(try ProductRecord.decode(try r.readBytes()))
            case 2: return .coupon(try CouponRecord.decode(try r.readBytes()))
            case 3: return .couponIssued(try UserCouponRecord.decode(try r.readBytes()))
            case 4: return .couponIssueRequested(try IssueRequestRecord.decode(try r.readBytes()))
            case 5: return .orderCompleted(try OrderRecord.decode(try r.readBytes()))
            case 6:
                let id = try r.readVarInt()
                let reasonText = try r.readString()
                let stepText = try r.readString()
                guard let reason = CommerceError.Code(rawValue: reasonText), let step = OrderStep(rawValue: stepText) else {
                    throw DecodingError("order failure \(reasonText)/\(stepText)")
                }
                return .orderFailed(orderId: id, reason: reason, step: step, message: try r.readString())
            case 7: return .orderCompensated(try OrderRecord.decode(try r.readBytes()))
            case let tag: throw DecodingError("result tag \(tag)")
            }
        }
    }
}

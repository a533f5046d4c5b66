import BinaryCodec
import Commerce
import CommerceApp
import EventLog
import LedgerJSON

/// How the API shows views: money as integer won, times as ISO-8601 with the zone's offset.
public struct ViewRendering: Sendable {
    public let calendar: DayCalendar

    public init(calendar: DayCalendar) { self.calendar = calendar }

    public func time(_ t: Timestamp) -> JSONValue { .string(calendar.format(t)) }
    public func time(_ t: Timestamp?) -> JSONValue { t.map { time($0) } ?? .null }

    public func product(_ p: ProductRecord) -> JSONValue {
        .object([("id", .int(p.id)), ("name", .string(p.name)), ("price", .int(p.price)), ("stock", .int(p.stock))])
    }

    public func coupon(_ c: CouponRecord) -> JSONValue {
        let d = c.definition
        var fields: [(String, JSONValue)] = [
            ("id", .int(d.couponId)), ("name", .string(d.name)), ("discount", d.discount.json),
            ("totalQuantity", .int(d.totalQuantity)), ("issuedQuantity", .int(c.issuedQuantity)), ("remaining", .int(c.remaining)),
            ("issueStartsAt", time(d.issueStartsAt)), ("issueEndsAt", time(d.issueEndsAt)), ("soldOutAt", time(c.soldOutAt)),
        ]
        switch d.validity {
        case let .days(n): fields += [("validDays", .int(n)), ("validUntil", .null)]
        case let .until(t): fields += [("validDays", .null), ("validUntil", time(t))]
        }
        return .object(fields)
    }

    public func issued(_ u: UserCouponRecord, status: UserCouponStatus) -> JSONValue {
        .object([("userCouponId", .int(u.userCouponId)), ("couponId", .int(u.couponId)), ("userId", .int(u.userId)),
                 ("status", .string(status.rawValue)), ("issuedAt", time(u.issuedAt)), ("expiresAt", time(u.expiresAt))])
    }

    public func userCoupon(_ u: UserCouponRecord, coupon: CouponRecord?, status: UserCouponStatus) -> JSONValue {
        .object([("userCouponId", .int(u.userCouponId)), ("couponId", .int(u.couponId)),
                 ("name", .optional(coupon?.definition.name)), ("discount", coupon?.definition.discount.json ?? .null),
                 ("status", .string(status.rawValue)), ("issuedAt", time(u.issuedAt)), ("expiresAt", time(u.expiresAt)),
                 ("usedAt", time(u.usedAt)), ("orderId", .optional(u.orderId))])
    }

    public func request(_ r: IssueRequestRecord) -> JSONValue {
        .object([("requestId", .string(String(r.requestId))), ("couponId", .int(r.couponId)), ("userId", .int(r.userId)),
                 ("status", .string(r.status.rawValue)), ("reason", .optional(r.reason)),
                 ("userCouponId", .optional(r.userCouponId)), ("requestedAt", time(r.requestedAt)), ("decidedAt", time(r.decidedAt))])
    }

    public func order(_ o: OrderRecord) -> JSONValue {
        .object([
            ("orderId", .int(o.orderId)), ("userId", .int(o.userId)), ("status", .string(o.status.rawValue)),
            ("items", .array(o.lines.map { l in
                .object([("productId", .int(l.productId)), ("name", .string(l.name)), ("unitPrice", .int(l.unitPrice)),
                         ("quantity", .int(l.quantity)), ("amount", .int(l.amount))])
            })),
            ("totalAmount", .int(o.totalAmount)), ("discountAmount", .int(o.discountAmount)), ("paidAmount", .int(o.paidAmount)),
            ("couponId", .optional(o.couponId)), ("createdAt", time(o.createdAt)),
            ("failureReason", .optional(o.failureReason)), ("failureStep", .optional(o.failureStep)),
            ("compensatedAt", time(o.compensatedAt)), ("compensationReason", .optional(o.compensationReason)),
        ])
    }

    public func history(_ h: PointHistoryEntry) -> JSONValue {
        .object([("type", .string(h.type.rawValue)), ("amount", .int(h.amount)), ("balanceAfter", .int(h.balanceAfter)),
                 ("orderId", .optional(h.orderId)), ("at", time(h.at))])
    }

    /// An event as the API and the CLI show it; a type this build does not know shows its raw payload.
    public func event(_ r: EventRecord) -> JSONValue {
        let data: JSONValue
        do {
            let event = try CommerceEvent.decode(type: r.type, schemaVersion: r.schemaVersion, payload: r.payload)
            if case .unknown = event {
                data = .object([("raw", .string(Hex.encode(r.payload)))])
            } else {
                data = event.json
            }
        } catch {
            data = .object([("raw", .string(Hex.encode(r.payload))), ("error", .string("\(error)"))])
        }
        return .object([
            ("position", .int(Int64(r.position))), ("stream", .string(r.stream)), ("version", .int(Int64(r.streamVersion))),
            ("type", .string(r.type)), ("schemaVersion", .int(Int64(r.schemaVersion))), ("at", time(r.timestamp)),
            ("commandId", .string(hex64(r.commandId))), ("idempotencyKey", .optional(r.idempotencyKey)), ("data", data),
        ])
    }

    public func hex64(_ v: UInt64) -> String { Hex.encode(v) }
}

import BinaryCodec
@testable import Commerce
import Foundation
import LedgerJSON
import Testing

let sampleEvents: [CommerceEvent] = [
    .pointCharged(PointCharged(userId: 1, amount: 10_000, balanceAfter: 10_000)),
    .pointUsed(PointUsed(PointMovement(userId: 1, amount: 5_000, balanceAfter: 5_000, orderId: 9))),
    .pointRefunded(PointRefunded(PointMovement(userId: 1, amount: 5_000, balanceAfter: 10_000, orderId: 9))),
    .productRegistered(ProductRegistered(productId: 3, name: "머그컵 \"Mug\"", price: 12_000, stock: 100)),
    .productRestocked(ProductRestocked(StockChange(productId: 3, quantity: 5, stockAfter: 105, orderId: nil))),
    .stockDeducted(StockDeducted(StockChange(productId: 3, quantity: 2, stockAfter: 103, orderId: 9))),
    .stockRestored(StockRestored(StockChange(productId: 3, quantity: 2, stockAfter: 105, orderId: 9))),
    .couponDefined(CouponDefined(couponId: 7, name: "Ten", discount: .percent(10, maxAmount: 5_000), totalQuantity: 100,
                                 issueStartsAt: 1_000, issueEndsAt: 2_000, validity: .until(5_000))),
    .couponDefined(CouponDefined(couponId: 8, name: "Fix", discount: .fixed(amount: 3_000), totalQuantity: 1,
                                 issueStartsAt: -1_000, issueEndsAt: 2_000, validity: .days(7))),
    .couponIssueRequested(CouponIssueRequested(requestId: 4, couponId: 7, userId: 1)),
    .couponIssued(CouponIssued(couponId: 7, userId: 1, userCouponId: 2, issuedAt: 1_500, expiresAt: 5_000, requestId: 4)),
    .couponIssued(CouponIssued(couponId: 7, userId: 2, userCouponId: 3, issuedAt: 1_500, expiresAt: 5_000, requestId: nil)),
    .couponIssueRejected(CouponIssueRejected(requestId: 5, couponId: 7, userId: 1, reason: "COUPON_ALREADY_ISSUED")),
    .couponUsed(CouponUsed(CouponUse(couponId: 7, userId: 1, orderId: 9))),
    .couponRestored(CouponRestored(CouponUse(couponId: 7, userId: 1, orderId: 9))),
    .orderCompleted(OrderCompleted(orderId: 9, userId: 1, lines: [OrderLine(productId: 3, name: "Mug", unitPrice: 12_000, quantity: 2)],
                                   couponId: 7, totalAmount: 24_000, discountAmount: 2_400, paidAmount: 21_600)),
    .orderFailed(OrderFailed(orderId: 10, userId: 1, items: [OrderItem(productId: 3, quantity: 1)], couponId: nil,
                             reason: .insufficientPoints, step: .points, message: "balance 0 does not cover 12000 won")),
    .orderCompensated(OrderCompensated(orderId: 9, userId: 1, reason: "cancel", orderedAt: 1_700,
                                       items: [OrderItem(productId: 3, quantity: 2)], refundedAmount: 21_600, couponRestored: true)),
]

@Suite struct EventCodingTests {
    @Test(arguments: sampleEvents)
    func everyEventRoundTrips(_ event: CommerceEvent) throws {
        let e = event.encoded()
        let decoded = try CommerceEvent.decode(type: e.type, schemaVersion: e.schemaVersion, payload: e.payload)
        #expect(decoded == event)
        #expect(e.type == event.typeName)
        #expect(!e.stream.isEmpty)
        // JSON rendering parses back as an object.
        guard case .object = try JSONParser.parse(event.json.render()) else { Issue.record("not an object"); return }
    }

    @Test func everyKnownTypeHasASample() {
        #expect(Set(sampleEvents.map(\.typeName)) == Set(CommerceEvent.knownTypes.keys))
    }

    /// Readers of the log skip events whose type is not in `eventTypes` undecoded: each type that
    /// sells anything must be listed, and only those.
    @Test(arguments: sampleEvents)
    func dailySalesNameEveryTypeThatSells(_ event: CommerceEvent) throws {
        let sales = DailySalesProjection(calendar: try #require(DayCalendar(timeZoneIdentifier: "Asia/Seoul")))
            .sales(in: RecordedEvent(position: 1, timestamp: 0, event: event))
        #expect(DailySalesProjection.eventTypes.contains(event.typeName) == !sales.isEmpty, "\(event.typeName)")
    }

    @Test func aVersionOneCouponDefinitionIsUpcast() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/coupon-defined-v1.hex")
        let hex = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        var payload: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            payload.append(try #require(UInt8(hex[index..<next], radix: 16)))
            index = next
        }
        let event = try CommerceEvent.decode(type: "CouponDefined", schemaVersion: 1, payload: payload)
        let expected = CouponDefined(couponId: 3, name: "Old", discount: .fixed(amount: 2_000), totalQuantity: 50,
                                     issueStartsAt: ISO8601.parse("2025-11-25T00:00:00Z")!, issueEndsAt: ISO8601.parse("2025-12-05T00:00:00Z")!,
                                     validity: .days(7))
        #expect(event == .couponDefined(expected))
    }

    @Test func anUnknownTypeDecodesAsUnknown() throws {
        let event = try CommerceEvent.decode(type: "LoyaltyTierRaised", schemaVersion: 3, payload: [1, 2, 3])
        #expect(event == .unknown(type: "LoyaltyTierRaised", schemaVersion: 3))
        #expect(event.json["unknownType"] == .string("LoyaltyTierRaised"))
    }

    @Test func anUnknownSchemaVersionOrMalformedPayloadThrows() {
        #expect(throws: DecodingError.self) { try CommerceEvent.decode(type: "PointCharged", schemaVersion: 9, payload: [2, 2, 2]) }
        #expect(throws: DecodingError.self) { try CommerceEvent.decode(type: "PointCharged", schemaVersion: 1, payload: [2]) }
        #expect(throws: DecodingError.self) { try CommerceEvent.decode(type: "PointCharged", schemaVersion: 1, payload: [2, 2, 2, 2]) }
        #expect(throws: DecodingError.self) { try CommerceEvent.decode(type: "ProductRegistered", schemaVersion: 1, payload: [2, 200, 1]) }
    }

    @Test func resultsRoundTrip() throws {
        let results: [CommandResult] = [
            .pointsCharged(userId: 1, balance: 10),
            .product(ProductRecord(id: 1, name: "Mug", price: 1, stock: 2)),
            .orderFailed(orderId: 3, reason: .insufficientStock, step: .stock, message: "m"),
        ]
        for r in results { #expect(try CommandResult.decode(r.encoded()) == r) }
    }
}

@Suite struct DomainArithmeticTests {
    @Test func discounts() {
        #expect(Discount.fixed(amount: 3_000).amount(on: 10_000) == 3_000)
        #expect(Discount.fixed(amount: 3_000).amount(on: 2_000) == 2_000)
        #expect(Discount.percent(10, maxAmount: nil).amount(on: 12_345) == 1_234)
        #expect(Discount.percent(10, maxAmount: 1_000).amount(on: 12_345) == 1_000)
        #expect(Discount.percent(100, maxAmount: nil).amount(on: 7) == 7)
        // Exact floors where total × percent no longer fits in 64 bits.
        #expect(Discount.percent(50, maxAmount: nil).amount(on: Int64.max) == Int64.max / 2)
        #expect(Discount.percent(100, maxAmount: nil).amount(on: Int64.max) == Int64.max)
        #expect(Discount.percent(100, maxAmount: nil).amount(on: 98_999_901_901_000_098) == 98_999_901_901_000_098)
        #expect(Discount.percent(33, maxAmount: nil).amount(on: 1_000_000_000_000_000_001) == 330_000_000_000_000_000)
        #expect(Discount.percent(99, maxAmount: nil).amount(on: 9_000_000_000_000_000_099) == 8_910_000_000_000_000_098)
    }

    @Test func isoTimes() {
        #expect(ISO8601.format(0) == "1970-01-01T00:00:00.000Z")
        #expect(ISO8601.format(ISO8601.parse("2026-11-25T09:30:15.250+09:00")!, offsetSeconds: 9 * 3600) == "2026-11-25T09:30:15.250+09:00")
        #expect(ISO8601.parse("2026-11-25T00:30:15Z") == ISO8601.parse("2026-11-25T09:30:15+09:00"))
        #expect(ISO8601.parse("2026-02-30T00:00:00Z") == nil)
        #expect(ISO8601.parse("2026-11-25T00:00:00") == nil)
        #expect(ISO8601.parse("garbage") == nil)
        #expect(ISO8601.parseDay("2024-02-29") == ISO8601.days(year: 2024, month: 2, day: 29))
        #expect(ISO8601.formatDay(ISO8601.parseDay("1999-12-31")!) == "1999-12-31")
        #expect(ISO8601.parseDay("2023-02-29") == nil)
    }

    @Test func daysAreCountedInTheConfiguredZone() throws {
        let seoul = try #require(DayCalendar(timeZoneIdentifier: "Asia/Seoul"))
        let t = ISO8601.parse("2026-11-24T15:30:00Z")!  // 00:30 on the 25th in Seoul
        #expect(ISO8601.formatDay(seoul.day(of: t)) == "2026-11-25")
        #expect(ISO8601.formatDay(try #require(DayCalendar(timeZoneIdentifier: "UTC")).day(of: t)) == "2026-11-24")
        #expect(DayCalendar(timeZoneIdentifier: "Mars/Olympus_Mons") == nil)
        #expect(seoul.format(t) == "2026-11-25T00:30:00.000+09:00")
    }

    @Test func jsonParserRefusesHostileInput() throws {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(String(repeating: "[", count: 1_000)) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse("{\"a\":1,\"a\":2}") }
        #expect(throws: JSONParseError.self) { try JSONParser.parse("{\"a\":1} x") }
        #expect(throws: JSONParseError.self) { try JSONParser.parse("\"\\ud800\"") }
        #expect(try JSONParser.parse("{\"a\":[1,-2.5e3,\"\\u00e9\\n\",true,null]}") ==
            .object([("a", .array([.int(1), .double(-2500), .string("é\n"), .bool(true), .null]))]))
    }
}

@Suite struct StreamNameTests {
    @Test func onlyTheCanonicalFormOfAUserStreamNamesAUser() {
        #expect(Streams.userId(of: "user-42") == 42)
        #expect(Streams.userId(of: "user-9223372036854775807") == Int64.max)
        for other in ["user-042", "user-0", "user-", "user--1", "user-+1", "user-4x", "user-9223372036854775808", "product-42", "users-42", "user42", ""] {
            #expect(Streams.userId(of: other) == nil, "\(other)")
        }
    }
}

@Suite struct TimeRenderingTests {
    /// Zones with large, negative, odd and pre-1972 sub-minute offsets.
    static let zones = ["Asia/Seoul", "UTC", "America/New_York", "Pacific/Kiritimati", "Pacific/Niue", "Asia/Kathmandu", "Africa/Monrovia", "Australia/Lord_Howe"]

    @Test(arguments: zones)
    func everyRenderedTimeParsesBackToTheSameInstant(_ zone: String) throws {
        let calendar = try #require(DayCalendar(timeZoneIdentifier: zone))
        var g = SystemRandomNumberGenerator()
        let edges: [Timestamp] = [ISO8601.supported.lowerBound, ISO8601.supported.upperBound - 1, 63_072_000_000, 1_764_000_000_000]
        for t in edges + (0..<2_000).map({ _ in Timestamp.random(in: ISO8601.supported, using: &g) }) {
            let text = calendar.format(t)
            #expect(ISO8601.parse(text) == t, "\(zone): \(t) rendered \(text)")
        }
    }

    @Test func instantsOutsideTheRangeAreRefused() {
        #expect(ISO8601.parse("9999-12-31T23:59:59Z") == nil)
        #expect(ISO8601.parse("9999-12-30T23:59:59Z") != nil)
        #expect(ISO8601.parse("1969-12-31T23:59:59Z") == nil)
        #expect(ISO8601.parse("1970-01-01T09:00:00+09:00") == 0)
        #expect(ISO8601.parse("0000-01-01T00:00:00Z") == nil)
    }
}

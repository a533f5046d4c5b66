import BinaryCodec
import Commerce
@testable import CommerceApp
import Testing

@Suite struct OrderRulesTests {
    /// Two products, a 10% coupon (max 5,000) held by user 1, 100,000 points.
    func shop(_ dir: TemporaryDirectory, clock: ManualClock = ManualClock(testEpoch)) throws -> Ledger {
        let ledger = try openLedger(dir, clock: clock)
        try ledger.registerProduct("Mug", price: 12_000, stock: 10)
        try ledger.registerProduct("Pen", price: 1_500, stock: 5)
        try ledger.defineCoupon("Ten", discount: .percent(10, maxAmount: 5_000), validity: .days(3))
        _ = try ledger.execute(.issueCoupon(userId: 1, couponId: 1))
        try ledger.charge(1, 100_000)
        return ledger
    }

    func completed(_ outcome: CommandOutcome) throws -> OrderRecord {
        guard case let .orderCompleted(o) = outcome.result else { throw TestFailure("not completed: \(outcome.result)") }
        return o
    }

    @Test func completedOrderDeductsEverythingAtOnce() throws {
        let dir = TemporaryDirectory()
        let ledger = try shop(dir)
        let before = try ledger.eventCount()
        let order = try completed(try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 2), .init(productId: 2, quantity: 4)], couponId: 1)))
        #expect(order.totalAmount == 30_000 && order.discountAmount == 3_000 && order.paidAmount == 27_000)
        #expect(order.lines.map(\.unitPrice) == [12_000, 1_500] && order.lines.map(\.name) == ["Mug", "Pen"])
        #expect(order.status == .completed && order.couponId == 1)
        #expect(try ledger.product(1)?.stock == 8 && ledger.product(2)?.stock == 1)
        #expect(try ledger.balance(of: 1) == 73_000)
        #expect(try ledger.userCoupons(of: 1).first?.status == .used)
        #expect(try ledger.userCoupons(of: 1).first?.record.orderId == order.orderId)
        let types = try ledger.allEvents().dropFirst(before).map(\.type)
        #expect(types == ["StockDeducted", "StockDeducted", "CouponUsed", "PointUsed", "OrderCompleted"])
        let history = try ledger.pointHistory(of: 1).items.first
        #expect(history?.type == .use && history?.amount == 27_000 && history?.orderId == order.orderId)
        #expect(try ledger.orders(of: 1).items.map(\.orderId) == [order.orderId])
    }

    func expectFailure(_ ledger: Ledger, _ command: CommerceCommand, _ code: CommerceError.Code, _ step: OrderStep) throws {
        let before = try ledger.eventCount()
        let snapshot = (try ledger.balance(of: 1), try ledger.product(1), try ledger.product(2), try ledger.userCoupons(of: 1).map(\.status))
        guard case let .orderFailed(orderId, reason, failedStep, _) = try ledger.execute(command).result else {
            Issue.record("order did not fail"); return
        }
        #expect(reason == code && failedStep == step)
        let added = try ledger.allEvents().dropFirst(before)
        #expect(added.map(\.type) == ["OrderFailed"])
        #expect(try ledger.order(orderId)?.status == .failed)
        #expect(try ledger.order(orderId)?.failureReason == code.rawValue)
        #expect(try ledger.balance(of: 1) == snapshot.0)
        #expect(try ledger.product(1) == snapshot.1 && ledger.product(2) == snapshot.2)
        #expect(try ledger.userCoupons(of: 1).map(\.status) == snapshot.3)
    }

    @Test func insufficientStockFailsAtTheStockStep() throws {
        let dir = TemporaryDirectory()
        let ledger = try shop(dir)
        try expectFailure(ledger, .placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1), .init(productId: 2, quantity: 6)], couponId: 1), .insufficientStock, .stock)
    }

    @Test func couponNotHeldUsedOrExpiredFailsAtTheCouponStep() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try shop(dir, clock: clock)
        try ledger.defineCoupon("Other")
        try expectFailure(ledger, .placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: 2), .couponNotUsable, .coupon)
        try expectFailure(ledger, .placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: 99), .couponNotUsable, .coupon)
        _ = try completed(try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 2, quantity: 1)], couponId: 1)))
        try expectFailure(ledger, .placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: 1), .couponNotUsable, .coupon)
        _ = try ledger.execute(.issueCoupon(userId: 1, couponId: 2))
        clock.advance(by: 8 * Millis.day)
        try expectFailure(ledger, .placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: 2), .couponNotUsable, .coupon)
    }

    @Test func insufficientPointsFailsAtThePointStep() throws {
        let dir = TemporaryDirectory()
        let ledger = try shop(dir)
        try expectFailure(ledger, .placeOrder(userId: 1, items: [.init(productId: 1, quantity: 10)], couponId: 1), .insufficientPoints, .points)
        try expectFailure(ledger, .placeOrder(userId: 2, items: [.init(productId: 2, quantity: 1)], couponId: nil), .insufficientPoints, .points)
    }

    @Test func invalidOrdersAreRejectedWithoutAnEvent() throws {
        let dir = TemporaryDirectory()
        let ledger = try shop(dir)
        let before = try ledger.eventCount()
        #expect(expectRejection(.invalidInput) { try ledger.execute(.placeOrder(userId: 1, items: [], couponId: nil)) })
        #expect(expectRejection(.invalidInput) { try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 0)], couponId: nil)) })
        #expect(expectRejection(.invalidInput) { try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1), .init(productId: 1, quantity: 1)], couponId: nil)) })
        #expect(expectRejection(.invalidInput) { try ledger.execute(.placeOrder(userId: 1, items: (1...101).map { .init(productId: $0, quantity: 1) }, couponId: nil)) })
        #expect(expectRejection(.productNotFound) { try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 42, quantity: 1)], couponId: nil)) })
        #expect(try ledger.eventCount() == before)
    }

    @Test func discountNeverExceedsTheTotal() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.registerProduct("Sticker", price: 1_000, stock: 5)
        try ledger.defineCoupon("Big", discount: .fixed(amount: 50_000))
        _ = try ledger.execute(.issueCoupon(userId: 1, couponId: 1))
        let order = try completed(try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 2)], couponId: 1)))
        #expect(order.discountAmount == 2_000 && order.paidAmount == 0)
        #expect(try ledger.balance(of: 1) == 0)
    }

    @Test func compensationRestoresStockCouponAndPoints() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try shop(dir, clock: clock)
        let order = try completed(try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 3)], couponId: 1)))
        let before = try ledger.eventCount()
        guard case let .orderCompensated(comp) = try ledger.execute(.compensateOrder(orderId: order.orderId, reason: "customer cancel")).result else {
            Issue.record("not compensated"); return
        }
        #expect(comp.status == .compensated && comp.compensationReason == "customer cancel")
        #expect(try ledger.allEvents().dropFirst(before).map(\.type) == ["StockRestored", "CouponRestored", "PointRefunded", "OrderCompensated"])
        #expect(try ledger.product(1)?.stock == 10)
        #expect(try ledger.balance(of: 1) == 100_000)
        #expect(try ledger.userCoupons(of: 1).first?.status == .available)
        #expect(try ledger.pointHistory(of: 1).items.first?.type == .refund)
        #expect(expectRejection(.orderNotCompensable) { try ledger.execute(.compensateOrder(orderId: order.orderId, reason: "again")) })
        #expect(expectRejection(.orderNotFound) { try ledger.execute(.compensateOrder(orderId: 999, reason: "x")) })
    }

    @Test func expiredCouponStaysUsedAfterCompensation() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try shop(dir, clock: clock)
        let order = try completed(try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: 1)))
        clock.advance(by: 4 * Millis.day)
        _ = try ledger.execute(.compensateOrder(orderId: order.orderId, reason: "late"))
        #expect(try !ledger.allEvents().contains { $0.type == "CouponRestored" })
        #expect(try ledger.userCoupons(of: 1).first?.status == .used)
        #expect(try ledger.balance(of: 1) == 100_000)
    }

    @Test func failedOrderIsNotCompensable() throws {
        let dir = TemporaryDirectory()
        let ledger = try shop(dir)
        guard case let .orderFailed(id, _, _, _) = try ledger.execute(.placeOrder(userId: 9, items: [.init(productId: 1, quantity: 1)], couponId: nil)).result else {
            Issue.record("should fail"); return
        }
        #expect(expectRejection(.orderNotCompensable) { try ledger.execute(.compensateOrder(orderId: id, reason: "x")) })
    }

    /// With a balance limit at Int64.max, a refund could take a balance past it: refused with a
    /// clear code and nothing written, where the unchecked sum trapped the whole process.
    @Test func aRefundThatWouldOverflowTheBalanceIsRefusedNotTrapped() throws {
        var rules = CommerceRules()
        rules.minChargeAmount = 1
        rules.maxBalance = .max
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir, rules: rules)
        try ledger.registerProduct("Mug", price: 1_000, stock: 10)
        try ledger.charge(1, .max - 1_000)
        let order = try completed(try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: nil)))
        try ledger.charge(1, 2_000)
        #expect(try ledger.balance(of: 1) == .max)
        let head = try ledger.eventCount()
        #expect(expectRejection(.balanceLimitExceeded) { try ledger.execute(.compensateOrder(orderId: order.orderId, reason: "x")) })
        #expect(try ledger.eventCount() == head && ledger.order(order.orderId)?.status == .completed)
        // Once the balance has room, the same compensation goes through.
        _ = try completed(try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 2)], couponId: nil)))
        _ = try ledger.execute(.compensateOrder(orderId: order.orderId, reason: "x"))
        #expect(try ledger.balance(of: 1) == .max - 1_000)
    }

    /// Days before 1970 are negative numbers, whose keys sort after every later day's: a window
    /// across 1970-01-01 counts both sides, and one after it nothing from before.
    @Test func bestSellersCountAcrossNineteenSeventy() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(-162_000_000)                      // 1969-12-30T12:00:00+09:00
        let ledger = try openLedger(dir, clock: clock)
        for i in 1...2 { try ledger.registerProduct("P\(i)", price: 1_000, stock: 1_000) }
        try ledger.charge(1, 1_000_000)
        _ = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 3)], couponId: nil))
        clock.set(97_200_000)                                        // 1970-01-02T12:00:00+09:00
        _ = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 2, quantity: 2)], couponId: nil))
        // Day numbers count from 1970-01-01 (0): 1969-12-30 is -2, 1970-01-02 is 1.
        func top(_ last: Int64, _ days: Int) throws -> [[Int64]] {
            try ledger.bestSellers(lastDay: last, days: days, limit: 5).items.map { [$0.product.id, $0.quantity] }
        }
        #expect(try top(2, 5) == [[1, 3], [2, 2]])
        #expect(try top(2, 2) == [[2, 2]])
        #expect(try top(-1, 2) == [[1, 3]])
        #expect(try top(-3, 1) == [])
    }

    /// The best sellers' kept sums start afresh after a rebuild, which may repair rows without an
    /// event, even after two rebuilds, whose generations bring back the tables' names.
    @Test func keptBestSellerSumsStartAfreshAfterEveryRebuild() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try openLedger(dir, clock: clock)
        for i in 1...3 { try ledger.registerProduct("P\(i)", price: 1_000, stock: 1_000) }
        try ledger.charge(1, 1_000_000)
        _ = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 2), .init(productId: 2, quantity: 50)], couponId: nil))
        let today = ledger.calendar.day(of: clock.now())
        func top() throws -> [[Int64]] {
            try ledger.bestSellers(lastDay: today, days: 3, limit: 5).items.map { [$0.product.id, $0.quantity] }
        }
        // A daily row changed beneath the views' fold, as damage would: summed as it stands.
        try ledger.views.write { txn in
            let store = RowProjectionStore(rows: txn, tables: try ledger.views.catalog.resolve(in: txn).projections)
            let key = withUnsafeBytes(of: UInt64(bitPattern: today).bigEndian) { Array($0) } + withUnsafeBytes(of: UInt64(1).bigEndian) { Array($0) }
            var units = BinaryWriter(capacity: 10)
            units.write(varint: Int64(50))
            try store.put(.dailySales, key, units.bytes)
        }
        #expect(try top() == [[1, 50], [2, 50]])
        // Repaired by the rebuilds; the next query sums afresh, then follows the new order.
        _ = try ledger.rebuildProjections()
        _ = try ledger.rebuildProjections()
        _ = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 3, quantity: 1)], couponId: nil))
        #expect(try top() == [[2, 50], [1, 2], [3, 1]])
    }

    @Test func bestSellersCountTheLastDaysNetOfCompensations() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(ISO8601.parse("2026-11-20T10:00:00+09:00")!)
        let ledger = try openLedger(dir, clock: clock)
        for i in 1...7 { try ledger.registerProduct("P\(i)", price: 1_000, stock: 1_000) }
        try ledger.charge(1, 10_000_000)
        @discardableResult func order(_ product: Int64, _ qty: Int64) throws -> Int64 {
            guard case let .orderCompleted(o) = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: product, quantity: qty)], couponId: nil)).result else {
                throw TestFailure("order failed")
            }
            return o.orderId
        }
        try order(7, 500)                       // 11-20: outside the window
        clock.set(ISO8601.parse("2026-11-22T00:30:00+09:00")!)
        try order(1, 5); try order(2, 9)
        clock.set(ISO8601.parse("2026-11-23T23:59:00+09:00")!)
        try order(3, 7); try order(4, 1)
        let cancelled = try order(5, 50)
        clock.set(ISO8601.parse("2026-11-24T12:00:00+09:00")!)
        try order(1, 5); try order(6, 2)
        _ = try ledger.execute(.compensateOrder(orderId: cancelled, reason: "cancel"))
        let top = try ledger.bestSellers(lastDay: ISO8601.parseDay("2026-11-24")!, days: 3, limit: 5)
        #expect(ISO8601.formatDay(top.firstDay) == "2026-11-22")
        #expect(top.items.map(\.product.id) == [1, 2, 3, 6, 4])
        #expect(top.items.map(\.quantity) == [10, 9, 7, 2, 1])
        #expect(top.items.map(\.rank) == [1, 2, 3, 4, 5])
        // Today by default, in the configured zone (Asia/Seoul).
        #expect(try ledger.bestSellers().items.first?.product.id == 1)
        let utcMidnight = try ledger.bestSellers(lastDay: ISO8601.parseDay("2026-11-21")!, days: 1, limit: 5)
        #expect(utcMidnight.items.isEmpty)
        // Answers are cached per log head: a new order shows up at once.
        try order(4, 20)
        let after = try ledger.bestSellers(lastDay: ISO8601.parseDay("2026-11-24")!, days: 3, limit: 5)
        #expect(after.items.first?.product.id == 4 && after.items.first?.quantity == 21)
    }
}

import Commerce
@testable import CommerceApp
import Testing

@Suite struct ProductRulesTests {
    @Test func registerAndRestock() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        let mug = try ledger.registerProduct("Mug", price: 12_000, stock: 100)
        let cup = try ledger.registerProduct("Cup", price: 5_000, stock: 0)
        #expect(mug.id == 1 && cup.id == 2)
        guard case let .product(restocked) = try ledger.execute(.restockProduct(productId: 1, quantity: 10)).result else {
            Issue.record("not a product"); return
        }
        #expect(restocked == ProductRecord(id: 1, name: "Mug", price: 12_000, stock: 110))
        #expect(try ledger.product(1)?.stock == 110)
        #expect(try ledger.products(limit: 1).items.map(\.id) == [1])
        #expect(try ledger.products(limit: 1).next == 1)
        #expect(try ledger.products(after: 1, limit: 5).items.map(\.name) == ["Cup"])
    }

    @Test func invalidProductsAreRejected() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        #expect(expectRejection(.invalidInput) { try ledger.registerProduct("  ", price: 1, stock: 1) })
        #expect(expectRejection(.invalidInput) { try ledger.registerProduct("Mug", price: 0, stock: 1) })
        #expect(expectRejection(.invalidInput) { try ledger.registerProduct("Mug", price: 1, stock: -1) })
        #expect(expectRejection(.productNotFound) { try ledger.execute(.restockProduct(productId: 9, quantity: 1)) })
        try ledger.registerProduct()
        #expect(expectRejection(.invalidInput) { try ledger.execute(.restockProduct(productId: 1, quantity: 0)) })
        #expect(try ledger.eventCount() == 1)
        let big = try ledger.registerProduct("Bulk", price: 1, stock: 999_999_999)
        #expect(expectRejection(.stockLimitExceeded) { try ledger.execute(.restockProduct(productId: big.id, quantity: 2)) })
        #expect(try ledger.product(big.id)?.stock == 999_999_999)
    }
}

@Suite struct CouponRulesTests {
    @Test func issueFirstComeFirstServed() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try openLedger(dir, clock: clock)
        try ledger.defineCoupon(total: 2, validity: .days(7))
        guard case let .couponIssued(uc) = try ledger.execute(.issueCoupon(userId: 1, couponId: 1)).result else {
            Issue.record("not issued"); return
        }
        #expect(uc.userId == 1 && uc.couponId == 1 && uc.issuedAt == testEpoch && uc.expiresAt == testEpoch + 7 * Millis.day)
        #expect(uc.status(at: testEpoch) == .available)
        #expect(expectRejection(.couponAlreadyIssued) { try ledger.execute(.issueCoupon(userId: 1, couponId: 1)) })
        _ = try ledger.execute(.issueCoupon(userId: 2, couponId: 1))
        #expect(expectRejection(.couponSoldOut) { try ledger.execute(.issueCoupon(userId: 3, couponId: 1)) })
        let coupon = try #require(try ledger.coupon(1))
        #expect(coupon.issuedQuantity == 2 && coupon.remaining == 0)
    }

    @Test func unknownCouponIsNotFound() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        #expect(expectRejection(.couponNotFound) { try ledger.execute(.issueCoupon(userId: 1, couponId: 5)) })
        #expect(expectRejection(.couponNotFound) { try ledger.execute(.requestCouponIssue(userId: 1, couponId: 5)) })
    }

    @Test func issueOnlyInsideTheWindow() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try openLedger(dir, clock: clock)
        try ledger.defineCoupon(starts: testEpoch + Millis.day, ends: testEpoch + 2 * Millis.day)
        #expect(expectRejection(.couponNotActive) { try ledger.execute(.issueCoupon(userId: 1, couponId: 1)) })
        clock.set(testEpoch + Millis.day)
        _ = try ledger.execute(.issueCoupon(userId: 1, couponId: 1))
        clock.set(testEpoch + 2 * Millis.day)
        #expect(expectRejection(.couponNotActive) { try ledger.execute(.issueCoupon(userId: 2, couponId: 1)) })
    }

    @Test func userCouponsExpireWithTheClock() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try openLedger(dir, clock: clock)
        try ledger.defineCoupon("Until", ends: testEpoch + Millis.day, validity: .until(testEpoch + Millis.day))
        _ = try ledger.execute(.issueCoupon(userId: 1, couponId: 1))
        #expect(try ledger.userCoupons(of: 1).map(\.status) == [.available])
        #expect(try ledger.userCoupons(of: 1, status: .expired).isEmpty)
        clock.advance(by: Millis.day)
        #expect(try ledger.userCoupons(of: 1).map(\.status) == [.expired])
        #expect(try ledger.userCoupons(of: 1, status: .expired).first?.coupon?.definition.name == "Until")
    }

    @Test func invalidDefinitionsAreRejected() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        #expect(expectRejection(.invalidInput) { try ledger.defineCoupon(discount: .percent(0, maxAmount: nil)) })
        #expect(expectRejection(.invalidInput) { try ledger.defineCoupon(discount: .percent(101, maxAmount: nil)) })
        #expect(expectRejection(.invalidInput) { try ledger.defineCoupon(discount: .fixed(amount: 0)) })
        #expect(expectRejection(.invalidInput) { try ledger.defineCoupon(total: 0) })
        #expect(expectRejection(.invalidInput) { try ledger.defineCoupon(starts: testEpoch, ends: testEpoch) })
        #expect(expectRejection(.invalidInput) { try ledger.defineCoupon(validity: .days(0)) })
        #expect(expectRejection(.invalidInput) { try ledger.defineCoupon(ends: testEpoch + 2 * Millis.day, validity: .until(testEpoch + Millis.day)) })
        #expect(try ledger.eventCount() == 0)
    }

    /// Coupons defined before validUntil had to cover the issue window are still in old logs:
    /// past their fixed validity they are refused, not issued expired.
    @Test func aCouponPastItsFixedValidityIsNotIssued() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try openLedger(dir, clock: clock)
        let coupon = try ledger.defineCoupon(total: 5, ends: testEpoch + 2 * Millis.day, validity: .until(testEpoch + 2 * Millis.day))
        let old = CouponRecord(definition: CouponDefined(
            couponId: coupon.id, name: "Old", discount: .fixed(amount: 1000), totalQuantity: 5, issueStartsAt: testEpoch - Millis.day,
            issueEndsAt: testEpoch + 2 * Millis.day, validity: .until(testEpoch + Millis.day)), issuedQuantity: 0)
        func issueOld(at now: Timestamp) -> CommerceError.Code? {
            do {
                _ = try CouponDecider.issue(userId: 1, couponId: old.id, coupon: old, held: nil, nextUserCouponId: 1, requestId: nil, now: now)
                return nil
            } catch {
                return (error as? CommerceError)?.code ?? .invalidInput
            }
        }
        #expect(issueOld(at: testEpoch + Millis.day - 1) == nil)
        #expect(issueOld(at: testEpoch + Millis.day) == .couponExpired)
        // Through the ledger: issued up to the last moment of the window, which is also its validity.
        clock.set(testEpoch + 2 * Millis.day - 1)
        _ = try ledger.execute(.issueCoupon(userId: 1, couponId: 1))
        clock.set(testEpoch + 2 * Millis.day)
        #expect(expectRejection(.couponNotActive) { try ledger.execute(.issueCoupon(userId: 2, couponId: 1)) })
        #expect(try ledger.coupon(1)?.issuedQuantity == 1)
    }

    @Test func asyncRequestsAreDecidedInLogOrder() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.defineCoupon(total: 2)
        var requests: [Int64] = []
        for user in [5, 6, 5, 7] as [Int64] {
            guard case let .couponIssueRequested(r) = try ledger.execute(.requestCouponIssue(userId: user, couponId: 1)).result else {
                Issue.record("not a request"); return
            }
            #expect(r.status == .pending)
            requests.append(r.requestId)
        }
        #expect(try ledger.issueRequest(requests[0])?.status == .pending)
        #expect(try ledger.processIssueRequests() == 4)
        let decided = try requests.map { try #require(try ledger.issueRequest($0)) }
        #expect(decided.map(\.status) == [.issued, .issued, .rejected, .rejected])
        #expect(decided.map(\.reason) == [nil, nil, "COUPON_ALREADY_ISSUED", "COUPON_SOLD_OUT"])
        #expect(try ledger.processIssueRequests() == 0)
        #expect(try ledger.coupon(1)?.issuedQuantity == 2)
        // What the processor could only refuse is refused at once, with nothing written (2-1-2).
        let head = try ledger.eventCount()
        #expect(expectRejection(.couponAlreadyIssued) { try ledger.execute(.requestCouponIssue(userId: 5, couponId: 1)) })
        #expect(expectRejection(.couponSoldOut) { try ledger.execute(.requestCouponIssue(userId: 8, couponId: 1)) })
        #expect(try ledger.eventCount() == head)
    }

    @Test func requestsAreRefusedAtOnceOnlyForWhatCannotChange() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try openLedger(dir, clock: clock)
        try ledger.defineCoupon(total: 5, starts: testEpoch + Millis.day, ends: testEpoch + 2 * Millis.day)
        // Before the window opens the request is queued: the window may be open when its turn comes.
        guard case let .couponIssueRequested(early) = try ledger.execute(.requestCouponIssue(userId: 1, couponId: 1)).result else {
            Issue.record("not queued"); return
        }
        #expect(early.status == .pending)
        clock.set(testEpoch + 2 * Millis.day)
        #expect(expectRejection(.couponNotActive) { try ledger.execute(.requestCouponIssue(userId: 2, couponId: 1)) })
        #expect(try ledger.processIssueRequests() == 1)
        #expect(try ledger.issueRequest(early.requestId)?.reason == "COUPON_NOT_ACTIVE")
    }

    @Test func pendingRequestsSurviveARestart() throws {
        let dir = TemporaryDirectory()
        do {
            let ledger = try openLedger(dir)
            try ledger.defineCoupon(total: 5)
            _ = try ledger.execute(.requestCouponIssue(userId: 1, couponId: 1))
        }
        let reopened = try openLedger(dir)
        #expect(try reopened.issueRequest(1)?.status == .pending)
        #expect(try reopened.processIssueRequests() == 1)
        #expect(try reopened.issueRequest(1)?.status == .issued)
        #expect(try reopened.userCoupons(of: 1).count == 1)
    }
}

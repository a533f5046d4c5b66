import Commerce
@testable import CommerceApp
import Testing

@Suite struct IdempotencyTests {
    @Test func retryReturnsTheFirstOutcomeAndAppendsNothing() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        let first = try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "k-1")
        try ledger.charge(1, 20_000)
        let events = try ledger.eventCount()
        let retry = try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "k-1")
        #expect(retry.replayed && !first.replayed)
        #expect(retry.result == first.result)
        #expect(retry.result == .pointsCharged(userId: 1, balance: 10_000))
        #expect(retry.firstPosition == first.firstPosition)
        #expect(try ledger.eventCount() == events)
        #expect(try ledger.balance(of: 1) == 30_000)
    }

    @Test func sameKeyForADifferentCommandIsRejected() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        _ = try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "k")
        #expect(expectRejection(.idempotencyKeyReused) { try ledger.execute(.chargePoints(userId: 1, amount: 20_000), idempotencyKey: "k") })
        #expect(expectRejection(.idempotencyKeyReused) { try ledger.execute(.chargePoints(userId: 2, amount: 10_000), idempotencyKey: "k") })
        #expect(try ledger.balance(of: 1) == 10_000 && ledger.balance(of: 2) == 0)
    }

    @Test func keysSurviveARestart() throws {
        let dir = TemporaryDirectory()
        let first: CommandOutcome
        do {
            let ledger = try openLedger(dir)
            try ledger.registerProduct()
            try ledger.charge(1, 50_000)
            first = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: nil), idempotencyKey: "order-abc")
        }
        let ledger = try openLedger(dir)
        let retry = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: nil), idempotencyKey: "order-abc")
        #expect(retry.replayed && retry.result == first.result)
        #expect(try ledger.balance(of: 1) == 40_000)
        #expect(try ledger.product(1)?.stock == 99)
    }

    @Test func failedOrderOutcomeIsReplayedToo() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.registerProduct()
        let first = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: nil), idempotencyKey: "o")
        try ledger.charge(1, 50_000)
        let retry = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: nil), idempotencyKey: "o")
        guard case .orderFailed(_, .insufficientPoints, .points, _) = retry.result else { Issue.record("\(retry.result)"); return }
        #expect(retry.result == first.result && retry.replayed)
    }

    @Test func duplicateKeysInsideOneBatchAreDecidedOnce() async throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        defer { writer.stop() }
        let outcomes = try await withThrowingTaskGroup(of: CommandOutcome.self) { group in
            for _ in 0..<50 { group.addTask { try await writer.submit(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "same") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { !$0.replayed }.count == 1)
        #expect(outcomes.allSatisfy { $0.result == outcomes[0].result })
        #expect(try ledger.balance(of: 1) == 10_000)
        #expect(try ledger.eventCount() == 1)
    }
}

import Commerce
@testable import CommerceApp
import Testing

@Suite struct PointRulesTests {
    @Test func chargeAddsToBalanceAndHistory() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        #expect(try ledger.balance(of: 1) == 0)
        #expect(try ledger.charge(1, 10_000) == 10_000)
        #expect(try ledger.charge(1, 25_000) == 35_000)
        #expect(try ledger.balance(of: 1) == 35_000)
        let history = try ledger.pointHistory(of: 1)
        #expect(history.items.map(\.amount) == [25_000, 10_000])
        #expect(history.items.map(\.balanceAfter) == [35_000, 10_000])
        #expect(history.items.allSatisfy { $0.type == .charge && $0.orderId == nil && $0.at == testEpoch })
        #expect(history.next == nil)
    }

    @Test func chargeBelowMinimumIsRejectedAndWritesNothing() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        #expect(expectRejection(.minChargeAmount) { try ledger.charge(1, 9_999) })
        // Not a charge at all: the same code the HTTP API gives for it.
        #expect(expectRejection(.invalidInput) { try ledger.charge(1, -10_000) })
        #expect(expectRejection(.invalidInput) { try ledger.charge(1, 0) })
        #expect(try ledger.eventCount() == 0)
        #expect(try ledger.balance(of: 1) == 0)
    }

    @Test func chargeOverTheBalanceLimitIsRejected() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.charge(7, 9_990_000)
        #expect(try ledger.charge(7, 10_000) == 10_000_000)
        #expect(expectRejection(.balanceLimitExceeded) { try ledger.charge(7, 10_000) })
        #expect(expectRejection(.balanceLimitExceeded) { try ledger.charge(7, Int64.max) })
        #expect(try ledger.balance(of: 7) == 10_000_000)
        #expect(try ledger.eventCount() == 2)
    }

    @Test func rulesAreConfigurable() throws {
        var rules = CommerceRules()
        rules.minChargeAmount = 100
        rules.maxBalance = 1_000
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir, rules: rules)
        #expect(try ledger.charge(1, 100) == 100)
        #expect(expectRejection(.minChargeAmount) { try ledger.charge(1, 99) })
        #expect(expectRejection(.balanceLimitExceeded) { try ledger.charge(1, 901) })
    }

    @Test func nonPositiveUserIsInvalid() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        #expect(expectRejection(.invalidInput) { try ledger.charge(0, 10_000) })
        #expect(expectRejection(.invalidInput) { try ledger.charge(-3, 10_000) })
    }

    @Test func historyPagesNewestFirst() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        for i in 1...5 { try ledger.charge(3, Int64(i) * 10_000) }
        try ledger.charge(4, 10_000)
        let first = try ledger.pointHistory(of: 3, limit: 2)
        #expect(first.items.map(\.amount) == [50_000, 40_000])
        let second = try ledger.pointHistory(of: 3, before: first.next, limit: 2)
        #expect(second.items.map(\.amount) == [30_000, 20_000])
        let third = try ledger.pointHistory(of: 3, before: second.next, limit: 2)
        #expect(third.items.map(\.amount) == [10_000])
        #expect(third.next == nil)
    }
}

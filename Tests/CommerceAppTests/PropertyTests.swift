import Commerce
@testable import CommerceApp
import SeededRandom
import Testing

@Suite struct PropertyTests {
    static let sequences = 1_000
    static let commandsPerSequence = 40

    /// A random command over a small world, so that conflicts (sold out, no stock, limits) are common.
    func randomCommand(_ g: inout SplitMix64, orders: [Int64], kind: Int? = nil) -> CommerceCommand {
        let user = Int64.random(in: 1...6, using: &g)
        switch kind ?? Int.random(in: 0..<100, using: &g) {
        case 0..<6: return .registerProduct(name: "P", price: Int64.random(in: 1...30, using: &g) * 1_000, stock: Int64.random(in: 0...8, using: &g))
        case 6..<10: return .restockProduct(productId: Int64.random(in: 1...5, using: &g), quantity: Int64.random(in: 1...5, using: &g))
        case 10..<14:
            let discount: Discount = Bool.random(using: &g) ? .fixed(amount: Int64.random(in: 1...20, using: &g) * 1_000)
                : .percent(Int64.random(in: 1...100, using: &g), maxAmount: Bool.random(using: &g) ? 5_000 : nil)
            return .defineCoupon(CouponDefinition(name: "C", discount: discount, totalQuantity: Int64.random(in: 1...4, using: &g),
                                                  issueStartsAt: testEpoch - Millis.day, issueEndsAt: testEpoch + Int64.random(in: 1...6, using: &g) * Millis.day,
                                                  validity: .days(Int64.random(in: 1...4, using: &g))))
        case 14..<34: return .chargePoints(userId: user, amount: Int64.random(in: 1...40, using: &g) * 10_000 - (Bool.random(using: &g) ? 5_000 : 0))
        case 34..<44: return .issueCoupon(userId: user, couponId: Int64.random(in: 1...4, using: &g))
        case 44..<50: return .requestCouponIssue(userId: user, couponId: Int64.random(in: 1...4, using: &g))
        case 50..<88:
            let count = Int.random(in: 1...3, using: &g)
            let products = Array(Set((0..<count).map { _ in Int64.random(in: 1...6, using: &g) }))
            return .placeOrder(userId: user, items: products.map { OrderItem(productId: $0, quantity: Int64.random(in: 1...3, using: &g)) },
                               couponId: Bool.random(using: &g) ? Int64.random(in: 1...4, using: &g) : nil)
        default:
            return .compensateOrder(orderId: orders.randomElement(using: &g) ?? 1, reason: "r")
        }
    }

    @Test func invariantsHoldForRandomCommandSequences() throws {
        var commandsRun = 0
        var completedOrders = 0
        var compensations = 0
        for seed in 0..<UInt64(Self.sequences) {
            var g = SplitMix64(seed: seed)
            let dir = TemporaryDirectory()
            let clock = ManualClock(testEpoch)
            let ledger = try openLedger(dir, clock: clock, durable: false)
            var orders: [Int64] = []
            // A small shop to start from, so most random orders can meet real stock and coupons.
            for _ in 0..<3 { _ = try ledger.execute(.registerProduct(name: "P", price: Int64.random(in: 1...20, using: &g) * 1_000, stock: Int64.random(in: 3...12, using: &g))) }
            for _ in 0..<2 { _ = try ledger.execute(randomCommand(&g, orders: [], kind: 10)) }
            for _ in 0..<Self.commandsPerSequence {
                clock.advance(by: Int64.random(in: 0...(6 * 3_600_000), using: &g))
                let command = randomCommand(&g, orders: orders)
                commandsRun += 1
                do {
                    let outcome = try ledger.execute(command)
                    if case let .orderCompleted(o) = outcome.result { orders.append(o.orderId); completedOrders += 1 }
                    if case .orderCompensated = outcome.result { compensations += 1 }
                } catch is CommerceError {}
                if Int.random(in: 0..<8, using: &g) == 0 { try ledger.processIssueRequests() }
            }
            try ledger.processIssueRequests()
            try checkInvariants(ledger, seed: seed)
        }
        // The generator must reach the interesting paths, or the invariants prove little.
        #expect(commandsRun == Self.sequences * Self.commandsPerSequence)
        #expect(completedOrders > Self.sequences)
        #expect(compensations > Self.sequences / 10)
    }

    func checkInvariants(_ ledger: Ledger, seed: UInt64) throws {
        let events = try ledger.allEvents()
        var balance: [Int64: Int64] = [:]
        var stock: [Int64: Int64] = [:]
        var issued: [Int64: Int64] = [:]
        var total: [Int64: Int64] = [:]
        var holders = Set<[Int64]>()
        let calendar = ledger.calendar
        var sales: [Int64: [Int64: Int64]] = [:]  // day -> product -> qty
        let limit = ledger.configuration.rules.maxBalance
        for (_, event, _, timestamp) in events {
            switch event {
            case let .pointCharged(c):
                balance[c.userId, default: 0] += c.amount
                #expect(c.balanceAfter <= limit, "seed \(seed): charge over the limit")
                #expect(c.balanceAfter == balance[c.userId], "seed \(seed)")
            case let .pointUsed(u): balance[u.movement.userId, default: 0] -= u.movement.amount
            case let .pointRefunded(r): balance[r.movement.userId, default: 0] += r.movement.amount
            case let .productRegistered(p): stock[p.productId] = p.stock
            case let .productRestocked(r): stock[r.change.productId, default: 0] += r.change.quantity
            case let .stockDeducted(d): stock[d.change.productId, default: 0] -= d.change.quantity
            case let .stockRestored(r): stock[r.change.productId, default: 0] += r.change.quantity
            case let .couponDefined(d): total[d.couponId] = d.totalQuantity
            case let .couponIssued(i):
                issued[i.couponId, default: 0] += 1
                #expect(holders.insert([i.userId, i.couponId]).inserted, "seed \(seed): a user holds a coupon twice")
            case .orderCompleted, .orderCompensated: break
            default: break
            }
            if case let .orderCompleted(o) = event {
                let day = calendar.day(of: timestamp)
                for l in o.lines { sales[day, default: [:]][l.productId, default: 0] += l.quantity }
            }
            if case let .orderCompensated(c) = event {
                for i in c.items { sales[calendar.day(of: c.orderedAt), default: [:]][i.productId, default: 0] -= i.quantity }
            }
        }
        for (user, b) in balance {
            #expect(b >= 0, "seed \(seed): negative balance")
            #expect(try ledger.balance(of: user) == b, "seed \(seed): balance of \(user)")
        }
        for (product, s) in stock {
            #expect(s >= 0, "seed \(seed): negative stock")
            #expect(try ledger.product(product)?.stock == s, "seed \(seed): stock of \(product)")
        }
        for (coupon, n) in issued {
            #expect(n <= total[coupon] ?? 0, "seed \(seed): over-issued")
            #expect(try ledger.coupon(coupon)?.issuedQuantity == n, "seed \(seed)")
        }
        // Best-sellers equal a brute-force recount, for every 3-day window the run touched.
        let days = Set(sales.keys)
        for last in days.union(days.map { $0 + 2 }) {
            var window: [Int64: Int64] = [:]
            for d in (last - 2)...last { for (p, q) in sales[d] ?? [:] { window[p, default: 0] += q } }
            let expected = window.filter { $0.value > 0 }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(5)
            let actual = try ledger.bestSellers(lastDay: last, days: 3, limit: 5).items
            #expect(actual.map(\.product.id) == expected.map(\.key), "seed \(seed): best-sellers ending \(ISO8601.formatDay(last))")
            #expect(actual.map(\.quantity) == expected.map(\.value), "seed \(seed)")
        }
        let mismatches = try ledger.verifyProjections()
        #expect(mismatches.isEmpty, "seed \(seed): \(mismatches)")
    }
}

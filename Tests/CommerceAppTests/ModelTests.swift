import Commerce
@testable import CommerceApp
import Foundation
import SeededRandom
import Testing

/// The shop's rules written again, plainly, without the deciders: dictionaries and arithmetic.
/// Seeded random commands go to both this model and the real ledger, and every answer must agree,
/// so a rule that the deciders get consistently wrong (a discount, a paid amount, a coupon that
/// comes back) fails here even though the ledger agrees with itself.
struct ShopModel {
    struct Product { var price: Int64; var stock: Int64 }
    struct Coupon { var discount: Discount; var total: Int64; var issued: Int64; var starts: Timestamp; var ends: Timestamp; var validDays: Int64 }
    struct Held { var expires: Timestamp; var usedBy: Int64? }
    struct Order { var user: Int64; var lines: [(product: Int64, quantity: Int64)]; var coupon: Int64?; var paid: Int64; var day: Int64; var compensated: Bool }

    var balances: [Int64: Int64] = [:]
    var products: [Int64] = []
    var productsById: [Int64: Product] = [:]
    var coupons: [Int64: Coupon] = [:]
    var held: [[Int64]: Held] = [:]
    var orders: [Int64: Order] = [:]
    var nextOrder: Int64 = 1
    let calendar: DayCalendar

    enum Answer: Equatable {
        case refused(String)
        case balance(Int64)
        case product(id: Int64, stock: Int64)
        case coupon(id: Int64)
        case issued(coupon: Int64, expires: Timestamp)
        case completed(order: Int64, total: Int64, discount: Int64, paid: Int64)
        case failed(order: Int64, reason: String, step: String)
        case compensated(order: Int64, paid: Int64)
    }

    mutating func apply(_ command: CommerceCommand, now: Timestamp) -> Answer {
        switch command {
        case let .chargePoints(user, amount):
            if amount <= 0 { return .refused("INVALID_INPUT") }
            if amount < 10_000 { return .refused("MIN_CHARGE_AMOUNT") }
            let after = balances[user, default: 0] + amount
            if after > 10_000_000 { return .refused("BALANCE_LIMIT_EXCEEDED") }
            balances[user] = after
            return .balance(after)
        case let .registerProduct(_, price, stock):
            let id = Int64(products.count + 1)
            products.append(id)
            productsById[id] = Product(price: price, stock: stock)
            return .product(id: id, stock: stock)
        case let .restockProduct(id, quantity):
            guard var p = productsById[id] else { return .refused("PRODUCT_NOT_FOUND") }
            if p.stock + quantity > 1_000_000_000 { return .refused("STOCK_LIMIT_EXCEEDED") }
            p.stock += quantity
            productsById[id] = p
            return .product(id: id, stock: p.stock)
        case let .defineCoupon(d):
            guard case let .days(days) = d.validity else { return .refused("unsupported by the model") }
            let id = Int64(coupons.count + 1)
            coupons[id] = Coupon(discount: d.discount, total: d.totalQuantity, issued: 0, starts: d.issueStartsAt, ends: d.issueEndsAt, validDays: days)
            return .coupon(id: id)
        case let .issueCoupon(user, id):
            guard var c = coupons[id] else { return .refused("COUPON_NOT_FOUND") }
            if now < c.starts || now >= c.ends { return .refused("COUPON_NOT_ACTIVE") }
            if held[[user, id]] != nil { return .refused("COUPON_ALREADY_ISSUED") }
            if c.issued >= c.total { return .refused("COUPON_SOLD_OUT") }
            c.issued += 1
            coupons[id] = c
            let expires = now + c.validDays * 86_400_000
            held[[user, id]] = Held(expires: expires, usedBy: nil)
            return .issued(coupon: id, expires: expires)
        case let .placeOrder(user, items, couponId):
            for item in items where productsById[item.productId] == nil { return .refused("PRODUCT_NOT_FOUND") }
            let id = nextOrder
            nextOrder += 1
            for item in items where productsById[item.productId]!.stock < item.quantity {
                return .failed(order: id, reason: "INSUFFICIENT_STOCK", step: "STOCK")
            }
            let total = items.reduce(Int64(0)) { $0 + productsById[$1.productId]!.price * $1.quantity }
            var discount: Int64 = 0
            if let couponId {
                guard let h = held[[user, couponId]], h.usedBy == nil, now < h.expires else {
                    return .failed(order: id, reason: "COUPON_NOT_USABLE", step: "COUPON")
                }
                switch coupons[couponId]!.discount {
                case let .fixed(amount): discount = amount
                case let .percent(p, cap): discount = total * p / 100; if let cap, discount > cap { discount = cap }
                }
                if discount > total { discount = total }
            }
            let paid = total - discount
            if balances[user, default: 0] < paid { return .failed(order: id, reason: "INSUFFICIENT_POINTS", step: "POINTS") }
            balances[user, default: 0] -= paid
            for item in items { productsById[item.productId]!.stock -= item.quantity }
            if let couponId { held[[user, couponId]]!.usedBy = id }
            orders[id] = Order(user: user, lines: items.map { ($0.productId, $0.quantity) }, coupon: couponId, paid: paid,
                               day: calendar.day(of: now), compensated: false)
            return .completed(order: id, total: total, discount: discount, paid: paid)
        case let .compensateOrder(id, _):
            guard var o = orders[id] else { return .refused(id < nextOrder ? "ORDER_NOT_COMPENSABLE" : "ORDER_NOT_FOUND") }
            if o.compensated { return .refused("ORDER_NOT_COMPENSABLE") }
            o.compensated = true
            orders[id] = o
            for line in o.lines { productsById[line.product]!.stock += line.quantity }
            if let c = o.coupon, let h = held[[o.user, c]], h.usedBy == id, now < h.expires { held[[o.user, c]]!.usedBy = nil }
            balances[o.user, default: 0] += o.paid
            return .compensated(order: id, paid: o.paid)
        case .requestCouponIssue:
            return .refused("unsupported by the model")
        }
    }

    /// Top `limit` products by units over the `days` days ending `today`, ties to the lower id.
    func bestSellers(today: Int64, days: Int64, limit: Int) -> [(Int64, Int64)] {
        var units: [Int64: Int64] = [:]
        for o in orders.values where !o.compensated && o.day > today - days && o.day <= today {
            for line in o.lines { units[line.product, default: 0] += line.quantity }
        }
        return units.filter { $0.value > 0 }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(limit).map { ($0.key, $0.value) }
    }
}

@Suite struct ModelTests {
    static let sequences = 200
    static let commandsPerSequence = 60

    func randomCommand(_ g: inout SplitMix64, model: ShopModel) -> CommerceCommand {
        let user = Int64.random(in: 1...5, using: &g)
        switch Int.random(in: 0..<100, using: &g) {
        case 0..<6: return .registerProduct(name: "P", price: Int64.random(in: 1...40, using: &g) * 700 + Int64.random(in: 0...99, using: &g), stock: Int64.random(in: 0...9, using: &g))
        case 6..<10: return .restockProduct(productId: Int64.random(in: 1...6, using: &g), quantity: Int64.random(in: 1...4, using: &g))
        case 10..<14:
            let discount: Discount = Bool.random(using: &g) ? .fixed(amount: Int64.random(in: 1...30, using: &g) * 500)
                : .percent(Int64.random(in: 1...100, using: &g), maxAmount: Bool.random(using: &g) ? Int64.random(in: 1...9, using: &g) * 1_000 : nil)
            return .defineCoupon(CouponDefinition(name: "C", discount: discount, totalQuantity: Int64.random(in: 1...3, using: &g),
                                                  issueStartsAt: testEpoch - Millis.day, issueEndsAt: testEpoch + Int64.random(in: 1...5, using: &g) * Millis.day,
                                                  validity: .days(Int64.random(in: 1...3, using: &g))))
        case 14..<34: return .chargePoints(userId: user, amount: Int64.random(in: -1...45, using: &g) * 10_000 + (Bool.random(using: &g) ? 0 : 3_000))
        case 34..<46: return .issueCoupon(userId: user, couponId: Int64.random(in: 1...5, using: &g))
        case 46..<88:
            let products = Array(Set((0..<Int.random(in: 1...3, using: &g)).map { _ in Int64.random(in: 1...7, using: &g) })).sorted()
            // Mostly a coupon the user holds (used or not), sometimes none, sometimes any.
            let mine = model.held.keys.filter { $0[0] == user }.map { $0[1] }.sorted()
            let coupon: Int64? = switch Int.random(in: 0..<10, using: &g) {
            case 0..<3: nil
            case 3..<9 where !mine.isEmpty: mine.randomElement(using: &g)
            default: Int64.random(in: 1...5, using: &g)
            }
            return .placeOrder(userId: user, items: products.map { OrderItem(productId: $0, quantity: Int64.random(in: 1...3, using: &g)) }, couponId: coupon)
        default:
            return .compensateOrder(orderId: Int64.random(in: 1...max(1, model.nextOrder), using: &g), reason: "r")
        }
    }

    /// The ledger's answer in the model's terms.
    func answer(_ ledger: Ledger, _ command: CommerceCommand) -> ShopModel.Answer {
        do {
            switch try ledger.execute(command).result {
            case let .pointsCharged(_, balance): return .balance(balance)
            case let .product(p): return .product(id: p.id, stock: p.stock)
            case let .coupon(c): return .coupon(id: c.id)
            case let .couponIssued(u): return .issued(coupon: u.couponId, expires: u.expiresAt)
            case let .orderCompleted(o): return .completed(order: o.orderId, total: o.totalAmount, discount: o.discountAmount, paid: o.paidAmount)
            case let .orderFailed(id, reason, step, _): return .failed(order: id, reason: reason.rawValue, step: step.rawValue)
            case let .orderCompensated(o): return .compensated(order: o.orderId, paid: o.paidAmount)
            case .couponIssueRequested: return .refused("unsupported by the model")
            }
        } catch let error as CommerceError {
            return .refused(error.code.rawValue)
        } catch {
            return .refused("\(error)")
        }
    }

    @Test func theLedgerAnswersAsAPlainModelOfTheRulesDoes() throws {
        var orders = 0, discounted = 0, compensated = 0, failed = 0
        for seed in 0..<UInt64(Self.sequences) {
            var g = SplitMix64(seed: 7_000 + seed)
            let dir = TemporaryDirectory()
            let clock = ManualClock(testEpoch)
            let ledger = try openLedger(dir, clock: clock, durable: false)
            var model = ShopModel(calendar: ledger.calendar)
            // A shop to start from, so that orders can meet stock, points and coupons.
            var opening: [CommerceCommand] = (1...3).map { _ in .registerProduct(name: "P", price: Int64.random(in: 1...40, using: &g) * 700 + Int64.random(in: 0...99, using: &g), stock: Int64.random(in: 4...9, using: &g)) }
            opening += (1...2).map { _ in .defineCoupon(CouponDefinition(name: "C", discount: .percent(Int64.random(in: 5...50, using: &g), maxAmount: 8_000), totalQuantity: 3,
                                                                           issueStartsAt: testEpoch - Millis.day, issueEndsAt: testEpoch + 4 * Millis.day, validity: .days(2))) }
            opening += (1...5).map { .chargePoints(userId: Int64($0), amount: 150_000) }
            opening += (1...3).map { .issueCoupon(userId: Int64($0), couponId: 1) } + (3...5).map { .issueCoupon(userId: Int64($0), couponId: 2) }
            for step in 0..<Self.commandsPerSequence + opening.count {
                clock.advance(by: Int64.random(in: 0...(5 * 3_600_000), using: &g))
                let command = step < opening.count ? opening[step] : randomCommand(&g, model: model)
                let expected = model.apply(command, now: clock.now())
                let actual = answer(ledger, command)
                #expect(actual == expected, "seed \(seed) step \(step): \(command)")
                if actual != expected { return }
                // Best sellers after every command: the kept sums follow the log one step at a time.
                let day = ledger.calendar.day(of: clock.now())
                for days in [1, 3] as [Int64] {
                    let top = try ledger.bestSellers(lastDay: day, days: Int(days), limit: 5).items.map { [$0.product.id, $0.quantity] }
                    #expect(top == model.bestSellers(today: day, days: days, limit: 5).map { [$0.0, $0.1] }, "seed \(seed) step \(step): best sellers over \(days) days")
                }
                if case let .completed(_, _, discount, _) = actual { orders += 1; if discount > 0 { discounted += 1 } }
                if case .compensated = actual { compensated += 1 }
                if case .failed = actual { failed += 1 }
            }
            // Every view agrees with the model as well.
            for user in 1...5 as ClosedRange<Int64> {
                #expect(try ledger.balance(of: user) == model.balances[user, default: 0], "seed \(seed) user \(user)")
                let coupons = try ledger.userCoupons(of: user)
                for c in coupons {
                    let h = model.held[[user, c.record.couponId]]
                    let status: UserCouponStatus = h?.usedBy != nil ? .used : (clock.now() >= (h?.expires ?? 0) ? .expired : .available)
                    #expect(c.status == status, "seed \(seed) user \(user) coupon \(c.record.couponId)")
                }
                #expect(coupons.count == model.held.keys.filter { $0[0] == user }.count)
            }
            for (id, product) in model.productsById {
                #expect(try ledger.product(id)?.stock == product.stock, "seed \(seed) product \(id)")
            }
            for (id, coupon) in model.coupons {
                #expect(try ledger.coupon(id)?.issuedQuantity == coupon.issued, "seed \(seed) coupon \(id)")
            }
            let today = ledger.calendar.day(of: clock.now())
            let top = try ledger.bestSellers(lastDay: today, days: 3, limit: 5).items.map { ($0.product.id, $0.quantity) }
            let expectedTop = model.bestSellers(today: today, days: 3, limit: 5)
            #expect(top.map(\.0) == expectedTop.map(\.0) && top.map(\.1) == expectedTop.map(\.1), "seed \(seed) best sellers")
        }
        // The generator reaches the interesting paths.
        #expect(orders > Self.sequences && discounted > Self.sequences / 2 && compensated > Self.sequences / 4 && failed > Self.sequences,
                "orders \(orders), discounted \(discounted), compensated \(compensated), failed \(failed)")
    }
}

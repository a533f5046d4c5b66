import Commerce
import CommerceApp
import Foundation

final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("redis-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

let testEpoch: Timestamp = ISO8601.parse("2026-11-25T00:00:00Z")!

func openLedger(_ dir: TemporaryDirectory, logIdentity: [UInt8]? = nil, timeZone: String? = nil, clock: ManualClock = ManualClock(testEpoch)) throws -> Ledger {
    var configuration = LedgerConfiguration(dataDirectory: dir.path, environment: .init(mapSize: 16 << 20, maxMapSize: 1 << 30))
    configuration.logIdentity = logIdentity
    configuration.timeZone = timeZone
    return try Ledger(configuration: configuration, clock: clock)
}

/// Products, coupons, charges, issues, orders and compensations, decided one by one; refusals
/// are part of the mix (and append nothing).
func runMixedCommands(on ledger: Ledger, count: Int, seed: UInt64) throws {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    func next(_ n: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(n))
    }
    if (try ledger.products(limit: 1)).items.isEmpty {
        for i in 0..<5 { _ = try ledger.execute(.registerProduct(name: "P\(i)", price: Int64(1_000 * (i + 1)), stock: 500)) }
        let d = CouponDefinition(name: "Ten", discount: .fixed(amount: 500), totalQuantity: 30, issueStartsAt: testEpoch - 86_400_000,
                                 issueEndsAt: testEpoch + 30 * 86_400_000, validity: .days(7))
        _ = try ledger.execute(.defineCoupon(d))
    }
    let products = try ledger.products(limit: 100).items.map(\.id)
    let coupons = try ledger.coupons(limit: 100).items.map(\.id)
    for _ in 0..<count {
        let user = Int64(next(40) + 1)
        let command: CommerceCommand
        switch next(10) {
        case 0...3: command = .chargePoints(userId: user, amount: Int64(next(50) + 1) * 1_000)
        case 4: command = .issueCoupon(userId: user, couponId: coupons[next(coupons.count)])
        case 5: command = .restockProduct(productId: products[next(products.count)], quantity: Int64(next(5) + 1))
        case 6:
            let orders = try ledger.orders(of: user, limit: 5).items
            guard let order = orders.first else { continue }
            command = .compensateOrder(orderId: order.orderId, reason: "test")
        default:
            command = .placeOrder(userId: user, items: [OrderItem(productId: products[next(products.count)], quantity: Int64(next(3) + 1))],
                                  couponId: next(3) == 0 ? coupons[next(coupons.count)] : nil)
        }
        _ = try? ledger.execute(command)
    }
}

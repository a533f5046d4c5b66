// In-process benchmark of the ledger core: durable commands per second through the group-commit
// writer at 1, 64 and 1,024 concurrent callers, fold speed, and query latency.
//
//   swift run -c release ledger-benchmark [--seconds 3] [--nested] [--callers 1,64,1024] [--dir /tmp/x]
import Commerce
import CommerceApp
import Foundation

struct Options {
    var seconds = 3.0
    var isolate = false
    var directory = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-bench-\(getpid())").path
    var callers = [1, 64, 1024]
    var only: String?
    var events = 10_000_000

    init(_ args: [String]) {
        var i = 1
        while i < args.count {
            switch args[i] {
            case "--seconds": i += 1; seconds = Double(args[i]) ?? seconds
            case "--nested": isolate = true
            case "--dir": i += 1; directory = args[i]
            case "--callers": i += 1; callers = args[i].split(separator: ",").compactMap { Int($0) }
            case "--only": i += 1; only = args[i]
            case "--events": i += 1; events = Int(args[i]) ?? events
            default: break
            }
            i += 1
        }
    }
}

let options = Options(CommandLine.arguments)
try? FileManager.default.removeItem(atPath: options.directory)
let ledger = try Ledger(configuration: LedgerConfiguration(
    dataDirectory: options.directory, environment: .init(mapSize: 1 << 30, maxMapSize: 64 << 30)))
let writer = LedgerWriter(ledger: ledger)
writer.start()

func format(_ x: Double) -> String { String(format: "%.0f", x) }

/// Runs `callers` tasks, each submitting `make(n)` commands back to back until time is up.
func measure(_ name: String, callers: Int, seconds: Double, _ make: @escaping @Sendable (Int) -> CommerceCommand) async -> Double {
    let counter = Counter()
    let before = ledger.statistics.snapshot
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    let start = ContinuousClock.now
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<callers {
            group.addTask {
                while ContinuousClock.now < deadline {
                    let n = counter.next()
                    do { _ = try await writer.submit(make(n)) } catch { counter.fail() }
                }
            }
        }
    }
    let elapsed = (ContinuousClock.now - start) / .seconds(1)
    let after = ledger.statistics.snapshot
    let batches = after.batches - before.batches
    let jobs = after.jobs - before.jobs
    let commitMs = batches > 0 ? (after.totalCommitSeconds - before.totalCommitSeconds) / Double(batches) * 1000 : 0
    let rate = Double(counter.value) / elapsed
    print("\(name.padding(toLength: 14, withPad: " ", startingAt: 0)) callers \(String(callers).padding(toLength: 5, withPad: " ", startingAt: 0)) \(format(rate).padding(toLength: 8, withPad: " ", startingAt: 0)) cmd/s   mean batch \(String(format: "%6.1f", batches > 0 ? Double(jobs) / Double(batches) : 0))   mean txn \(String(format: "%.2f", commitMs)) ms   rejected \(counter.failures)")
    return rate
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    private(set) var failures = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
    func fail() { lock.lock(); failures += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n - failures }
}

print("ledger-benchmark: \(options.seconds) s per run, nested-transaction isolation \(options.isolate ? "on" : "off"), data in \(options.directory)")

func wanted(_ name: String) -> Bool { options.only == nil || options.only == name }

// Rebuild speed on a large log: N events (charges over 1M users, 10% orders), then a full rebuild.
if options.only == "rebuild" {
    for p in 0..<100 { _ = try ledger.execute(.registerProduct(name: "Product \(p)", price: 1_000, stock: 1_000_000_000)) }
    let t0 = ContinuousClock.now
    var n = 0
    var seed: UInt64 = 42
    func random(_ bound: Int) -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int((seed >> 33) % UInt64(bound)) }
    while try ledger.head() < UInt64(options.events) {
        let batch: [CommerceCommand] = (0..<10_000).map { _ in
            n += 1
            if n % 10 == 0 {
                let p = Int64(random(97) + 1)
                return .placeOrder(userId: Int64(random(1_000_000) + 1), items: [.init(productId: p, quantity: 1), .init(productId: p + 1, quantity: 1)], couponId: nil)
            }
            return .chargePoints(userId: Int64(random(1_000_000) + 1), amount: 10_000)
        }
        _ = try ledger.execute(batch: batch)
    }
    let head = try ledger.head()
    print("generated \(head) events in \(String(format: "%.1f", (ContinuousClock.now - t0) / .seconds(1))) s")
    let report = try ledger.rebuildProjections()
    print("rebuild        \(report.events) events in \(String(format: "%.2f", report.seconds)) s = \(format(report.eventsPerSecond)) events/s")
    let info = ledger.storage()
    print("data           log \(info.log.mapUsedBytes / 1_048_576) MiB, views \(info.views.mapUsedBytes / 1_048_576) MiB")
    try? FileManager.default.removeItem(atPath: options.directory)
    exit(0)
}

// The writer's own cost, without callers: batches of 1,000 charges decided on this thread.
if options.only == "writer" {
    let t0 = ContinuousClock.now
    var n = 0
    while ContinuousClock.now - t0 < .milliseconds(Int(options.seconds * 1000)) {
        _ = try ledger.execute(batch: (0..<1_000).map { i in .chargePoints(userId: Int64((n + i) % 1_000_000 + 1), amount: 10_000) })
        n += 1_000
    }
    let s = ledger.statistics.snapshot
    print("writer only    \(format(Double(n) / ((ContinuousClock.now - t0) / .seconds(1)))) charges/s in batches of 1,000, mean txn \(String(format: "%.2f", s.totalCommitSeconds / Double(s.batches) * 1000)) ms")
}

// Charges: spread over 1M users so the balance limit never interferes.
for callers in options.callers where wanted("charge") {
    _ = await measure("charge", callers: callers, seconds: options.seconds) { n in
        .chargePoints(userId: Int64(n % 1_000_000 + 1), amount: 10_000)
    }
}

// Coupon issue: one big coupon, a new user each time (every issue succeeds).
_ = try ledger.execute(.defineCoupon(CouponDefinition(
    name: "Storm", discount: .fixed(amount: 1_000), totalQuantity: 100_000_000,
    issueStartsAt: 0, issueEndsAt: Int64.max / 2, validity: .days(30))))
let stormCoupon: Int64 = 1
for callers in options.callers where wanted("coupon") {
    let base = Int64(callers) * 10_000_000
    _ = await measure("coupon issue", callers: callers, seconds: options.seconds) { n in
        .issueCoupon(userId: base + Int64(n), couponId: stormCoupon)
    }
}

// Orders: 3 lines + a coupon. Prepared users each hold points and an unused coupon.
for p in 0..<100 { _ = try ledger.execute(.registerProduct(name: "Product \(p)", price: 1_000 + Int64(p), stock: 1_000_000_000)) }
_ = try ledger.execute(.defineCoupon(CouponDefinition(
    name: "Order", discount: .percent(10, maxAmount: 5_000), totalQuantity: 100_000_000,
    issueStartsAt: 0, issueEndsAt: Int64.max / 2, validity: .days(30))))
let orderCoupon: Int64 = 2
let preparedUsers = wanted("order") ? 400_000 : 0
let prepStart = ContinuousClock.now
await withTaskGroup(of: Void.self) { group in
    for worker in 0..<256 {
        group.addTask {
            var u = worker + 1
            while u <= preparedUsers {
                let user = Int64(500_000_000 + u)
                _ = try? await writer.submit(.chargePoints(userId: user, amount: 1_000_000))
                _ = try? await writer.submit(.issueCoupon(userId: user, couponId: orderCoupon))
                u += 256
            }
        }
    }
}
print("prepared \(preparedUsers) users with points and a coupon in \(String(format: "%.1f", (ContinuousClock.now - prepStart) / .seconds(1))) s")
let orderCounter = Counter()
for callers in options.callers where wanted("order") {
    _ = await measure("order", callers: callers, seconds: options.seconds) { _ in
        let n = orderCounter.next()
        let user = Int64(500_000_000 + (n - 1) % preparedUsers + 1)
        let p = Int64(n % 97)
        return .placeOrder(userId: user, items: [.init(productId: p + 1, quantity: 1), .init(productId: p + 2, quantity: 2), .init(productId: p + 3, quantity: 1)],
                           couponId: n <= preparedUsers ? orderCoupon : nil)
    }
}
writer.stop()

// Fold: a full projection rebuild from position 0 (new generation, swapped in).
let rebuilt = try ledger.rebuildProjections()
print("fold (rebuild) \(rebuilt.events) events in \(String(format: "%.2f", rebuilt.seconds)) s = \(format(rebuilt.eventsPerSecond)) events/s")

// Query latency: balance and top products, each in its own read transaction.
func latency(_ name: String, iterations: Int, _ body: (Int) throws -> Void) rethrows {
    var samples = [Double]()
    samples.reserveCapacity(iterations)
    for i in 0..<iterations {
        let t0 = ContinuousClock.now
        try body(i)
        samples.append((ContinuousClock.now - t0) / .nanoseconds(1))
    }
    samples.sort()
    func pct(_ p: Double) -> Double { samples[min(samples.count - 1, Int(Double(samples.count) * p))] / 1000 }
    print("\(name.padding(toLength: 14, withPad: " ", startingAt: 0)) p50 \(String(format: "%.2f", pct(0.5))) µs   p99 \(String(format: "%.2f", pct(0.99))) µs   (\(iterations) queries)")
}
try latency("balance query", iterations: 200_000) { i in _ = try ledger.balance(of: Int64(i % 1_000_000 + 1)) }
try latency("top-5 query", iterations: 20_000) { _ in _ = try ledger.bestSellers() }
try? FileManager.default.removeItem(atPath: options.directory)

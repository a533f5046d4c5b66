import Commerce
import CommerceApp
import Foundation
import LedgerJSON
import Synchronization
import SeededRandom
import Testing

/// Real `commerce serve` processes killed with SIGKILL under load, and operator tools run beside a
/// writing server.
@Suite(.serialized) struct CrashTests {
    /// Rounds of kill -9; CI runs the default, `COMMERCE_CRASH_ROUNDS` asks for more.
    static let rounds = Int(ProcessInfo.processInfo.environment["COMMERCE_CRASH_ROUNDS"] ?? "") ?? 10

    /// What one worker was told, and what may be in flight when the server dies.
    struct Worker: Sendable {
        let index: Int
        var chargeUser: Int64 { 1_000 + Int64(index) }
        var orderUser: Int64 { 2_000 + Int64(index) }
        /// The balance the last acknowledged charge reported.
        var acknowledgedBalance: Int64 = 0
        /// A charge sent and not answered when the server died: it may or may not have happened.
        var chargeInFlight = false
        var acknowledgedOrders: [Int64] = []
        var acknowledgedIssues: [Int64] = []
        var sent = 0
    }

    @Test func killNineUnderLoadLosesNoAcknowledgedCommand() async throws {
        let dir = ScratchDirectory()
        var generator = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 0...UInt64(UInt32.max), using: &generator)
        var random = SplitMix64(seed: seed)
        var server = try ServerProcess(data: dir.path)
        for (name, price) in [("Mug", 1_200), ("Pen", 300), ("Ink", 700)] {
            #expect(try await server.call("POST", "/admin/products", #"{"name":"\#(name)","price":\#(price),"stock":1000000}"#, admin: true).status == 201)
        }
        #expect(try await server.call("POST", "/admin/coupons", #"{"name":"Many","discount":{"type":"FIXED","amount":100},"totalQuantity":1000000,"issueStartsAt":"2020-01-01T00:00:00Z","issueEndsAt":"2099-01-01T00:00:00Z","validDays":30}"#, admin: true).status == 201)
        let workerCount = 12
        var workers = (0..<workerCount).map { Worker(index: $0) }
        for w in workers {
            #expect(try await server.call("POST", "/users/\(w.orderUser)/points/charge", #"{"amount":10000000}"#).status == 200)
        }

        for round in 0..<Self.rounds {
            let killAfter = Duration.milliseconds(Int.random(in: 30...350, using: &random))
            let stopped = Flag()
            let answered = Locked(0)
            let current = server
            workers = await withTaskGroup(of: Worker.self) { group in
                for w in workers {
                    group.addTask { await Self.drive(w, server: current, round: round, stopped: stopped, answered: answered) }
                }
                try? await Task.sleep(for: killAfter)
                // Under load, not before it: on a busy machine the first answers can take longer
                // than the random delay, and a kill before any would test nothing.
                for _ in 0..<2_000 where answered.withLock({ $0 }) < workerCount {
                    try? await Task.sleep(for: .milliseconds(10))
                }
                current.kill9()
                stopped.set()
                return await group.reduce(into: []) { $0.append($1) }.sorted { $0.index < $1.index }
            }
            server = try ServerProcess(data: dir.path)
            #expect(!server.output_.contains("rebuilt"), "round \(round), seed \(seed): a process crash needs no rebuild")
            for i in workers.indices {
                let w = workers[i]
                let balance = try #require(try await server.call("GET", "/users/\(w.chargeUser)/points").json["balance"]?.intValue)
                let allowed = w.chargeInFlight ? [w.acknowledgedBalance, w.acknowledgedBalance + 10_000] : [w.acknowledgedBalance]
                #expect(allowed.contains(balance), "round \(round), seed \(seed), worker \(w.index): balance \(balance), acknowledged \(w.acknowledgedBalance)")
                workers[i].acknowledgedBalance = balance
                workers[i].chargeInFlight = false
                for order in w.acknowledgedOrders {
                    #expect(try await server.call("GET", "/orders/\(order)").json["status"] == .string("COMPLETED"), "round \(round), seed \(seed): order \(order)")
                }
                for user in w.acknowledgedIssues {
                    let coupons = try await server.call("GET", "/users/\(user)/coupons").json["items"]?.arrayValue ?? []
                    #expect(coupons.count == 1, "round \(round), seed \(seed): coupon of user \(user)")
                }
                workers[i].acknowledgedOrders = []
                workers[i].acknowledgedIssues = []
            }
        }
        #expect(workers.map(\.sent).reduce(0, +) > Self.rounds * workerCount)

        // Nothing half-applied: stock, points and orders agree with each other.
        var sold: [Int64: Int64] = [:]
        for w in workers {
            var spent: Int64 = 0
            var before: Int64? = nil
            repeat {
                let page = try await server.call("GET", "/users/\(w.orderUser)/orders?limit=100" + (before.map { "&before=\($0)" } ?? "")).json
                for order in page["items"]?.arrayValue ?? [] where order["status"] == .string("COMPLETED") {
                    spent += order["paidAmount"]?.intValue ?? 0
                    for line in order["items"]?.arrayValue ?? [] {
                        sold[line["productId"]?.intValue ?? 0, default: 0] += line["quantity"]?.intValue ?? 0
                    }
                }
                before = page["next"]?.intValue
            } while before != nil
            #expect(try await server.call("GET", "/users/\(w.orderUser)/points").json["balance"]?.intValue == 10_000_000 - spent)
        }
        for product in 1...3 as ClosedRange<Int64> {
            let stock = try await server.call("GET", "/products/\(product)").json["stock"]?.intValue
            #expect(stock == 1_000_000 - (sold[product] ?? 0), "product \(product): stock \(String(describing: stock)), sold \(sold[product] ?? 0)")
        }
        #expect(server.stop() == 0)
        #expect(try run("commerce-log", ["verify", "--data", dir.path]).status == 0)
        let verify = try run("commerce-rebuild", ["--data", dir.path, "--verify"])
        #expect(verify.status == 0, "\(verify.stderr)")
    }

    /// One worker's requests until the server dies: charges, orders and coupon issues, each with
    /// an idempotency key, remembering what was acknowledged.
    static func drive(_ worker: Worker, server: ServerProcess, round: Int, stopped: Flag, answered: Locked<Int>) async -> Worker {
        var w = worker
        while !stopped.isSet {
            w.sent += 1
            let n = w.sent
            do {
                switch n % 4 {
                case 0:
                    let user = 100_000 + Int64(w.index) * 100_000 + Int64(n)
                    let r = try await server.call("POST", "/coupons/1/issue", #"{"userId":\#(user)}"#, key: "issue-\(w.index)-\(n)")
                    if r.status == 201 { w.acknowledgedIssues.append(user) }
                case 1:
                    let product = 1 + n % 3
                    let r = try await server.call("POST", "/orders", #"{"userId":\#(w.orderUser),"items":[{"productId":\#(product),"quantity":1}]}"#, key: "order-\(w.index)-\(n)")
                    if r.status == 201, let id = r.json["orderId"]?.intValue { w.acknowledgedOrders.append(id) }
                default:
                    w.chargeInFlight = true
                    let r = try await server.call("POST", "/users/\(w.chargeUser)/points/charge", #"{"amount":10000}"#, key: "charge-\(w.index)-\(n)")
                    if r.status == 200, let balance = r.json["balance"]?.intValue {
                        w.acknowledgedBalance = balance
                        w.chargeInFlight = false
                    }
                }
                answered.withLock { $0 += 1 }
            } catch {
                break  // the server is gone
            }
        }
        return w
    }

    @Test func verifyAndRebuildBesideAWritingServer() async throws {
        let dir = ScratchDirectory()
        // A log long enough that folding it takes a while, made in process.
        do {
            let ledger = try Ledger(configuration: LedgerConfiguration(dataDirectory: dir.path))
            for start in stride(from: 0, to: 150_000, by: 10_000) {
                _ = try ledger.execute(batch: (start..<start + 10_000).map { .chargePoints(userId: Int64($0 % 50_000 + 1), amount: 10_000) })
            }
        }
        let server = try ServerProcess(data: dir.path)
        defer { server.stop() }
        let acknowledged = Locked<[ContinuousClock.Instant]>([])
        let stop = Flag()
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var n = 0
                        while !stop.isSet {
                            n += 1
                            let user = 900_000 + worker * 10_000 + n
                            if (try? await server.call("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#))?.status == 200 {
                                acknowledged.withLock { $0.append(.now) }
                            }
                        }
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        for arguments in [["--verify"], ["--chunk-ms", "20"], ["--verify"]] {
            let started = ContinuousClock.now
            let tool = try await runInBackground("commerce-rebuild", ["--data", dir.path] + arguments)
            let ended = ContinuousClock.now
            #expect(tool.status == 0, "\(arguments): \(tool.stderr)")
            // The middle half of the tool's run is its fold, long past its start-up: the server's
            // writes go on meanwhile (a verify used to hold the writer for the whole fold).
            let quarter = (ended - started) / 4
            let during = acknowledged.withLock { $0.filter { $0 > started + quarter && $0 < ended - quarter }.count }
            let timeline = acknowledged.withLock { $0.filter { $0 > started && $0 < ended }.map { ($0 - started) / .milliseconds(1) } }
            #expect(during > 0, "\(arguments): no write acknowledged during the middle of a \(ended - started) run; acknowledged at (ms) \(timeline.map { Int($0) })")
        }
        stop.set()
        await load.value
        #expect(acknowledged.withLock { $0.count } > 0)
        let verify = try run("commerce-rebuild", ["--data", dir.path, "--verify"])
        #expect(verify.status == 0, "\(verify.stderr)")
    }
}

/// A value shared between tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

final class Flag: Sendable {
    private let value = Locked(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

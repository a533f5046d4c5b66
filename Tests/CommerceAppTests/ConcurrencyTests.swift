import Commerce
@testable import CommerceApp
import Synchronization
import Foundation
import Testing

/// The single writer as the only serialization point: races resolve exactly, in log order.
@Suite struct ConcurrencyTests {
    func withWriter<R>(_ ledger: Ledger, _ body: (LedgerWriter) async throws -> R) async rethrows -> R {
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        defer { writer.stop() }
        return try await body(writer)
    }

    @Test func tenThousandIssuesForAHundredCoupons() async throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.defineCoupon(total: 100)
        let codes = try await withWriter(ledger) { writer in
            try await withThrowingTaskGroup(of: String.self) { group in
                for user in 1...10_000 as ClosedRange<Int64> {
                    group.addTask {
                        do {
                            _ = try await writer.submit(.issueCoupon(userId: user, couponId: 1))
                            return "ISSUED"
                        } catch let e as CommerceError { return e.code.rawValue }
                    }
                }
                return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            }
        }
        #expect(codes == ["ISSUED": 100, "COUPON_SOLD_OUT": 9_900])
        #expect(try ledger.coupon(1)?.issuedQuantity == 100)
        // The first 100 in log order are the issued ones: no sold-out decision precedes an issue.
        let issued = try ledger.allEvents().filter { $0.type == "CouponIssued" }
        #expect(issued.count == 100)
        let ids = issued.compactMap { e -> Int64? in if case let .couponIssued(i) = e.event { return i.userCouponId }; return nil }
        #expect(ids == Array(1...100))
        #expect(try ledger.verifyProjections().isEmpty)
    }

    @Test func tenThousandAsyncRequestsForAHundredCoupons() async throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.defineCoupon(total: 100)
        let requestIds = try await withWriter(ledger) { writer in
            let processor = CouponIssuanceProcessor(writer: writer, pollInterval: .milliseconds(20))
            let processing = Task { await processor.run() }
            defer { processing.cancel() }
            // Once the coupon is sold out, a request is refused at once instead of queued.
            let ids = try await withThrowingTaskGroup(of: Int64?.self) { group in
                for user in 1...10_000 as ClosedRange<Int64> {
                    group.addTask {
                        do {
                            guard case let .couponIssueRequested(r) = try await writer.submit(.requestCouponIssue(userId: user, couponId: 1)).result else { return -1 }
                            return r.requestId
                        } catch let error as CommerceError where error.code == .couponSoldOut {
                            return nil
                        }
                    }
                }
                return try await group.reduce(into: [Int64]()) { if let id = $1 { $0.append(id) } }
            }
            // Wait (bounded) for the processor to decide every queued request.
            for _ in 0..<500 {
                if try ledger.allEvents().filter({ $0.type == "CouponIssueRejected" || $0.type == "CouponIssued" }).count == ids.count { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            return ids
        }
        #expect(Set(requestIds) == Set(1...Int64(requestIds.count)) && requestIds.count >= 100)
        let statuses = try requestIds.map { try #require(try ledger.issueRequest($0)) }
        #expect(statuses.filter { $0.status == .issued }.count == 100)
        #expect(statuses.filter { $0.status == .rejected && $0.reason == "COUPON_SOLD_OUT" }.count == requestIds.count - 100)
        // Strictly in log order: the issued ones are the first 100 requests logged.
        let requestOrder = try ledger.allEvents().compactMap { e -> Int64? in if case let .couponIssueRequested(r) = e.event { return r.requestId }; return nil }
        let issuedSet = Set(statuses.filter { $0.status == .issued }.map(\.requestId))
        #expect(Set(requestOrder.prefix(100)) == issuedSet)
        #expect(try ledger.verifyProjections().isEmpty)
    }

    /// `count` concurrent charges of 10,000 to user 1; returns how many were accepted.
    func acceptedCharges(_ ledger: Ledger, count: Int) async throws -> Int {
        try await withWriter(ledger) { writer in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<count {
                    group.addTask {
                        do {
                            _ = try await writer.submit(.chargePoints(userId: 1, amount: 10_000))
                            return true
                        } catch let e as CommerceError where e.code == .balanceLimitExceeded { return false }
                    }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
        }
    }

    @Test func thousandConcurrentChargesToOneUser() async throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        #expect(try await acceptedCharges(ledger, count: 1_000) == 1_000)
        #expect(try ledger.balance(of: 1) == 10_000_000)

        // Crossing the limit: exactly the charges that fit succeed.
        let dir2 = TemporaryDirectory()
        let ledger2 = try openLedger(dir2)
        try ledger2.charge(1, 9_500_000)
        #expect(try await acceptedCharges(ledger2, count: 1_000) == 50)
        #expect(try ledger2.balance(of: 1) == 10_000_000)
    }

    @Test func twoHundredOrdersRaceForFiftyUnits() async throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.registerProduct("Hot", price: 10_000, stock: 50)
        for user in 1...200 as ClosedRange<Int64> { try ledger.charge(user, 10_000) }
        let completed = try await withWriter(ledger) { writer in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for user in 1...200 as ClosedRange<Int64> {
                    group.addTask {
                        let outcome = try await writer.submit(.placeOrder(userId: user, items: [.init(productId: 1, quantity: 1)], couponId: nil))
                        if case .orderCompleted = outcome.result { return true }
                        guard case .orderFailed(_, .insufficientStock, .stock, _) = outcome.result else { throw TestFailure("unexpected \(outcome.result)") }
                        return false
                    }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
        }
        #expect(completed == 50)
        #expect(try ledger.product(1)?.stock == 0)
        let sold = try ledger.allEvents().reduce(Int64(0)) { sum, e in
            if case let .stockDeducted(d) = e.event { return sum + d.change.quantity }
            return sum
        }
        #expect(sold == 50)
        #expect(try ledger.verifyProjections().isEmpty)
    }

    @Test func writerAnswersQueuedCommandsOnStop() async throws {
        let dir = TemporaryDirectory()
        // The first batch holds the writer until the test lets it go, so commands pile up behind it.
        let release = DispatchSemaphore(value: 0)
        let first = Mutex(true)
        let holding = Mutex(false)
        let ledger = try openLedger(dir, afterLogCommit: {
            if first.withLock({ let was = $0; $0 = false; return was }) {
                holding.withLock { $0 = true }
                release.wait()
            }
        })
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        _ = Task { try await writer.submit(.chargePoints(userId: 999, amount: 10_000)) }
        // Only once the writer is held do the 200 arrive, so none of them can ride in the held batch.
        var held = 0
        while !holding.withLock({ $0 }) && held < 1_000 { try await Task.sleep(for: .milliseconds(10)); held += 1 }
        let tasks = (1...200 as ClosedRange<Int64>).map { user in
            Task { try await writer.submit(.chargePoints(userId: user, amount: 10_000)) }
        }
        var waited = 0
        while writer.queuedJobs < 200 && waited < 3_000 { try await Task.sleep(for: .milliseconds(10)); waited += 1 }
        // All 200 are queued when the stop comes; the stop waits for the writer, which answers them.
        let queuedAtStop = writer.queuedJobs
        #expect(queuedAtStop == 200)
        let stopped = Task.detached { writer.stop() }
        try await Task.sleep(for: .milliseconds(50))
        release.signal()
        await stopped.value
        var answered = 0
        for task in tasks {
            if case .pointsCharged? = try? await task.value.result { answered += 1 }
        }
        #expect(answered == queuedAtStop)
        #expect(try ledger.eventCount() == 201)
        // After the stop, nothing more is taken.
        await #expect(throws: LedgerError.shuttingDown) { try await writer.submit(.chargePoints(userId: 1, amount: 10_000)) }
    }

}

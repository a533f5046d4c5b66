import Commerce
@testable import CommerceApp
import EventLog
import Foundation
import LedgerJSON
import Synchronization
import Testing

@Suite struct SubscriberTests {
    /// Polls `condition` every 20 ms for up to `seconds`.
    func eventually(_ seconds: Double = 5, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try condition()
    }

    @Test func theIssuersLagIsZeroOnceEveryRequestIsDecided() async throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.defineCoupon(total: 2)
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        defer { writer.stop() }
        // All three queued before the processor starts: a request for a coupon already sold out
        // would be refused at once, not queued.
        for user in 1...3 as ClosedRange<Int64> { _ = try await writer.submit(.requestCouponIssue(userId: user, couponId: 1)) }
        let processor = Task { await CouponIssuanceProcessor(writer: writer, pollInterval: .milliseconds(20)).run() }
        defer { processor.cancel() }
        // Events after the last request: nothing for the issuer to decide, but still a lag to clear.
        for user in 1...20 as ClosedRange<Int64> { _ = try await writer.submit(.chargePoints(userId: user, amount: 10_000)) }
        func issuerLag() throws -> UInt64? { try ledger.subscriberStatus().subscribers.first { $0.name == Ledger.issuerCheckpoint }?.lagEvents }
        #expect(try await eventually { try issuerLag() == 0 })
        #expect(try (1...3 as ClosedRange<Int64>).map { try ledger.issueRequest($0)?.status } == [.issued, .issued, .rejected])
    }

    @Test func aCrashAfterTheIssuersDecisionsNeverDecidesARequestTwice() async throws {
        let dir = TemporaryDirectory()
        let crash = CrashSwitch()
        do {
            let ledger = try openLedger(dir, afterLogCommit: crash.check)
            try ledger.defineCoupon(total: 10)
            for user in 1...4 as ClosedRange<Int64> { _ = try ledger.execute(.requestCouponIssue(userId: user, couponId: 1)) }
            crash.arm()
            // The decisions reach the log; the views (requests' status, the checkpoint) never do.
            #expect(throws: CrashSwitch.Crash.self) { try ledger.processIssueRequests() }
            #expect(try ledger.checkpoint(Ledger.issuerCheckpoint) ?? 0 == 0)
        }
        let ledger = try openLedger(dir)
        #expect(ledger.recovery == .caughtUp(events: 4))
        // The checkpoint was lost with the views' commit, yet nothing is decided again.
        #expect(try ledger.processIssueRequests() == 0)
        let issued = try ledger.events(after: 0, limit: 100, filter: .init(types: ["CouponIssued"]))
        #expect(issued.count == 4)
        #expect(try ledger.coupon(1)?.issuedQuantity == 4)
        #expect(try (1...4 as ClosedRange<Int64>).allSatisfy { try ledger.issueRequest($0)?.status == .issued })
    }

    /// A sink that fails on chosen deliveries, as a broker that goes away would.
    final class FlakySink: DataPlatformSink, @unchecked Sendable {
        let file: FileDataPlatformSink
        let failures = Mutex<Set<Int>>([])
        let calls = Mutex(0)

        init(path: String, failing: Set<Int>) throws {
            file = try FileDataPlatformSink(path: path)
            failures.withLock { $0 = failing }
        }

        struct Down: Error {}

        func deliver(_ messages: [JSONValue]) throws {
            let call = calls.withLock { $0 += 1; return $0 }
            if failures.withLock({ $0.contains(call) }) { throw Down() }
            try file.deliver(messages)
        }

        func lastDeliveredPosition() throws -> UInt64? { try file.lastDeliveredPosition() }
    }

    @Test func aRelayThatFailsMidwayResumesWithNothingSkippedOrRepeated() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/platform.jsonl"
        let ledger = try openLedger(dir)
        try ledger.registerProduct(stock: 1_000)
        try ledger.charge(1, 5_000_000)
        for _ in 0..<30 { _ = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: nil)) }
        // Fails on its 3rd delivery; then a new relay (a restart) with a sink failing on its 2nd.
        let first = DataPlatformRelay(ledger: ledger, sink: try FlakySink(path: path, failing: [3]))
        #expect(throws: FlakySink.Down.self) { try first.relayOnce(batchSize: 4) }
        let second = DataPlatformRelay(ledger: ledger, sink: try FlakySink(path: path, failing: [2]))
        #expect(throws: FlakySink.Down.self) { try second.relayOnce(batchSize: 4) }
        _ = try second.relayOnce(batchSize: 4)
        for order in 1...5 as ClosedRange<Int64> { _ = try ledger.execute(.compensateOrder(orderId: order, reason: "r")) }
        _ = try DataPlatformRelay(ledger: ledger, sink: try FileDataPlatformSink(path: path)).relayOnce(batchSize: 4)
        let positions = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap { try JSONParser.parse(String($0))["position"]?.intValue }
        let expected = try ledger.events(after: 0, limit: 1_000, filter: .init(types: ["OrderCompleted", "OrderCompensated"])).map { Int64($0.position) }
        #expect(positions == expected)
    }
}

@Suite struct StreamReadTests {
    /// A page of one stream from any position equals filtering the whole log: the index is
    /// entered by a binary search over the stream's versions, not read from its start.
    @Test func aStreamPageFromAnyPositionEqualsFilteringTheLog() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        for i in 1...60 as ClosedRange<Int64> { try ledger.charge(i % 3 + 1, 10_000) }
        let all = try ledger.events(after: 0, limit: .max)
        let head = try ledger.head()
        for stream in ["user-1", "user-2", "user-3", "user-9"] {
            for after in 0...head + 1 {
                for limit in [1, 5, 100] {
                    let expected = all.filter { $0.stream == stream && $0.position > after }.prefix(limit).map(\.position)
                    let got = try ledger.events(after: after, limit: limit, filter: .init(stream: stream)).map(\.position)
                    #expect(got == Array(expected), "\(stream) after \(after) limit \(limit)")
                }
            }
        }
        // With a type filter too, and an upper bound.
        let typed = try ledger.events(after: 10, through: 40, limit: 100, filter: .init(stream: "user-2", types: ["PointCharged"])).map(\.position)
        #expect(typed == all.filter { $0.stream == "user-2" && $0.position > 10 && $0.position <= 40 }.map(\.position))
    }
}

@Suite struct EventPageTests {
    /// A filter that matches little looks at a bounded stretch per page, and paging on from
    /// `scannedThrough` finds every match once, in order, with or without a stream filter.
    @Test func filteredPagesAreBoundedAndPageOnToEveryMatch() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.registerProduct(stock: 1_000)
        for user in 1...40 as ClosedRange<Int64> {
            try ledger.charge(user % 4 + 1, 10_000)
            if user % 13 == 0 { _ = try ledger.execute(.placeOrder(userId: user % 4 + 1, items: [.init(productId: 1, quantity: 1)], couponId: nil)) }
        }
        let head = try ledger.head()
        for filter in [EventLog.Filter(types: ["OrderCompleted"]), EventLog.Filter(stream: "user-2", types: ["PointUsed"]),
                       EventLog.Filter(stream: "product-1", types: ["StockDeducted"]),
                       EventLog.Filter(types: ["Nope"]), EventLog.Filter(stream: "user-2")] {
            let expected = try ledger.events(after: 0, limit: .max, filter: filter).map(\.position)
            var seen: [UInt64] = []
            var after: UInt64 = 0
            var pages = 0
            while true {
                let page = try ledger.eventPage(after: after, limit: 2, filter: filter, scanLimit: 5)
                #expect(page.records.count <= 2)
                #expect(page.records.allSatisfy { $0.position > after && $0.position <= page.scannedThrough })
                if filter.stream == nil { #expect(page.scannedThrough - after <= 5) }
                seen += page.records.map(\.position)
                pages += 1
                guard page.scannedThrough != after else { break }
                after = page.scannedThrough
            }
            #expect(seen == expected && (filter.types == ["Nope"]) == expected.isEmpty, "\(filter)")
            if filter.stream == nil { #expect(after == head && pages >= Int(head) / 5) }
        }
    }
}

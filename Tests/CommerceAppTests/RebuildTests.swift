import Commerce
@testable import CommerceApp
import Foundation
import Testing

@Suite struct RebuildTests {
    func busyLedger(_ dir: TemporaryDirectory, clock: ManualClock = ManualClock(testEpoch)) throws -> Ledger {
        let ledger = try openLedger(dir, clock: clock)
        try ledger.registerProduct("Mug", price: 10_000, stock: 100)
        try ledger.defineCoupon(total: 3)
        for user in 1...20 as ClosedRange<Int64> {
            try ledger.charge(user, 50_000)
            _ = try? ledger.execute(.issueCoupon(userId: user, couponId: 1))
            _ = try ledger.execute(.placeOrder(userId: user, items: [.init(productId: 1, quantity: 1)], couponId: user <= 3 ? 1 : nil))
            clock.advance(by: 3_600_000)
        }
        _ = try ledger.execute(.compensateOrder(orderId: 2, reason: "cancel"))
        return ledger
    }

    @Test func aFullRebuildReproducesEveryView() throws {
        let dir = TemporaryDirectory()
        let ledger = try busyLedger(dir)
        // Enough events for the fold to take several steps before the swap takes the rest.
        _ = try ledger.execute(batch: (1_000...4_000).map { .chargePoints(userId: Int64($0), amount: 10_000) })
        let before = try ledger.summarize()
        let head = try ledger.head()
        var progressCalls = 0
        let report = try ledger.rebuildProjections(chunkDuration: .nanoseconds(1)) { _, _ in progressCalls += 1 }
        #expect(report.events == Int(head) && report.head == head)
        #expect(report.projections == ledger.projectionNames + ["streams", "idempotency"])
        #expect(progressCalls > 3)
        #expect(try ledger.summarize() == before)
        #expect(try ledger.verifyProjections().isEmpty)
        #expect(try ledger.balance(of: 1) == 50_000 - 7_000)
        // Rebuilt tables keep taking new commands.
        try ledger.charge(1, 10_000)
        #expect(try ledger.balance(of: 1) == 53_000)
        #expect(try ledger.verifyProjections().isEmpty)
        #expect(try ledger.appliedPositions().allSatisfy { $0.position == head + 1 })
        // And a second rebuild replaces the first.
        _ = try ledger.rebuildProjections()
        #expect(try ledger.verifyProjections().isEmpty)
    }

    @Test func aRebuildWhoseMapMustGrowFoldsEveryEvent() throws {
        let dir = TemporaryDirectory()
        // A 256 KiB map: the views must double several times mid-fold to hold a second
        // generation (sometimes at commit), which must not skip or repeat events.
        let ledger = try openLedger(dir, mapSize: 256 << 10)
        for start in stride(from: 1, through: 4_000, by: 500) {
            let batch = (start..<start + 500).map { CommerceCommand.chargePoints(userId: Int64($0), amount: 10_000) }
            #expect(try ledger.execute(batch: batch).allSatisfy { (try? $0.get()) != nil })
        }
        let head = try ledger.head()
        let report = try ledger.rebuildProjections(chunkDuration: .seconds(10))
        #expect(report.events == Int(head))
        #expect(try ledger.verifyProjections().isEmpty)
        #expect(try ledger.balance(of: 3_999) == 10_000)
    }

    @Test func namedRebuildsTakeTheirDatabaseSharers() throws {
        let dir = TemporaryDirectory()
        let ledger = try busyLedger(dir)
        #expect(try ledger.projectionsToRebuild(["products"]) == ["products"])
        #expect(try ledger.projectionsToRebuild(["point-balances"]) == ["point-balances", "point-history", "user-coupons", "orders", "streams"])
        #expect(throws: Ledger.RebuildError.self) { try ledger.projectionsToRebuild(["nope"]) }
        let before = try ledger.summarize()
        let report = try ledger.rebuildProjections(["products"])
        #expect(report.projections == ["products"] && report.tables.map(\.table) == ["proj.products"])
        #expect(try ledger.summarize() == before)
        #expect(try ledger.verifyProjections().isEmpty)
    }

    @Test func aRebuildRepairsATamperedView() throws {
        let dir = TemporaryDirectory()
        let ledger = try busyLedger(dir)
        let products = try ledger.views.environment.openDatabase("proj.products")
        try ledger.views.write { try $0.put(products, Array(repeating: 0, count: 7) + [1], [0xFF]) }
        #expect(try !ledger.verifyProjections().isEmpty)
        _ = try ledger.rebuildProjections(["products"])
        #expect(try ledger.verifyProjections().isEmpty)
        #expect(try ledger.product(1)?.stock == 100 - 20 + 1)
    }

    @Test func rebuildingWhileTheWriterRunsLosesNothing() async throws {
        let dir = TemporaryDirectory()
        let ledger = try busyLedger(dir)
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        defer { writer.stop() }
        let charges = Task {
            var n = 0
            for user in 100...400 as ClosedRange<Int64> {
                _ = try await writer.submit(.chargePoints(userId: user, amount: 10_000))
                n += 1
            }
            return n
        }
        let rebuild = Task.detached { try ledger.rebuildProjections(chunkDuration: .microseconds(100)) }
        _ = try await rebuild.value
        #expect(try await charges.value == 301)
        #expect(try (100...400 as ClosedRange<Int64>).allSatisfy { try ledger.balance(of: $0) == 10_000 })
        #expect(try ledger.verifyProjections().isEmpty)
    }

    @Test func aSnapshotShowsTheViewsAsTheyWere() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try busyLedger(dir, clock: clock)
        let cut = try ledger.head()
        let balanceThen = try ledger.balance(of: 5)
        try ledger.charge(5, 100_000)
        #expect(try ledger.position(atOrBefore: testEpoch - 1) == 0)
        #expect(try ledger.position(atOrBefore: clock.now()) == cut + 1)
        let out = TemporaryDirectory()
        let report = try ledger.exportSnapshot(through: cut, to: out.path + "/snap")
        #expect(report.head == cut)
        let snapshot = try Ledger(configuration: LedgerConfiguration(dataDirectory: out.path + "/snap", readOnly: true))
        #expect(try snapshot.balance(of: 5) == balanceThen)
        #expect(try snapshot.head() == cut)
        #expect(throws: LedgerError.readOnly) { try snapshot.execute(.chargePoints(userId: 1, amount: 10_000)) }
        #expect(try ledger.balance(of: 5) == balanceThen + 100_000)
    }
}

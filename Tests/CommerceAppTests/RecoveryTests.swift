import Commerce
@testable import CommerceApp
import Foundation
import LMDB
import Synchronization
import Testing

/// A shop with a little of everything, made through the ledger, and every answer its queries give.
struct Shop {
    static let users: [Int64] = Array(1...12) + [20, 21, 22, 23]

    /// Commands sent with idempotency keys, to retry after recovery.
    static let keyed: [(key: String, command: CommerceCommand)] = [
        ("charge-1", .chargePoints(userId: 1, amount: 30_000)),
        ("order-2", .placeOrder(userId: 2, items: [.init(productId: 1, quantity: 1), .init(productId: 2, quantity: 2)], couponId: 1)),
        ("issue-5", .issueCoupon(userId: 5, couponId: 2)),
        ("request-21", .requestCouponIssue(userId: 21, couponId: 2)),
        ("order-poor", .placeOrder(userId: 99, items: [.init(productId: 1, quantity: 1)], couponId: nil)),
        ("restock", .restockProduct(productId: 3, quantity: 5)),
        ("compensate-4", .compensateOrder(orderId: 4, reason: "changed mind")),
    ]

    /// Fills `ledger`; returns the first outcome of every keyed command.
    @discardableResult
    static func fill(_ ledger: Ledger, clock: ManualClock) throws -> [String: CommandOutcome] {
        try ledger.registerProduct("Mug", price: 12_000, stock: 50)
        try ledger.registerProduct("Pen", price: 1_500, stock: 100)
        try ledger.registerProduct("Ink", price: 4_000, stock: 10)
        try ledger.defineCoupon("Ten", discount: .percent(10, maxAmount: 5_000), total: 100)
        // Seven: four to users 3, 6, 9 and 12, one keyed issue, then the queued requests of users
        // 21 and 20 are issued and those of 22 and 23 rejected by the processor.
        try ledger.defineCoupon("Few", discount: .fixed(amount: 2_000), total: 7)
        var first: [String: CommandOutcome] = [:]
        for user in 1...12 as ClosedRange<Int64> {
            try ledger.charge(user, 100_000)
            _ = try ledger.execute(.issueCoupon(userId: user, couponId: 1))
            if user % 3 == 0 { _ = try? ledger.execute(.issueCoupon(userId: user, couponId: 2)) }
            _ = try ledger.execute(.placeOrder(userId: user, items: [.init(productId: 1 + user % 3, quantity: 1 + user % 2)], couponId: user % 2 == 0 ? 1 : nil))
            clock.advance(by: 7 * 3_600_000)  // the orders spread over several days
        }
        for (key, command) in keyed {
            first[key] = try ledger.execute(command, idempotencyKey: key)
        }
        for user in [20, 22, 23] as [Int64] { _ = try ledger.execute(.requestCouponIssue(userId: user, couponId: 2)) }
        try ledger.processIssueRequests()
        return first
    }

    /// Every query's answer, rendered: two ledgers answer alike exactly when these are equal.
    static func answers(_ ledger: Ledger) throws -> [String] {
        var out: [String] = []
        for user in users {
            out.append("balance \(user) \(try ledger.balance(of: user))")
            out.append("history \(user) \(try ledger.pointHistory(of: user, limit: 100))")
            out.append("coupons \(user) \(try ledger.userCoupons(of: user).map { "\($0.record) \($0.status)" })")
            out.append("orders \(user) \(try ledger.orders(of: user, limit: 100))")
        }
        out.append("products \(try ledger.products(limit: 100))")
        for id in 1...3 as ClosedRange<Int64> { out.append("coupon \(id) \(String(describing: try ledger.coupon(id)))") }
        for id in 1...20 as ClosedRange<Int64> { out.append("order \(id) \(String(describing: try ledger.order(id)))") }
        for id in 1...6 as ClosedRange<Int64> { out.append("request \(id) \(String(describing: try ledger.issueRequest(id)))") }
        for days in [1, 3, 7] { out.append("top \(days) \(try ledger.bestSellers(days: days, limit: 5))") }
        out.append("stream user-2 \(try ledger.events(after: 0, limit: 100, filter: .init(stream: "user-2")).map(\.position))")
        out.append("applied \(try ledger.appliedPositions().map(\.position))")
        return out
    }

    /// Each keyed command again: a replay with the first outcome, and nothing appended.
    static func expectRetriesReplay(_ ledger: Ledger, _ first: [String: CommandOutcome]) throws {
        let head = try ledger.head()
        for (key, command) in keyed {
            let retry = try ledger.execute(command, idempotencyKey: key)
            #expect(retry.replayed, "\(key)")
            #expect(retry.result == first[key]?.result && retry.firstPosition == first[key]?.firstPosition, "\(key)")
        }
        #expect(try ledger.head() == head)
        #expect(throws: CommerceError.self) { try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "charge-1") }
    }
}

/// A switch the test flips to make the next batch stop between its two commits.
final class CrashSwitch: Sendable {
    private let armed = Mutex(false)
    struct Crash: Error {}

    func arm() { armed.withLock { $0 = true } }

    @Sendable func check() throws {
        if armed.withLock({ let was = $0; $0 = false; return was }) { throw Crash() }
    }
}

@Suite struct RecoveryTests {
    @Test func aCrashBetweenTheTwoCommitsIsFoldedInAtOpen() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let crash = CrashSwitch()
        let first: [String: CommandOutcome]
        let headAfterCrash: UInt64
        let stock: Int64
        do {
            let ledger = try openLedger(dir, clock: clock, afterLogCommit: crash.check)
            first = try Shop.fill(ledger, clock: clock)
            let head = try ledger.head()
            stock = try #require(try ledger.product(3)?.stock)
            crash.arm()
            #expect(throws: CrashSwitch.Crash.self) {
                try ledger.execute(.placeOrder(userId: 5, items: [.init(productId: 3, quantity: 2)], couponId: nil), idempotencyKey: "lost-answer")
            }
            // The order is in the log; the views never heard of it.
            headAfterCrash = try ledger.head()
            #expect(headAfterCrash == head + 3)
            #expect(try ledger.product(3)?.stock == stock)
            #expect(try ledger.appliedPositions().allSatisfy { $0.position == head })
        }
        let ledger = try openLedger(dir, clock: clock)
        #expect(ledger.recovery == .caughtUp(events: 3))
        #expect(try ledger.product(3)?.stock == stock - 2)
        #expect(try ledger.appliedPositions().allSatisfy { $0.position == headAfterCrash })
        #expect(try ledger.verifyProjections().isEmpty)
        // The client that never got its answer retries and gets the order it placed.
        let retry = try ledger.execute(.placeOrder(userId: 5, items: [.init(productId: 3, quantity: 2)], couponId: nil), idempotencyKey: "lost-answer")
        guard case let .orderCompleted(order) = retry.result else { Issue.record("\(retry.result)"); return }
        #expect(retry.replayed && order.lines.map(\.quantity) == [2])
        try Shop.expectRetriesReplay(ledger, first)
    }

    @Test func theNextBatchFoldsInWhatACrashedOneLeftOut() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let crash = CrashSwitch()
        let ledger = try openLedger(dir, clock: clock, afterLogCommit: crash.check)
        try ledger.charge(1, 10_000)
        crash.arm()
        #expect(throws: CrashSwitch.Crash.self) { try ledger.charge(1, 20_000) }
        #expect(try ledger.balance(of: 1) == 10_000)
        // Decided against the views after the gap was folded: 10,000 + 20,000 + 40,000.
        #expect(try ledger.charge(1, 40_000) == 70_000)
        #expect(try ledger.verifyProjections().isEmpty)
    }

    enum Damage: String, CaseIterable, CustomTestStringConvertible {
        case deleted, truncated, tornByAnotherBoot, foldedFromAnotherLog
        var testDescription: String { rawValue }
    }

    @Test(arguments: Damage.allCases)
    func viewsThatCannotBeTrustedAreRebuiltAtOpen(_ damage: Damage) throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let first: [String: CommandOutcome]
        let before: [String]
        let usedBytes: Int
        do {
            let ledger = try openLedger(dir, clock: clock)
            first = try Shop.fill(ledger, clock: clock)
            before = try Shop.answers(ledger)
            usedBytes = ledger.storage().views.mapUsedBytes
        }
        let views = dir.path + "/views"
        let expectedReason: String
        switch damage {
        case .deleted:
            try FileManager.default.removeItem(atPath: views)
            expectedReason = "there were none"
        case .truncated:
            #expect(truncate(views + "/data.mdb", off_t(usedBytes / 2)) == 0)
            expectedReason = "cut short"
        case .tornByAnotherBoot:
            // As if the machine lost power while the views held unsynced writes.
            try UnsyncedViewsMarker(path: dir.path + "/views.unsynced").write(boot: "an-earlier-boot")
            expectedReason = "the machine restarted"
        case .foldedFromAnotherLog:
            // The views of a different ledger, copied in.
            let other = TemporaryDirectory()
            do {
                let ledger = try openLedger(other, clock: ManualClock(testEpoch))
                try ledger.charge(1, 10_000)
            }
            try FileManager.default.removeItem(atPath: views)
            try FileManager.default.copyItem(atPath: other.path + "/views", toPath: views)
            expectedReason = "another log"
        }
        let ledger = try openLedger(dir, clock: clock)
        guard case let .rebuilt(reason, events) = ledger.recovery else { Issue.record("\(ledger.recovery)"); return }
        #expect(reason.contains(expectedReason), "\(reason)")
        #expect(events == Int(try ledger.head()))
        #expect(try Shop.answers(ledger) == before)
        #expect(try ledger.verifyProjections().isEmpty)
        try Shop.expectRetriesReplay(ledger, first)
        // Nothing left over: the next open finds them current.
        withExtendedLifetime(ledger) {}
    }

    @Test func viewsAheadOfARestoredLogAreRebuiltFromIt() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let backup = TemporaryDirectory()
        let before: [String]
        do {
            let ledger = try openLedger(dir, clock: clock)
            try Shop.fill(ledger, clock: clock)
            before = try Shop.answers(ledger)
            _ = try ledger.backup(to: backup.path + "/copy")
            for user in 1...5 as ClosedRange<Int64> { try ledger.charge(user, 10_000) }
        }
        // The log restored from the backup; the views stay where they were, five events ahead.
        try FileManager.default.removeItem(atPath: dir.path + "/log")
        try FileManager.default.copyItem(atPath: backup.path + "/copy/log", toPath: dir.path + "/log")
        let ledger = try openLedger(dir, clock: clock)
        guard case let .rebuilt(reason, _) = ledger.recovery else { Issue.record("\(ledger.recovery)"); return }
        #expect(reason.contains("ahead of the log"))
        #expect(try Shop.answers(ledger) == before)
    }

    @Test func aProcessCrashNeedsNoRebuildAndACleanCloseLeavesNoMarker() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let marker = UnsyncedViewsMarker(path: dir.path + "/views.unsynced")
        do {
            let ledger = try openLedger(dir, clock: clock)
            try Shop.fill(ledger, clock: clock)
            #expect(marker.isPresent)  // unsynced writes of this boot
        }
        #expect(!marker.isPresent)  // the last writer synced on its way out
        do {
            let reader = try openLedger(dir, clock: clock)
            #expect(reader.recovery == .current)
            _ = try reader.balance(of: 1)
        }
        #expect(!marker.isPresent)  // a process that only read wrote nothing
        // A process killed with unsynced views leaves the marker of this boot: the page cache
        // survived, so the views are trusted as they are.
        try marker.write(boot: UnsyncedViewsMarker.currentBoot)
        let ledger = try openLedger(dir, clock: clock)
        #expect(ledger.recovery == .current)
        #expect(try ledger.checkpointViews())
        #expect(!marker.isPresent)
    }

    @Test func aTruncatedLogIsRefusedWithOneClearLine() throws {
        let dir = TemporaryDirectory()
        do {
            let ledger = try openLedger(dir)
            _ = try ledger.execute(batch: (1...2_000).map { .chargePoints(userId: Int64($0), amount: 10_000) })
        }
        let file = dir.path + "/log/data.mdb"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        #expect(truncate(file, off_t(size / 2)) == 0)
        do {
            _ = try openLedger(dir)
            Issue.record("opened a truncated log")
        } catch let error as LedgerError {
            #expect("\(error)".contains("cut short") && !"\(error)".contains("\n"))
        }
    }

    @Test func aLedgerKeepsTheZoneItWasMadeInUntilARebuildAppliesAnother() throws {
        let dir = TemporaryDirectory()
        // 20:00 UTC on the 25th is 05:00 on the 26th in Seoul.
        let clock = ManualClock(ISO8601.parse("2026-11-25T20:00:00Z")!)
        func open(_ zone: String?, apply: Bool = false) throws -> Ledger {
            var configuration = LedgerConfiguration(dataDirectory: dir.path)
            configuration.rules.timeZoneIdentifier = "UTC"  // the zone of a new ledger
            configuration.timeZone = zone
            configuration.applyTimeZone = apply
            return try Ledger(configuration: configuration, clock: clock)
        }
        do {
            let ledger = try open(nil)
            #expect(ledger.timeZoneIdentifier == "UTC")
            try ledger.registerProduct(stock: 10)
            try ledger.charge(1, 100_000)
            _ = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 2)], couponId: nil))
            #expect(try ledger.bestSellers(days: 1).firstDay == ISO8601.parseDay("2026-11-25"))
        }
        // Reopened without a zone: the recorded one, not the default.
        #expect(try open(nil).timeZoneIdentifier == "UTC")
        #expect(try open("UTC").timeZoneIdentifier == "UTC")
        // Another zone is refused with the way to apply it, and an unknown one is an error.
        do {
            _ = try open("Asia/Seoul")
            Issue.record("opened in another zone")
        } catch let error as LedgerError {
            #expect("\(error)".contains("commerce-rebuild") && "\(error)".contains("--time-zone Asia/Seoul"))
        }
        #expect(throws: LedgerError.self) { try open("Mars/Olympus_Mons") }
        // Applied: recorded, and the views folded anew, the sale now on Seoul's 26th.
        do {
            let ledger = try open("Asia/Seoul", apply: true)
            guard case let .rebuilt(reason, _) = ledger.recovery else { Issue.record("\(ledger.recovery)"); return }
            #expect(reason.contains("Asia/Seoul"))
            let top = try ledger.bestSellers(days: 1)
            #expect(top.firstDay == ISO8601.parseDay("2026-11-26") && top.items.map(\.quantity) == [2])
            #expect(try ledger.verifyProjections().isEmpty)
        }
        let ledger = try open(nil)
        #expect(ledger.timeZoneIdentifier == "Asia/Seoul" && ledger.recovery == .current)
    }

    /// A full written-through map (the views') grows by what the disk has room for: writes go on
    /// once a little room is made, not only once there is room for the map twice over.
    @Test func aFullMapGrowsByWhatTheDiskHasRoomFor() throws {
        let dir = TemporaryDirectory()
        guard let disk = FullFilesystem(at: dir.path, size: "16m") else { return }
        disk.makeRoom()
        let env = try Environment.open(path: dir.path + "/views", configuration: .init(mapSize: 4 << 20, maxMapSize: 64 << 20, durable: false, writeMap: true))
        let table = try env.openDatabase("t")
        // Fills the map with rows until it is full.
        func fillMap() throws {
            var n = 0
            do {
                while true {
                    try env.writeOnce { txn in
                        for _ in 0..<64 {
                            n += 1
                            try txn.put(table, Array("\(n)".utf8), [UInt8](repeating: 7, count: 1_000))
                        }
                    }
                }
            } catch let error as LMDBError where error.isMapFull {}
        }
        try fillMap()
        // Room for 3 MiB more, not for 4: the map cannot double, it can grow by half.
        disk.fill(leaving: 3 << 20)
        try env.grow(after: .mapFull("test", environment: env.path))
        #expect(env.mapSize == 6 << 20)
        try fillMap()
        // Room for less than the least step (1 MiB here): the disk's error, the map as it was.
        disk.makeRoom()
        disk.fill(leaving: 512 << 10)
        #expect(throws: LMDBError.self) { try env.grow(after: .mapFull("test", environment: env.path)) }
        #expect(env.mapSize == 6 << 20)
    }

    /// On a full disk the marker cannot be written: the unsynced commit is refused, and no empty
    /// marker is left behind (an empty one reads as "the views may be torn" and cost a rebuild).
    @Test func aMarkerThatCannotBeWrittenLeavesNothingBehind() throws {
        let dir = TemporaryDirectory()
        guard let disk = FullFilesystem(at: dir.path) else { return }
        let marker = UnsyncedViewsMarker(path: dir.path + "/views.unsynced")
        #expect(throws: (any Error).self) { try marker.ensurePresent() }
        #expect(!marker.isPresent && !FileManager.default.fileExists(atPath: dir.path + "/views.unsynced.new"))
        // Room again: written whole.
        disk.makeRoom()
        try marker.ensurePresent()
        #expect(marker.recordedBoot() == UnsyncedViewsMarker.currentBoot && !marker.viewsMayBeTorn)
    }
}

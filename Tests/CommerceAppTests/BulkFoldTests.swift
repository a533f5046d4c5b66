import Commerce
@testable import CommerceApp
import Foundation
import LMDB
import Testing

/// The bulk fold (write buffer, two threads, memory budget) against the views the writer built
/// one command at a time: the same bytes in every table.
@Suite struct BulkFoldTests {
    /// Every kind of event, with the reads a fold makes: stock, coupons used and restored
    /// (user rows read by the fold's second thread), compensations (orders read back), daily
    /// sales netted to zero (a removal), issue requests decided, idempotency keys.
    func variedLedger(_ dir: TemporaryDirectory) throws -> Ledger {
        let clock = ManualClock(testEpoch)
        let ledger = try openLedger(dir, clock: clock)
        for i in 1...5 { try ledger.registerProduct("P\(i)", price: 1_000 * Int64(i), stock: 1_000) }
        try ledger.defineCoupon(total: 40)
        var rng = SystemRandomNumberGenerator()
        for round in 0..<6 {
            var batch: [CommerceCommand] = []
            for user in 1...150 as ClosedRange<Int64> {
                batch.append(.chargePoints(userId: user, amount: 10_000 * Int64.random(in: 1...5, using: &rng)))
                if user % 7 == round { batch.append(.issueCoupon(userId: user, couponId: 1)) }
                if user % 11 == round { batch.append(.requestCouponIssue(userId: user, couponId: 1)) }
                if user % 3 == round % 3 {
                    let product = Int64.random(in: 1...5, using: &rng)
                    batch.append(.placeOrder(userId: user, items: [.init(productId: product, quantity: 2)], couponId: user % 7 == round ? 1 : nil))
                }
            }
            _ = try ledger.execute(batch: batch)
            _ = try ledger.processIssueRequests()
            for order in stride(from: Int64(1 + round), through: 60, by: 9) { _ = try? ledger.execute(.compensateOrder(orderId: order, reason: "r\(round)")) }
            _ = try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "key-\(round)")
            clock.advance(by: 20 * 3_600_000)
        }
        return ledger
    }

    /// Folds the ledger's whole log into a private environment the way a catch-up does: against
    /// a snapshot, written in one transaction, again until the log is folded.
    func foldPrivately(_ ledger: Ledger, into path: String, budget: Int, threadsFrom: Int) throws -> (Environment, ViewTables, chunks: Int) {
        let env = try Environment.open(path: path, configuration: .init(mapSize: 64 << 20, durable: false))
        let tables = try ViewTables { try env.openDatabase($0) }
        var last: UInt64 = 0
        var chunks = 0
        while true {
            let after = last
            let (rows, filled) = try env.read { txn -> (WriteBuffer, BulkFold.Filled) in
                let rows = WriteBuffer(over: txn)
                let bulk = BulkFold(fold: ledger.fold, tables: tables, budget: budget, threadsFrom: threadsFrom, readerBatch: 100)
                return (rows, try ledger.log.environment.read { try bulk.fill(rows, from: ledger.log, after: after, logTxn: $0) })
            }
            guard let reached = filled.last else { break }
            try env.write { _ = try rows.write(into: $0) }
            last = reached
            chunks += 1
        }
        #expect(last == (try ledger.head()))
        return (env, tables, chunks)
    }

    func differences(_ ledger: Ledger, _ env: Environment, _ mine: ViewTables) throws -> [Ledger.ProjectionMismatch] {
        try ledger.views.read { txn, live in
            try env.read { other in
                try ViewTables.physicalNames.indices.compactMap { i in
                    try ledger.firstDifference(ViewTables.physicalNames[i], live.physical[i], in: txn, mine.physical[i], in: other)
                }
            }
        }
    }

    @Test(arguments: [(threadsFrom: Int.max, budget: 1 << 30), (threadsFrom: 1, budget: 1 << 30), (threadsFrom: 1, budget: 1)])
    func aBulkFoldWritesWhatTheWriterWrote(threadsFrom: Int, budget: Int) throws {
        let dir = TemporaryDirectory()
        let ledger = try variedLedger(dir)
        let (env, tables, chunks) = try foldPrivately(ledger, into: dir.path + "/scratch", budget: budget, threadsFrom: threadsFrom)
        #expect(try differences(ledger, env, tables).isEmpty)
        // A budget of one byte stops the fold at the first batch boundary the reader sees it at.
        #expect(budget > 1 || chunks > 1)
    }
}

import Commerce
@testable import CommerceApp
import Foundation
import LMDB
import Testing

/// Keys are kept for a retention from their command's time (7 days by default), then count as
/// unused; an expiry removes the rows of old keys through a log record, so a rebuild agrees.
@Suite struct IdempotencyRetentionTests {
    let week = LedgerConfiguration.defaultIdempotencyRetention

    func rows(of ledger: Ledger) throws -> Int {
        try ledger.views.read { txn, tables in try txn.count(tables.idempotency.database) }
    }

    @Test func aKeyIsRememberedForItsRetentionAndFreeAfterIt() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        let ledger = try openLedger(dir, clock: clock)
        _ = try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "k")
        // One millisecond short of the retention: still a retry, and still refused for another command.
        clock.advance(by: week - 1)
        #expect(try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "k").replayed)
        #expect(expectRejection(.idempotencyKeyReused) { try ledger.execute(.chargePoints(userId: 2, amount: 10_000), idempotencyKey: "k") })
        #expect(try ledger.balance(of: 1) == 10_000)
        // At the retention: a new command, which takes the key over.
        clock.advance(by: 1)
        let again = try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "k")
        #expect(!again.replayed && again.result == .pointsCharged(userId: 1, balance: 20_000))
        let retry = try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "k")
        #expect(retry.replayed && retry.firstPosition == again.firstPosition)
        #expect(try ledger.balance(of: 1) == 20_000)
    }

    @Test func expiryRemovesOnlyKeysOlderThanTheRetention() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        var configuration = LedgerConfiguration(dataDirectory: dir.path, environment: .init(mapSize: 16 << 20))
        configuration.idempotencyRetention = 3 * Millis.day
        let ledger = try Ledger(configuration: configuration, clock: clock)
        for i in 1...250 as ClosedRange<Int64> { _ = try ledger.execute(.chargePoints(userId: i, amount: 10_000), idempotencyKey: "old-\(i)") }
        clock.advance(by: 2 * Millis.day)
        for i in 1...50 as ClosedRange<Int64> { _ = try ledger.execute(.chargePoints(userId: i, amount: 10_000), idempotencyKey: "young-\(i)") }
        #expect(try rows(of: ledger) == 2 * 300)
        // Nothing is old enough yet.
        #expect(try ledger.expireIdempotencyKeys() == 0)
        let head = try ledger.head()
        #expect(try ledger.head() == head, "an expiry with nothing to remove writes nothing")
        // At the retention the old keys are no longer remembered, but their rows stay for the
        // clock's slack (a wall clock stepped back must not find them gone).
        clock.advance(by: Millis.day)
        #expect(try !ledger.execute(.chargePoints(userId: 250, amount: 10_000), idempotencyKey: "old-250").replayed)
        #expect(try ledger.expireIdempotencyKeys() == 0)
        let head2 = try ledger.head()
        clock.advance(by: IdempotencyIndex.clockSlack)
        #expect(try ledger.expireIdempotencyKeys(limit: 100) == 250)
        #expect(try ledger.head() == head2 + 3, "one log record per 100 keys")
        #expect(try rows(of: ledger) == 2 * 50 + 2, "the young keys and the retaken old-250")
        #expect(try ledger.execute(.chargePoints(userId: 7, amount: 10_000), idempotencyKey: "young-7").replayed)
        #expect(try !ledger.execute(.chargePoints(userId: 7, amount: 10_000), idempotencyKey: "old-7").replayed)
        #expect(try ledger.balance(of: 7) == 30_000)
        #expect(try ledger.balance(of: 250) == 20_000)
        // The live index equals a fold of the log from scratch, expiry records included.
        #expect(try ledger.verifyProjections().isEmpty)
    }

    @Test func aKeyTakenOverAfterItsRetentionSurvivesTheExpiryOfItsFirstUse() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(testEpoch)
        do {
            let ledger = try openLedger(dir, clock: clock)
            _ = try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "k")
            clock.advance(by: week + IdempotencyIndex.clockSlack)
            let second = try ledger.execute(.chargePoints(userId: 2, amount: 10_000), idempotencyKey: "k")
            #expect(!second.replayed)
            #expect(try ledger.expireIdempotencyKeys() == 1)
            let retry = try ledger.execute(.chargePoints(userId: 2, amount: 10_000), idempotencyKey: "k")
            #expect(retry.replayed && retry.firstPosition == second.firstPosition)
            #expect(try ledger.verifyProjections().isEmpty)
        }
        // Views lost: the rebuilt index applies the same expiry and still knows the second use.
        try FileManager.default.removeItem(atPath: dir.path + "/views")
        let ledger = try openLedger(dir, clock: clock)
        #expect(try rows(of: ledger) == 2)
        #expect(try ledger.execute(.chargePoints(userId: 2, amount: 10_000), idempotencyKey: "k").replayed)
        #expect(try ledger.balance(of: 1) == 10_000 && ledger.balance(of: 2) == 10_000)
    }

    @Test func keysThatCannotBeStoredAreRefused() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        for key in ["", "a b", "\u{0}x", "clé", String(repeating: "k", count: 256)] {
            #expect(expectRejection(.invalidInput) { try ledger.execute(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: key) }, "\(key.debugDescription)")
        }
        #expect(try ledger.eventCount() == 0)
    }
}

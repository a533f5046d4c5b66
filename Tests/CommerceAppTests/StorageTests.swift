import Commerce
@testable import CommerceApp
import EventLog
import LMDB
import BinaryCodec
import Testing

@Suite struct StorageTests {
    @Test func growingTheMapMidBatchLosesNoCommand() async throws {
        let dir = TemporaryDirectory()
        // A 256 KiB map must double several times to hold 3,000 charges.
        let ledger = try openLedger(dir, mapSize: 256 << 10, maxMapSize: 1 << 30)
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        defer { writer.stop() }
        let acknowledged = try await withThrowingTaskGroup(of: Int.self) { group in
            for user in 1...3_000 as ClosedRange<Int64> {
                group.addTask { _ = try await writer.submit(.chargePoints(userId: user, amount: 10_000)); return 1 }
            }
            return try await group.reduce(0, +)
        }
        #expect(acknowledged == 3_000)
        #expect(ledger.log.environment.mapSize > 256 << 10)
        #expect(ledger.views.environment.mapSize > 256 << 10)
        #expect(try ledger.eventCount() == 3_000)
        #expect(try (1...3_000 as ClosedRange<Int64>).allSatisfy { try ledger.balance(of: $0) == 10_000 })
        #expect(try ledger.verifyProjections().isEmpty)
    }

    @Test func aFullStoreRefusesCleanlyAndKeepsWhatWasAcknowledged() throws {
        let dir = TemporaryDirectory()
        var acknowledged = 0
        do {
            let ledger = try openLedger(dir, mapSize: 256 << 10, maxMapSize: 256 << 10)
            var refusal: LedgerError?
            for user in 1...10_000 as ClosedRange<Int64> {
                do {
                    try ledger.charge(user, 10_000)
                    acknowledged += 1
                } catch let error as LedgerError {
                    refusal = error
                    break
                }
            }
            guard case .storeFull? = refusal else { Issue.record("expected storeFull, got \(String(describing: refusal))"); return }
            #expect(acknowledged > 100)
            #expect(try ledger.eventCount() == acknowledged)
            // Refused again, and still readable.
            #expect(throws: LedgerError.self) { try ledger.charge(1, 10_000) }
            #expect(try ledger.balance(of: 1) == 10_000)
        }
        // Given room, every acknowledged charge is in the views, and nothing else.
        let ledger = try openLedger(dir, mapSize: 256 << 10, maxMapSize: 64 << 20)
        #expect(try ledger.eventCount() == acknowledged)
        #expect(try ledger.balance(of: Int64(acknowledged)) == 10_000)
        #expect(try ledger.balance(of: Int64(acknowledged + 1)) == 0)
        try ledger.charge(Int64(acknowledged + 1), 10_000)
        #expect(try ledger.verifyProjections().isEmpty)
    }

    @Test func unknownEventTypesAreSkippedByProjections() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.charge(1, 10_000)
        // What a newer release might have written, appended behind the views' back: the next
        // command's catch-up folds it (into the stream index only).
        _ = try ledger.views.write { v in
            try ledger.log.environment.write { l in
                try ledger.log.append([NewEvent(stream: "user-1", type: "LoyaltyTierRaised", schemaVersion: 1, payload: [9, 9])],
                                      metadata: .init(timestamp: testEpoch, commandId: 1), in: l,
                                      streams: try ledger.views.catalog.resolve(in: v).streams, streamTxn: v)
            }
        }
        try ledger.charge(1, 10_000)
        #expect(try ledger.balance(of: 1) == 20_000)
        #expect(try ledger.verifyProjections().isEmpty)
        #expect(try ledger.allEvents().map(\.type) == ["PointCharged", "LoyaltyTierRaised", "PointCharged"])
    }

    @Test func everyProjectionRecordsTheAppliedPosition() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.charge(1, 10_000)
        try ledger.registerProduct()
        let positions = try ledger.appliedPositions()
        #expect(positions.count == ledger.projectionNames.count)
        #expect(positions.allSatisfy { $0.position == 2 })
    }

    @Test func aTamperedProjectionIsReportedByVerify() throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        try ledger.charge(1, 10_000)
        // User 1's balance row in the shared per-user database (tag 0 = point balances).
        let users = try ledger.views.environment.openDatabase("proj.users")
        try ledger.views.write { try $0.put(users, Keys.uint64(1) + [0], [42]) }
        let mismatches = try ledger.verifyProjections()
        #expect(mismatches.map(\.table) == ["proj.users"])
        #expect(mismatches.first?.live == [42])
    }
}

@Suite struct WriteFailureIsolationTests {
    /// An idempotency key longer than the log takes makes that one command's append fail after it
    /// was decided, standing in for any failure of a single command while its batch is written.
    @Test func oneFailingWriteLeavesTheRestOfItsBatchIntact() async throws {
        let dir = TemporaryDirectory()
        let ledger = try openLedger(dir)
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        defer { writer.stop() }
        let badKey = String(repeating: "k", count: 600)
        let outcomes = await withTaskGroup(of: (Int64, Bool).self) { group in
            for user in 1...200 as ClosedRange<Int64> {
                group.addTask {
                    let key = user == 100 ? badKey : "key-\(user)"
                    do {
                        _ = try await writer.submit(.chargePoints(userId: user, amount: 10_000), idempotencyKey: key)
                        return (user, true)
                    } catch {
                        return (user, false)
                    }
                }
            }
            return await group.reduce(into: [Int64: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(outcomes.filter { !$0.value }.map(\.key) == [100])
        #expect(try ledger.balance(of: 100) == 0)
        #expect(try (1...200 as ClosedRange<Int64>).filter { $0 != 100 }.allSatisfy { try ledger.balance(of: $0) == 10_000 })
        #expect(try ledger.eventCount() == 199)
        #expect(try ledger.verifyProjections().isEmpty)
        #expect(ledger.statistics.snapshot.largestBatch > 1)
    }
}

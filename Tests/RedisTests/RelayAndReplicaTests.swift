import Commerce
import CommerceApp
@testable import CommerceRedis
import EventLog
import Foundation
import Redis
import RedisTestSupport
import Testing

/// The relay and the replica follower in process, against a real redis-server.
@Suite struct RelayAndReplicaTests {
    @Test func aReplicaFollowingTheStreamHoldsTheLeadersLogAndViewsByteForByte() throws {
        let redis = try RedisServer()
        let leaderDir = TemporaryDirectory(), replicaDir = TemporaryDirectory()
        let leader = try openLedger(leaderDir)
        try runMixedCommands(on: leader, count: 600, seed: 7)
        let relay = RedisEventRelay(ledger: leader, settings: .init(url: redis.url))
        let connection = try RedisConnection(redis.url)
        var position = try relay.prepare(connection)
        #expect(position == 0)
        position = try relay.publishAll(after: position, on: connection)

        let origin = try #require(try ReplicaFollower.origin(url: redis.url, stream: EventStreamFormat.defaultStream))
        #expect(origin.logIdentity == leader.logIdentity)
        let replica = try openLedger(replicaDir, logIdentity: origin.logIdentity, timeZone: origin.timeZone)
        let follower = ReplicaFollower(ledger: replica, settings: .init(url: redis.url, leader: nil))
        let followConnection = try RedisConnection(redis.url)
        try follower.check(followConnection)
        while try replica.head() < leader.head() { try follower.follow(followConnection) }

        #expect(try replica.storedEvents(after: 0, limit: .max).map(\.bytes) == leader.storedEvents(after: 0, limit: .max).map(\.bytes))
        #expect(try replica.summarize() == leader.summarize())
        #expect(try replica.bestSellers().items == leader.bestSellers().items)
        #expect(follower.report().position == (try leader.head()))
        #expect(follower.report().lagEvents == 0)

        // More commands later: the replica follows on from where it was.
        try runMixedCommands(on: leader, count: 200, seed: 8)
        position = try relay.publishAll(after: position, on: connection)
        while try replica.head() < leader.head() { try follower.follow(followConnection) }
        #expect(try replica.summarize() == leader.summarize())
        try expectStreamHoldsTheLog(of: leader, redis: redis)
    }

    @Test func theRunningRelayPublishesABacklogAndTheLiveTailEachEventOnceInOrder() async throws {
        let redis = try RedisServer()
        let dir = TemporaryDirectory()
        let leader = try openLedger(dir)
        try runMixedCommands(on: leader, count: 600, seed: 3)
        // Small batches: the backlog is many full ones, each encoded while Redis runs the last.
        var settings = RedisEventRelay.Settings(url: redis.url)
        settings.maxLength = 0
        settings.batchSize = 16
        let relay = RedisEventRelay(ledger: leader, settings: settings)
        let running = Task { await relay.run() }
        func relayed(to head: UInt64) async throws {
            for _ in 0..<3_000 where relay.report().position < head {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(relay.report().position == head, "\(relay.report())")
        }
        #expect(try leader.head() > 16 * 20)
        try await relayed(to: try leader.head())
        try expectStreamHoldsTheLog(of: leader, redis: redis)
        // Commands while it runs: a tail of small batches, each lingered over.
        for seed in 4...13 { try runMixedCommands(on: leader, count: 20, seed: UInt64(seed)) }
        try await relayed(to: try leader.head())
        running.cancel()
        await running.value
        try expectStreamHoldsTheLog(of: leader, redis: redis)
        #expect(try leader.checkpoint(RedisEventRelay.checkpointName) == (try leader.head()))
    }

    @Test func aRelayThatDiedBeforeItsCheckpointDoesNotPublishTwiceAndARedisThatLostItsTailGetsItAgain() throws {
        let redis = try RedisServer()
        let dir = TemporaryDirectory()
        let leader = try openLedger(dir)
        try runMixedCommands(on: leader, count: 300, seed: 1)
        var relay = RedisEventRelay(ledger: leader, settings: .init(url: redis.url))
        var connection = try RedisConnection(redis.url)
        var position = try relay.prepare(connection)
        position = try relay.publish(after: position, on: connection)
        #expect(position > 0)
        // No checkpoint was written: a new relay asks Redis where the stream ends.
        #expect(try leader.checkpoint(RedisEventRelay.checkpointName) == nil)
        relay = RedisEventRelay(ledger: leader, settings: .init(url: redis.url))
        connection = try RedisConnection(redis.url)
        #expect(try relay.prepare(connection) == position)
        // Appending anywhere but where the stream ends is refused, and appends nothing.
        #expect(throws: BusError.self) { try relay.publish(after: 0, on: connection) }
        #expect(try allEntries(redis).map(\.position) == Array(1...position))
        position = try relay.publishAll(after: position, on: connection)
        try expectStreamHoldsTheLog(of: leader, redis: redis)

        // Redis loses its newest entries (and, in the same transaction of its AOF, the head that
        // records them): the relay publishes them again from where Redis ends.
        let kept: UInt64 = 100
        _ = try connection.command(["XTRIM", EventStreamFormat.defaultStream, "MINID", "\(kept + 1)-0"]).checked()
        _ = try connection.command(["XTRIM", EventStreamFormat.defaultStream, "MAXLEN", "0"]).checked()
        _ = try connection.command(["XSETID", EventStreamFormat.defaultStream, "\(kept)-0"]).checked()
        _ = try connection.command(["HSET", EventStreamFormat.metaKey(EventStreamFormat.defaultStream), "head",
                                    "\(kept):\(try #require(try leader.checksum(at: kept)))"]).checked()
        relay = RedisEventRelay(ledger: leader, settings: .init(url: redis.url))
        var again = try relay.prepare(connection)
        #expect(again == kept)
        while again < (try leader.head()) { again = try relay.publish(after: again, on: connection) }
        let ids = try allEntries(redis).map(\.position)
        #expect(ids == Array((kept + 1)...(try leader.head())))
    }

    @Test func aStreamOfAnotherLedgerIsRefusedByItsRelayAndItsReplicas() throws {
        let redis = try RedisServer()
        let a = TemporaryDirectory(), b = TemporaryDirectory()
        let first = try openLedger(a), second = try openLedger(b)
        try runMixedCommands(on: first, count: 20, seed: 2)
        try runMixedCommands(on: second, count: 20, seed: 3)
        let connection = try RedisConnection(redis.url)
        let relay = RedisEventRelay(ledger: first, settings: .init(url: redis.url))
        _ = try relay.publish(after: try relay.prepare(connection), on: connection)
        #expect(throws: BusError.self) { try RedisEventRelay(ledger: second, settings: .init(url: redis.url)).prepare(connection) }
        let follower = ReplicaFollower(ledger: second, settings: .init(url: redis.url, leader: nil))
        #expect(throws: BusError.self) { try follower.check(connection) }
        // A ledger whose log is the other one's cannot be opened as its replica either.
        #expect(throws: LedgerError.self) { try openLedger(b, logIdentity: first.logIdentity, timeZone: first.timeZoneIdentifier) }
    }

    @Test func aTrimmedStreamMakesALaggingReplicaReportTheGapInsteadOfSkipping() throws {
        let redis = try RedisServer()
        let leaderDir = TemporaryDirectory(), replicaDir = TemporaryDirectory()
        let leader = try openLedger(leaderDir)
        try runMixedCommands(on: leader, count: 300, seed: 4)
        let relay = RedisEventRelay.keepingEverything(of: leader, on: redis)
        let connection = try RedisConnection(redis.url)
        var position = try relay.prepare(connection)
        position = try relay.publishAll(after: position, on: connection)
        let replica = try openLedger(replicaDir, logIdentity: leader.logIdentity, timeZone: leader.timeZoneIdentifier)
        let follower = ReplicaFollower(ledger: replica, settings: .init(url: redis.url, leader: nil))
        // The replica follows part of the way, then the stream is trimmed past it.
        var partial = ReplicaFollower.Settings(url: redis.url, leader: nil)
        partial.batchSize = 50
        let slow = ReplicaFollower(ledger: replica, settings: partial)
        try slow.follow(connection)
        #expect(try replica.head() == 50)
        _ = try connection.command(["XTRIM", EventStreamFormat.defaultStream, "MINID", "100-0"]).checked()
        #expect(throws: BusError.self) { try follower.follow(connection) }
        #expect(try replica.head() == 50)
        // Trimmed to nothing at all: still a gap, found through the stream's top.
        _ = try connection.command(["XTRIM", EventStreamFormat.defaultStream, "MAXLEN", "0"]).checked()
        do {
            try follower.follow(connection)
            Issue.record("a gap was not reported")
        } catch let error as BusError {
            #expect("\(error)".contains("no longer holds event 51"))
        }
    }

    @Test func twoLeadersOfOneLogNeverMixTheirHistoriesOnTheStream() throws {
        let redis = try RedisServer()
        let aDir = TemporaryDirectory(), bDir = TemporaryDirectory(), replicaDir = TemporaryDirectory()
        let a = try openLedger(aDir)
        try runMixedCommands(on: a, count: 200, seed: 31)
        let common = try a.head()
        // B is a copy of A (a promoted standby, or A restored from a backup); then both go on.
        _ = try a.backup(to: bDir.path + "/copy")
        let bCopy = TemporaryDirectory()
        try FileManager.default.removeItem(atPath: bCopy.path)
        try FileManager.default.moveItem(atPath: bDir.path + "/copy", toPath: bCopy.path)
        let b = try openLedger(bCopy)
        #expect(b.logIdentity == a.logIdentity)

        let relayA = RedisEventRelay(ledger: a, settings: .init(url: redis.url))
        let relayB = RedisEventRelay(ledger: b, settings: .init(url: redis.url))
        let ca = try RedisConnection(redis.url), cb = try RedisConnection(redis.url)
        var pa = try relayA.prepare(ca)
        while pa < common { pa = try relayA.publish(after: pa, on: ca) }
        // A replica follows the common history.
        let replica = try openLedger(replicaDir, logIdentity: a.logIdentity, timeZone: a.timeZoneIdentifier)
        let follower = ReplicaFollower(ledger: replica, settings: .init(url: redis.url, leader: nil))
        let cr = try RedisConnection(redis.url)
        while try replica.head() < common { try follower.follow(cr) }

        try runMixedCommands(on: a, count: 30, seed: 32)
        try runMixedCommands(on: b, count: 30, seed: 33)
        // Both prepared at the common head; A appends first; B's append is refused, not mixed in.
        var pb = try relayB.prepare(cb)
        #expect(pb == common)
        while pa < (try a.head()) { pa = try relayA.publish(after: pa, on: ca) }
        #expect(throws: BusError.self) { try relayB.publish(after: pb, on: cb) }
        // B prepared again: its log is behind the stream, or forked from it.
        #expect(throws: BusError.self) { pb = try relayB.prepare(cb) }
        try expectStreamHoldsTheLog(of: a, redis: redis)

        // The replica follows A's events; then the stream is replaced by B's history (an operator
        // cleared it): the replica notices the fork through the entries' chain and stops.
        while try replica.head() < a.head() { try follower.follow(cr) }
        _ = try ca.command(["DEL", EventStreamFormat.defaultStream, EventStreamFormat.metaKey(EventStreamFormat.defaultStream)]).checked()
        try runMixedCommands(on: b, count: 100, seed: 34)
        var fresh = try relayB.prepare(cb)
        while fresh < (try b.head()) { fresh = try relayB.publish(after: fresh, on: cb) }
        let replicaHead = try replica.head()
        #expect(throws: BusError.self) { try follower.follow(cr) }
        #expect(try replica.head() == replicaHead)
    }

    @Test func aConsumerGroupThatTheStreamWasTrimmedPastRefusesToGoOn() throws {
        let redis = try RedisServer()
        let dir = TemporaryDirectory(), out = TemporaryDirectory()
        let leader = try openLedger(dir)
        try runMixedCommands(on: leader, count: 300, seed: 41)
        let relay = RedisEventRelay.keepingEverything(of: leader, on: redis)
        let connection = try RedisConnection(redis.url)
        var position = try relay.prepare(connection)
        position = try relay.publishAll(after: position, on: connection)
        var consumerSettings = StreamConsumer.Settings(url: redis.url, group: "data-platform", consumer: "a", output: out.path + "/orders.jsonl")
        consumerSettings.block = .milliseconds(50)
        try StreamConsumer(settings: consumerSettings).run(stopping: { false }, idleExit: .milliseconds(200))
        let written = try String(contentsOfFile: out.path + "/orders.jsonl", encoding: .utf8).split(separator: "\n").count
        #expect(written > 0)
        // More events, and the stream trimmed past them before the group read them.
        try runMixedCommands(on: leader, count: 300, seed: 42)
        position = try relay.publishAll(after: position, on: connection)
        _ = try connection.command(["XTRIM", EventStreamFormat.defaultStream, "MAXLEN", "10"]).checked()
        do {
            try StreamConsumer(settings: consumerSettings).run(stopping: { false }, idleExit: .milliseconds(200))
            Issue.record("the trimmed events went by without a word")
        } catch let error as ConsumerError {
            #expect(error.description.contains("trimmed past group data-platform"))
        }
        #expect(try String(contentsOfFile: out.path + "/orders.jsonl", encoding: .utf8).split(separator: "\n").count == written)
        // A second member on the same file is refused.
        let holder = StreamConsumer(settings: consumerSettings)
        let lock = try #require(FileHandle(forUpdatingAtPath: out.path + "/orders.jsonl"))
        #expect(flock(lock.fileDescriptor, LOCK_EX | LOCK_NB) == 0)
        #expect(throws: ConsumerError.self) { try holder.run(stopping: { false }, idleExit: .milliseconds(100)) }
    }

    @Test func entriesTrimmedWhilePendingStopTheConsumerInsteadOfBeingAcknowledged() throws {
        let redis = try RedisServer()
        let dir = TemporaryDirectory(), out = TemporaryDirectory()
        let leader = try openLedger(dir)
        try runMixedCommands(on: leader, count: 200, seed: 51)
        let relay = RedisEventRelay.keepingEverything(of: leader, on: redis)
        let connection = try RedisConnection(redis.url)
        _ = try relay.publishAll(after: try relay.prepare(connection), on: connection)
        // Member x was given entries and died before writing them; then the stream was trimmed.
        let stream = EventStreamFormat.defaultStream
        _ = try connection.command(["XGROUP", "CREATE", stream, "data-platform", "0"]).checked()
        _ = try connection.command(["XREADGROUP", "GROUP", "data-platform", "x", "COUNT", "50", "STREAMS", stream, ">"]).checked()
        _ = try connection.command(["XTRIM", stream, "MAXLEN", "0"]).checked()
        var settings = StreamConsumer.Settings(url: redis.url, group: "data-platform", consumer: "x", output: out.path + "/orders.jsonl")
        settings.block = .milliseconds(50)
        do {
            try StreamConsumer(settings: settings).run(stopping: { false }, idleExit: .milliseconds(200))
            Issue.record("entries trimmed while pending were acknowledged without a line")
        } catch let error as ConsumerError {
            #expect(error.description.contains("trimmed from the stream while pending"))
        }
        let pending = try connection.command(["XPENDING", stream, "data-platform"]).checked().array?.first?.integer
        #expect(pending == 50)
    }

    // MARK: Helpers

    struct StreamEntry {
        let position: UInt64
        let record: [UInt8]
    }

    func allEntries(_ redis: RedisServer) throws -> [StreamEntry] {
        let connection = try RedisConnection(redis.url)
        let reply = try connection.command(["XRANGE", EventStreamFormat.defaultStream, "-", "+"]).checked()
        return try EventStreamFormat.entries(reply).map { entry in
            StreamEntry(position: try #require(EventStreamFormat.position(ofId: entry.id)), record: try #require(entry.field("record")?.bytes))
        }
    }

    func expectStreamHoldsTheLog(of ledger: Ledger, redis: RedisServer) throws {
        let entries = try allEntries(redis)
        let log = try ledger.storedEvents(after: 0, limit: .max)
        #expect(entries.map(\.position) == log.map(\.position))
        #expect(entries.map(\.record) == log.map(\.bytes))
    }
}

extension RedisEventRelay {
    /// A relay whose stream is never trimmed.
    static func keepingEverything(of ledger: Ledger, on redis: RedisServer) -> RedisEventRelay {
        var settings = Settings(url: redis.url)
        settings.maxLength = 0
        return RedisEventRelay(ledger: ledger, settings: settings)
    }

    /// Publishes batch after batch up to the log's head; returns where the stream ends.
    func publishAll(after position: UInt64, on connection: RedisConnection) throws -> UInt64 {
        var position = position
        while position < (try ledger.head()) { position = try publish(after: position, on: connection) }
        return position
    }
}

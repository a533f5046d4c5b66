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
        while position < (try leader.head()) { position = try relay.publish(after: position, on: connection) }

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
        while position < (try leader.head()) { position = try relay.publish(after: position, on: connection) }
        while try replica.head() < leader.head() { try follower.follow(followConnection) }
        #expect(try replica.summarize() == leader.summarize())
        try expectStreamHoldsTheLog(of: leader, redis: redis)
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
        // An XADD at or below the top is refused by Redis and counted as already there.
        #expect(try relay.publish(after: 0, on: connection) == position)
        while position < (try leader.head()) { position = try relay.publish(after: position, on: connection) }
        try expectStreamHoldsTheLog(of: leader, redis: redis)

        // Redis loses its newest entries: the relay publishes them again from where Redis ends.
        _ = try connection.command(["XTRIM", EventStreamFormat.defaultStream, "MAXLEN", "0"]).checked()
        _ = try connection.command(["XSETID", EventStreamFormat.defaultStream, "100-0"]).checked()
        relay = RedisEventRelay(ledger: leader, settings: .init(url: redis.url))
        var again = try relay.prepare(connection)
        #expect(again == 100)
        while again < (try leader.head()) { again = try relay.publish(after: again, on: connection) }
        let ids = try allEntries(redis).map(\.position)
        #expect(ids == Array(101...(try leader.head())))
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
        var settings = RedisEventRelay.Settings(url: redis.url)
        settings.maxLength = 0
        let relay = RedisEventRelay(ledger: leader, settings: settings)
        let connection = try RedisConnection(redis.url)
        var position = try relay.prepare(connection)
        while position < (try leader.head()) { position = try relay.publish(after: position, on: connection) }
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

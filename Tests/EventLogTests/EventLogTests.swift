import BinaryCodec
import EventLog
import Foundation
import LMDB
import Testing

final class TempDir: @unchecked Sendable {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("eventlog-test-\(UUID().uuidString)").path
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func event(_ stream: String, _ type: String = "Thing", _ payload: [UInt8] = [1, 2, 3]) -> NewEvent {
    NewEvent(stream: stream, type: type, schemaVersion: 1, payload: payload)
}

@Suite struct EventLogTests {
    func open(_ dir: TempDir) throws -> EventLog {
        try EventLog(environment: Environment(path: dir.path))
    }

    @Test func positionsAreGaplessAndStreamVersionsCountPerStream() throws {
        let dir = TempDir()
        let log = try open(dir)
        let meta = AppendMetadata(timestamp: 1_000, commandId: 7, idempotencyKey: "key")
        let first = try log.environment.write { try log.append([event("a"), event("b"), event("a")], metadata: meta, in: $0) }
        let second = try log.environment.write { try log.append([event("a")], metadata: .init(timestamp: 2_000, commandId: 8), in: $0) }
        #expect((first + second).map(\.position) == [1, 2, 3, 4])
        #expect((first + second).map(\.streamVersion) == [1, 1, 2, 3])
        #expect(try log.head() == 4)
        let a = try log.environment.read { try log.readStream("a", in: $0) }
        #expect(a.map(\.position) == [1, 3, 4])
        #expect(a[0].idempotencyKey == "key" && a[0].commandId == 7 && a[0].timestamp == 1_000 && a[0].payload == [1, 2, 3])
        #expect(a[2].idempotencyKey == nil)
        #expect(try log.environment.read { try log.readStream("a", fromVersion: 2, in: $0) }.map(\.streamVersion) == [2, 3])
        #expect(try log.environment.read { try log.streamVersion("a", in: $0) } == 3)
        #expect(try log.environment.read { try log.streamVersion("ab", in: $0) } == 0)
        #expect(try log.environment.read { try log.streamVersion("", in: $0) } == 0)
    }

    @Test func expectedVersionCatchesAStaleDecision() throws {
        let dir = TempDir()
        let log = try open(dir)
        let meta = AppendMetadata(timestamp: 0, commandId: 1)
        try log.environment.write { try log.append([event("s")], metadata: meta, expected: ["s": .noStream], in: $0) }
        try log.environment.write { try log.append([event("s")], metadata: meta, expected: ["s": .exactly(1)], in: $0) }
        #expect(throws: EventLogError.wrongExpectedVersion(stream: "s", expected: .exactly(1), actual: 2)) {
            try log.environment.write { try log.append([event("s")], metadata: meta, expected: ["s": .exactly(1)], in: $0) }
        }
        #expect(throws: EventLogError.self) {
            try log.environment.write { try log.append([event("s")], metadata: meta, expected: ["s": .noStream], in: $0) }
        }
        #expect(try log.head() == 2)
    }

    @Test func invalidStreamNamesAreRefused() throws {
        let dir = TempDir()
        let log = try open(dir)
        #expect(throws: EventLogError.invalidStreamName("")) {
            try log.environment.write { try log.append([event("")], metadata: .init(timestamp: 0, commandId: 1), in: $0) }
        }
        #expect(throws: EventLogError.self) {
            try log.environment.write { try log.append([event("a\u{0}b")], metadata: .init(timestamp: 0, commandId: 1), in: $0) }
        }
    }

    @Test func readingFiltersByTypeStreamCommandAndTime() throws {
        let dir = TempDir()
        let log = try open(dir)
        try log.environment.write { txn in
            try log.append([event("a", "X"), event("b", "Y")], metadata: .init(timestamp: 10, commandId: 1), in: txn)
            try log.append([event("a", "Y"), event("c", "X")], metadata: .init(timestamp: 20, commandId: 2), in: txn)
        }
        func read(after: UInt64 = 0, limit: Int = 100, _ f: EventLog.Filter) throws -> [UInt64] {
            try log.environment.read { try log.read(after: after, limit: limit, filter: f, in: $0) }.map(\.position)
        }
        #expect(try read(.init()) == [1, 2, 3, 4])
        #expect(try read(after: 2, .init()) == [3, 4])
        #expect(try read(limit: 1, .init()) == [1])
        #expect(try read(.init(types: ["X"])) == [1, 4])
        #expect(try read(.init(stream: "a")) == [1, 3])
        #expect(try read(after: 1, .init(stream: "a")) == [3])
        #expect(try read(.init(commandId: 2)) == [3, 4])
        #expect(try read(.init(since: 15)) == [3, 4])
        #expect(try read(.init(until: 15)) == [1, 2])
    }

    @Test func aCorruptRecordIsDetectedByItsChecksum() throws {
        let dir = TempDir()
        let log = try open(dir)
        try log.environment.write { try log.append([event("a"), event("a")], metadata: .init(timestamp: 0, commandId: 1), in: $0) }
        // Flip one payload byte of record 2 behind the log's back.
        let db = try log.environment.openDatabase("log.events")
        try log.environment.write { txn in
            var raw = try #require(try txn.get(db, Keys.uint64(2)))
            raw[raw.count - 1] ^= 0xFF
            try txn.put(db, Keys.uint64(2), raw)
        }
        #expect(try log.environment.read { try log.event(at: 1, in: $0) } != nil)
        #expect(throws: EventLogError.corruptRecord(position: 2, reason: "checksum mismatch")) {
            try log.environment.read { try log.event(at: 2, in: $0) }
        }
    }

    @Test func checkpointsAreDurableAndNamed() throws {
        let dir = TempDir()
        do {
            let log = try open(dir)
            try log.environment.write { try log.setCheckpoint("relay", to: 42, in: $0) }
            try log.environment.write { try log.setCheckpoint("sink", to: 7, in: $0) }
        }
        let log = try open(dir)
        #expect(try log.environment.read { try log.checkpoint("relay", in: $0) } == 42)
        #expect(try log.environment.read { try log.checkpoint("nobody", in: $0) } == nil)
        #expect(try log.environment.read { try log.checkpoints(in: $0) }.map(\.name) == ["relay", "sink"])
    }

    @Test func subscriptionCatchesUpThenFollowsLiveAppends() async throws {
        let dir = TempDir()
        let log = try open(dir)
        try log.environment.write { try log.append((0..<1_000).map { _ in event("a") }, metadata: .init(timestamp: 0, commandId: 1), in: $0) }
        let reader = Task { () -> [UInt64] in
            var seen: [UInt64] = []
            for try await record in log.subscribe(after: 10, batchSize: 64, pollInterval: .seconds(5)) {
                seen.append(record.position)
                if record.position == 1_005 { break }
            }
            return seen
        }
        try await Task.sleep(for: .milliseconds(50))
        for _ in 0..<5 {
            let head = try log.environment.write { txn -> UInt64 in
                try log.append([event("b")], metadata: .init(timestamp: 0, commandId: 2), in: txn)
                return try log.head(in: txn)
            }
            // Wakes the subscriber at once, well before its 5 s poll.
            log.notifier.publish(head: head)
        }
        let seen = try await reader.value
        #expect(seen == Array(11...1_005))
    }
}

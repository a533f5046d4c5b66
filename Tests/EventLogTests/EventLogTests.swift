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

/// A log in its own durable environment and its indexes in another, as a ledger keeps them.
struct Harness {
    let log: EventLog
    let indexes: Environment
    let streams: StreamIndex
    let checkpoints: CheckpointTable

    init(_ dir: TempDir) throws {
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        log = try EventLog(environment: Environment.open(path: dir.path + "/log"))
        indexes = try Environment.open(path: dir.path + "/views", configuration: .init(durable: false))
        streams = StreamIndex(database: try indexes.openDatabase("streams"))
        checkpoints = CheckpointTable(database: try indexes.openDatabase("checkpoints"))
    }

    /// Appends in the order a ledger's writer does: the indexes' transaction first, then the log's.
    @discardableResult
    func append(_ events: [NewEvent], _ metadata: AppendMetadata, expected: [String: ExpectedVersion] = [:]) throws -> [EventRecord] {
        try indexes.write { v in
            try log.environment.write { l in try log.append(events, metadata: metadata, expected: expected, in: l, streams: streams, streamTxn: v) }
        }
    }

    func stream(_ name: String, fromVersion: UInt64 = 1) throws -> [EventRecord] {
        let positions = try indexes.read { try streams.positions(of: name, fromVersion: fromVersion, in: $0) }
        return try log.environment.read { txn in try positions.compactMap { try log.event(at: $0, in: txn) } }
    }

    func version(_ name: String) throws -> UInt64 {
        try indexes.read { try streams.version(of: name, in: $0) }
    }
}

@Suite struct EventLogTests {
    @Test func positionsAreGaplessAndStreamVersionsCountPerStream() throws {
        let dir = TempDir()
        let h = try Harness(dir)
        let meta = AppendMetadata(timestamp: 1_000, commandId: 7, idempotencyKey: "key", commandFingerprint: [9, 9])
        let first = try h.append([event("a"), event("b"), event("a")], meta)
        let second = try h.append([event("a")], .init(timestamp: 2_000, commandId: 8))
        #expect((first + second).map(\.position) == [1, 2, 3, 4])
        #expect((first + second).map(\.streamVersion) == [1, 1, 2, 3])
        #expect(try h.log.head() == 4)
        let a = try h.stream("a")
        #expect(a.map(\.position) == [1, 3, 4])
        #expect(a[0].idempotencyKey == "key" && a[0].commandId == 7 && a[0].timestamp == 1_000 && a[0].payload == [1, 2, 3])
        // The fingerprint rides on a command's first event only.
        #expect(a[0].commandFingerprint == [9, 9] && a[1].commandFingerprint == nil && a[1].idempotencyKey == "key")
        #expect(a[2].idempotencyKey == nil)
        #expect(try h.stream("a", fromVersion: 2).map(\.streamVersion) == [2, 3])
        #expect(try h.version("a") == 3)
        #expect(try h.version("ab") == 0)
        #expect(try h.version("") == 0)
    }

    @Test func expectedVersionCatchesAStaleDecision() throws {
        let dir = TempDir()
        let h = try Harness(dir)
        let meta = AppendMetadata(timestamp: 0, commandId: 1)
        try h.append([event("s")], meta, expected: ["s": .noStream])
        try h.append([event("s")], meta, expected: ["s": .exactly(1)])
        #expect(throws: EventLogError.wrongExpectedVersion(stream: "s", expected: .exactly(1), actual: 2)) {
            try h.append([event("s")], meta, expected: ["s": .exactly(1)])
        }
        #expect(throws: EventLogError.self) { try h.append([event("s")], meta, expected: ["s": .noStream]) }
        #expect(try h.log.head() == 2)
    }

    @Test func invalidStreamNamesAndKeysAreRefused() throws {
        let dir = TempDir()
        let h = try Harness(dir)
        #expect(throws: EventLogError.invalidStreamName("")) { try h.append([event("")], .init(timestamp: 0, commandId: 1)) }
        #expect(throws: EventLogError.self) { try h.append([event("a\u{0}b")], .init(timestamp: 0, commandId: 1)) }
        let long = String(repeating: "k", count: EventLog.maxIdempotencyKeyLength + 1)
        #expect(throws: EventLogError.invalidIdempotencyKey(long)) { try h.append([event("a")], .init(timestamp: 0, commandId: 1, idempotencyKey: long)) }
        #expect(try h.log.head() == 0)
    }

    @Test func readingFiltersByTypeStreamCommandAndTimeWithinBounds() throws {
        let dir = TempDir()
        let h = try Harness(dir)
        try h.append([event("a", "X"), event("b", "Y")], .init(timestamp: 10, commandId: 1))
        try h.append([event("a", "Y"), event("c", "X")], .init(timestamp: 20, commandId: 2))
        func read(after: UInt64 = 0, through: UInt64 = .max, limit: Int = 100, _ f: EventLog.Filter) throws -> [UInt64] {
            try h.log.environment.read { try h.log.read(after: after, through: through, limit: limit, filter: f, in: $0) }.map(\.position)
        }
        #expect(try read(.init()) == [1, 2, 3, 4])
        #expect(try read(after: 2, .init()) == [3, 4])
        #expect(try read(through: 3, .init()) == [1, 2, 3])
        #expect(try read(limit: 1, .init()) == [1])
        #expect(try read(limit: 0, .init()) == [])
        #expect(try read(.init(types: ["X"])) == [1, 4])
        #expect(try read(.init(stream: "a")) == [1, 3])
        #expect(try read(.init(commandId: 2)) == [3, 4])
        #expect(try read(.init(since: 15)) == [3, 4])
        #expect(try read(.init(until: 15)) == [1, 2])
    }

    @Test func aCorruptRecordIsDetectedByItsChecksum() throws {
        let dir = TempDir()
        let h = try Harness(dir)
        try h.append([event("a"), event("a")], .init(timestamp: 0, commandId: 1))
        // Flip one payload byte of record 2 behind the log's back.
        let db = try h.log.environment.openDatabase("log.events")
        try h.log.environment.write { txn in
            var raw = try #require(try txn.get(db, Keys.uint64(2)))
            raw[raw.count - 1] ^= 0xFF
            try txn.put(db, Keys.uint64(2), raw)
        }
        #expect(try h.log.environment.read { try h.log.event(at: 1, in: $0) } != nil)
        #expect(throws: EventLogError.corruptRecord(position: 2, reason: "checksum mismatch")) {
            try h.log.environment.read { try h.log.event(at: 2, in: $0) }
        }
        let (count, problem) = try h.log.environment.read { try h.log.verify(in: $0) }
        #expect(count == 1 && problem?.position == 2)
    }

    @Test func theLogHasAnIdentityThatSurvivesReopening() throws {
        let dir = TempDir()
        let first: [UInt8]
        do { first = try Harness(dir).log.identity }
        #expect(first.count == 16)
        #expect(try Harness(dir).log.identity == first)
        #expect(try Harness(TempDir()).log.identity != first)
    }

    @Test func checkpointsAreNamed() throws {
        let dir = TempDir()
        let h = try Harness(dir)
        try h.indexes.write { try h.checkpoints.set("relay", to: 42, in: $0) }
        try h.indexes.write { try h.checkpoints.set("sink", to: 7, in: $0) }
        #expect(try h.indexes.read { try h.checkpoints.position(of: "relay", in: $0) } == 42)
        #expect(try h.indexes.read { try h.checkpoints.position(of: "nobody", in: $0) } == nil)
        #expect(try h.indexes.read { try h.checkpoints.all(in: $0) }.map(\.name) == ["relay", "sink"])
    }

    @Test func anImportCopiesRecordsAsTheyAreAndRefusesGaps() throws {
        let source = try Harness(TempDir())
        try source.append([event("a"), event("b")], .init(timestamp: 5, commandId: 1, idempotencyKey: "k", commandFingerprint: [1]))
        try source.append([event("a")], .init(timestamp: 6, commandId: 2))
        let records = try source.log.environment.read { try source.log.read(after: 0, limit: 10, in: $0) }
        let target = try Harness(TempDir())
        var importer = try EventLog.Importer(log: target.log)
        #expect(throws: EventLogError.self) { try importer.append(Array(records.dropFirst())) }
        try importer.append(records)
        #expect(try target.log.environment.read { try target.log.read(after: 0, limit: 10, in: $0) } == records)
        #expect(throws: EventLogError.self) { try EventLog.Importer(log: target.log) }
    }

    @Test func subscriptionCatchesUpThenFollowsLiveAppends() async throws {
        let dir = TempDir()
        let h = try Harness(dir)
        try h.append((0..<1_000).map { _ in event("a") }, .init(timestamp: 0, commandId: 1))
        let log = h.log
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
            let head = try h.append([event("b")], .init(timestamp: 0, commandId: 2)).last?.position ?? 0
            // Wakes the subscriber at once, well before its 5 s poll.
            log.notifier.publish(head: head)
        }
        let seen = try await reader.value
        #expect(seen == Array(11...1_005))
    }
}

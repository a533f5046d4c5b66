import BinaryCodec
import LMDB

/// The append-only event log inside an LMDB environment.
///
/// Tables: `log.events` (position → record), `log.streams` (stream ‖ 0x00 ‖ version → position),
/// `log.checkpoints` (subscriber name → last handled position). No domain knowledge here.
public final class EventLog: Sendable {
    public let environment: Environment
    let events: Database
    let streams: Database
    let checkpoints: Database
    /// In-process wake-up for subscribers after a commit.
    public let notifier = HeadNotifier()

    public init(environment: Environment) throws {
        self.environment = environment
        events = try environment.openDatabase("log.events")
        streams = try environment.openDatabase("log.streams")
        checkpoints = try environment.openDatabase("log.checkpoints")
        let head = try environment.read { try Self.head(events, in: $0) }
        notifier.publish(head: head)
    }

    // MARK: Positions and streams

    /// The position of the newest event, 0 when the log is empty.
    public func head(in txn: Transaction) throws -> UInt64 {
        try Self.head(events, in: txn)
    }

    static func head(_ events: Database, in txn: Transaction) throws -> UInt64 {
        guard let last = try txn.cursor(events).last() else { return 0 }
        return Keys.readUInt64(last.key) ?? 0
    }

    public func head() throws -> UInt64 {
        try environment.read { try head(in: $0) }
    }

    static func streamPrefix(_ stream: String) -> [UInt8] {
        var key = Array(stream.utf8)
        key.append(0)
        return key
    }

    static func streamKey(_ stream: String, _ version: UInt64) -> [UInt8] {
        var key = streamPrefix(stream)
        key.reserveCapacity(key.count + 8)
        withUnsafeBytes(of: version.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    /// The version of a stream's newest event, 0 for a stream with no events.
    public func streamVersion(_ stream: String, in txn: Transaction) throws -> UInt64 {
        let prefix = Self.streamPrefix(stream)
        var upper = prefix
        upper[upper.count - 1] = 1
        guard let entry = try txn.cursor(streams).seek(before: upper) else { return 0 }
        guard entry.key.count == prefix.count + 8, entry.key.starts(with: prefix) else { return 0 }
        return Keys.readUInt64(entry.key, at: prefix.count) ?? 0
    }

    // MARK: Appending

    /// Appends events in order inside the caller's write transaction.
    /// `expected` holds, per stream, the version the caller decided against.
    @discardableResult
    public func append(
        _ newEvents: [NewEvent], metadata: AppendMetadata,
        expected: [String: ExpectedVersion] = [:], in txn: Transaction
    ) throws -> [EventRecord] {
        var appender = try Appender(log: self, txn: txn)
        return try appender.append(newEvents, metadata: metadata, expected: expected, in: txn)
    }

    /// Appends several commands' events in one transaction, reading the head only once.
    /// `mark()` before a nested transaction and `rollback(to:)` if it aborts.
    public struct Appender {
        let log: EventLog
        public private(set) var head: UInt64
        private var versions: [String: UInt64] = [:]
        /// Stream versions as they were before each append since the batch began, for rollback.
        private var journal: [(stream: String, previous: UInt64?)] = []

        public struct Mark {
            let head: UInt64
            let journalCount: Int
        }

        public func mark() -> Mark { Mark(head: head, journalCount: journal.count) }

        /// Forgets every append after `mark` (their transaction was aborted).
        public mutating func rollback(to mark: Mark) {
            while journal.count > mark.journalCount {
                let entry = journal.removeLast()
                versions[entry.stream] = entry.previous
            }
            head = mark.head
        }

        public init(log: EventLog, txn: Transaction) throws {
            self.log = log
            head = try log.head(in: txn)
        }

        public mutating func version(of stream: String, in txn: Transaction) throws -> UInt64 {
            if let v = versions[stream] { return v }
            let v = try log.streamVersion(stream, in: txn)
            versions[stream] = v
            return v
        }

        /// Appends a record read from another log (import, snapshots) with its own metadata; it must
        /// land at the same position and stream version it had there.
        public mutating func appendCopy(of record: EventRecord, in txn: Transaction) throws {
            guard record.position == head + 1 else {
                throw EventLogError.copyOutOfOrder(position: record.position, reason: "follows \(head): positions must be gapless from 1")
            }
            let event = NewEvent(stream: record.stream, type: record.type, schemaVersion: record.schemaVersion, payload: record.payload)
            let metadata = AppendMetadata(timestamp: record.timestamp, commandId: record.commandId, idempotencyKey: record.idempotencyKey)
            let stored = try append([event], metadata: metadata, in: txn)
            guard stored.first?.streamVersion == record.streamVersion else {
                throw EventLogError.copyOutOfOrder(position: record.position, reason: "stream \(record.stream) version \(record.streamVersion) does not follow")
            }
        }

        public mutating func append(
            _ newEvents: [NewEvent], metadata: AppendMetadata, expected: [String: ExpectedVersion] = [:], in txn: Transaction
        ) throws -> [EventRecord] {
            for (stream, expectation) in expected {
                let actual = try version(of: stream, in: txn)
                switch expectation {
                case .any: continue
                case .noStream where actual == 0: continue
                case let .exactly(v) where v == actual: continue
                default: throw EventLogError.wrongExpectedVersion(stream: stream, expected: expectation, actual: actual)
                }
            }
            var records: [EventRecord] = []
            records.reserveCapacity(newEvents.count)
            for event in newEvents {
                guard !event.stream.isEmpty, !event.stream.utf8.contains(0), event.stream.utf8.count <= 200 else {
                    throw EventLogError.invalidStreamName(event.stream)
                }
                let streamVersion = try version(of: event.stream, in: txn) + 1
                let position = head + 1
                let value = RecordCodec.encode(event, streamVersion: streamVersion, metadata: metadata)
                try txn.put(log.events, Keys.uint64(position), value, flags: .append)
                try txn.put(log.streams, EventLog.streamKey(event.stream, streamVersion), Keys.uint64(position))
                head = position
                journal.append((event.stream, versions.updateValue(streamVersion, forKey: event.stream)))
                records.append(EventRecord(
                    position: position, stream: event.stream, streamVersion: streamVersion, type: event.type,
                    schemaVersion: event.schemaVersion, timestamp: metadata.timestamp,
                    commandId: metadata.commandId, idempotencyKey: metadata.idempotencyKey, payload: event.payload
                ))
            }
            return records
        }
    }

    // MARK: Reading

    public func event(at position: UInt64, in txn: Transaction) throws -> EventRecord? {
        try txn.withValue(events, Keys.uint64(position)) { try RecordCodec.decode(position: position, $0) }
    }

    /// Visits events with position > `position`, in order, until `body` returns false.
    public func forEach(
        after position: UInt64, in txn: Transaction, _ body: (EventRecord) throws -> Bool
    ) throws {
        let cursor = try txn.cursor(events)
        var entry = try cursor.seek(atOrAfter: Keys.uint64(position &+ 1))
        if position == UInt64.max { return }
        while let current = entry {
            guard let key = Keys.readUInt64(current.key) else {
                throw EventLogError.corruptRecord(position: 0, reason: "key of \(current.key.count) bytes")
            }
            let record = try RecordCodec.decode(position: key, current.value)
            guard try body(record) else { return }
            entry = try cursor.next()
        }
    }

    public struct Filter: Sendable {
        public var stream: String?
        public var types: Set<String>?
        public var commandId: UInt64?
        public var since: Int64?
        public var until: Int64?

        public init(stream: String? = nil, types: Set<String>? = nil, commandId: UInt64? = nil, since: Int64? = nil, until: Int64? = nil) {
            self.stream = stream
            self.types = types
            self.commandId = commandId
            self.since = since
            self.until = until
        }

        public func matches(_ r: EventRecord) -> Bool {
            if let stream, r.stream != stream { return false }
            if let types, !types.contains(r.type) { return false }
            if let commandId, r.commandId != commandId { return false }
            if let since, r.timestamp < since { return false }
            if let until, r.timestamp >= until { return false }
            return true
        }
    }

    /// Up to `limit` events after `position` that match `filter`.
    public func read(after position: UInt64, limit: Int, filter: Filter = .init(), in txn: Transaction) throws -> [EventRecord] {
        var out: [EventRecord] = []
        if let stream = filter.stream {
            // A stream filter walks the stream index instead of the whole log.
            let prefix = Self.streamPrefix(stream)
            let cursor = try txn.cursor(streams)
            var entry = try cursor.seek(atOrAfter: prefix)
            while let current = entry, out.count < limit, current.key.starts(with: prefix) {
                if let p = Keys.readUInt64(current.value), p > position, let r = try event(at: p, in: txn), filter.matches(r) {
                    out.append(r)
                }
                entry = try cursor.next()
            }
            return out
        }
        try forEach(after: position, in: txn) { r in
            if filter.matches(r) { out.append(r) }
            return out.count < limit
        }
        return out
    }

    /// A stream's events from `fromVersion` (inclusive), in version order.
    public func readStream(_ stream: String, fromVersion: UInt64 = 1, limit: Int = .max, in txn: Transaction) throws -> [EventRecord] {
        let prefix = Self.streamPrefix(stream)
        let cursor = try txn.cursor(streams)
        var out: [EventRecord] = []
        var entry = try cursor.seek(atOrAfter: Self.streamKey(stream, fromVersion))
        while let current = entry, out.count < limit, current.key.count == prefix.count + 8, current.key.starts(with: prefix) {
            guard let p = Keys.readUInt64(current.value), let r = try event(at: p, in: txn) else {
                throw EventLogError.corruptRecord(position: 0, reason: "stream index of \(stream) points nowhere")
            }
            out.append(r)
            entry = try cursor.next()
        }
        return out
    }

    // MARK: Checkpoints

    public func checkpoint(_ name: String, in txn: Transaction) throws -> UInt64? {
        try txn.withValue(checkpoints, Array(name.utf8)) { Keys.readUInt64($0) }.flatMap { $0 }
    }

    public func setCheckpoint(_ name: String, to position: UInt64, in txn: Transaction) throws {
        try txn.put(checkpoints, Array(name.utf8), Keys.uint64(position))
    }

    public func checkpoints(in txn: Transaction) throws -> [(name: String, position: UInt64)] {
        let cursor = try txn.cursor(checkpoints)
        var out: [(String, UInt64)] = []
        var entry = try cursor.first()
        while let e = entry {
            out.append((String(decoding: e.key, as: UTF8.self), Keys.readUInt64(e.value) ?? 0))
            entry = try cursor.next()
        }
        return out
    }
}

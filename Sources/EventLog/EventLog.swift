import BinaryCodec
import LMDB

/// The append-only event log: the one durable truth of a ledger.
///
/// Tables, in an environment of its own that is synced at every commit: `log.events`
/// (position → record) and `log.meta` (the log's identity). Nothing that can be derived from the
/// records is kept here; the stream index (`StreamIndex`) and subscriber checkpoints
/// (`CheckpointTable`) live with the other rebuildable views. No domain knowledge here.
///
/// After a crash the log holds exactly the transactions whose commit returned: LMDB's commit
/// syncs the data pages, then the meta page.
public final class EventLog: Sendable {
    public let environment: Environment
    let events: Database
    let meta: Database
    /// Random bytes made when the log was created: views and copies record whose log they fold.
    public let identity: [UInt8]
    /// In-process wake-up for subscribers after a commit.
    public let notifier = HeadNotifier()

    static let identityKey = Array("identity".utf8)
    /// Keys index the idempotency view, so they must stay well under LMDB's key size limit.
    public static let maxIdempotencyKeyLength = 255

    /// Opens the log in `environment`, creating it when new: with `identity` when given (a copy
    /// that continues another log, such as a read replica), else with random bytes. An existing log
    /// with another identity than the one given is refused.
    public init(environment: Environment, identity wanted: [UInt8]? = nil) throws {
        self.environment = environment
        events = try environment.openDatabase("log.events")
        meta = try environment.openDatabase("log.meta")
        let stored = try environment.read { [meta] txn in try txn.get(meta, Self.identityKey) }
        if let stored {
            if let wanted, wanted != stored { throw EventLogError.otherLog(expected: wanted, found: stored) }
            identity = stored
        } else if environment.configuration.readOnly {
            identity = []
        } else {
            let made = wanted ?? (0..<16).map { _ in UInt8.random(in: 0...255) }
            identity = try environment.write { [meta] txn -> [UInt8] in
                // Another process may have created the log meanwhile: the first identity stays.
                if let raced = try txn.get(meta, Self.identityKey) { return raced }
                try txn.put(meta, Self.identityKey, made)
                return made
            }
        }
        let head = try environment.read { try Self.head(events, in: $0) }
        notifier.publish(head: head)
    }

    // MARK: Settings

    /// A value that says how the log is read, such as the zone its calendar days are counted in:
    /// not an event, but as durable as the events.
    public func setting(_ name: String) throws -> String? {
        try environment.read { try setting(name, in: $0) }
    }

    public func setting(_ name: String, in txn: Transaction) throws -> String? {
        try txn.get(meta, Self.settingKey(name)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Records a setting, durably, in a write transaction of its own.
    public func setSetting(_ name: String, to value: String) throws {
        try environment.write { try setSetting(name, to: value, in: $0) }
    }

    public func setSetting(_ name: String, to value: String, in txn: Transaction) throws {
        try txn.put(meta, Self.settingKey(name), Array(value.utf8))
    }

    static func settingKey(_ name: String) -> [UInt8] { Array("setting.\(name)".utf8) }

    // MARK: Positions

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

    /// The checksum stored with the record at `position`: with the position, it identifies the
    /// record (views remember it to notice a log that is not the one they folded).
    public func checksum(at position: UInt64, in txn: Transaction) throws -> UInt32? {
        try txn.withValue(events, Keys.uint64(position)) { RecordCodec.storedChecksum($0) }.flatMap { $0 }
    }

    // MARK: Appending

    /// Appends events in order inside the caller's write transactions: records into `txn` (the
    /// log's), stream versions from and into `streams` within `streamTxn` (the views').
    @discardableResult
    public func append(
        _ newEvents: [NewEvent], metadata: AppendMetadata, expected: [String: ExpectedVersion] = [:],
        in txn: Transaction, streams: StreamIndex, streamTxn: Transaction
    ) throws -> [EventRecord] {
        var appender = try Appender(log: self, txn: txn, streams: streams, streamTxn: streamTxn)
        return try appender.append(newEvents, metadata: metadata, expected: expected)
    }

    /// Appends several commands' events in one transaction, reading the head only once.
    /// `mark()` before a command and `rollback(to:)` if its writes are abandoned.
    public struct Appender {
        let log: EventLog
        let txn: Transaction
        let streams: StreamIndex
        let streamTxn: Transaction
        public private(set) var head: UInt64
        /// The checksum of the record at `head` (0 for an empty log).
        public private(set) var headChecksum: UInt32
        private var versions: [String: UInt64] = [:]
        /// Stream versions as they were before each append since the batch began, for rollback.
        private var journal: [(stream: String, previous: UInt64?)] = []

        public struct Mark {
            let head: UInt64
            let headChecksum: UInt32
            let journalCount: Int
        }

        public func mark() -> Mark { Mark(head: head, headChecksum: headChecksum, journalCount: journal.count) }

        /// Forgets every append after `mark` (their writes were abandoned with their transaction).
        public mutating func rollback(to mark: Mark) {
            while journal.count > mark.journalCount {
                let entry = journal.removeLast()
                versions[entry.stream] = entry.previous
            }
            head = mark.head
            headChecksum = mark.headChecksum
        }

        public init(log: EventLog, txn: Transaction, streams: StreamIndex, streamTxn: Transaction) throws {
            self.log = log
            self.txn = txn
            self.streams = streams
            self.streamTxn = streamTxn
            head = try log.head(in: txn)
            headChecksum = head == 0 ? 0 : try log.checksum(at: head, in: txn) ?? 0
        }

        public mutating func version(of stream: String) throws -> UInt64 {
            if let v = versions[stream] { return v }
            let v = try streams.version(of: stream, in: streamTxn)
            versions[stream] = v
            return v
        }

        public mutating func append(_ newEvents: [NewEvent], metadata: AppendMetadata, expected: [String: ExpectedVersion] = [:]) throws -> [EventRecord] {
            if let key = metadata.idempotencyKey, key.isEmpty || key.utf8.count > EventLog.maxIdempotencyKeyLength {
                throw EventLogError.invalidIdempotencyKey(key)
            }
            for (stream, expectation) in expected {
                let actual = try version(of: stream)
                switch expectation {
                case .any: continue
                case .noStream where actual == 0: continue
                case let .exactly(v) where v == actual: continue
                default: throw EventLogError.wrongExpectedVersion(stream: stream, expected: expectation, actual: actual)
                }
            }
            var records: [EventRecord] = []
            records.reserveCapacity(newEvents.count)
            for (index, event) in newEvents.enumerated() {
                guard !event.stream.isEmpty, !event.stream.utf8.contains(0), event.stream.utf8.count <= StreamIndex.maxStreamLength else {
                    throw EventLogError.invalidStreamName(event.stream)
                }
                let streamVersion = try version(of: event.stream) + 1
                let position = head + 1
                // The command's fingerprint rides on its first event only.
                let fingerprint = index == 0 ? metadata.commandFingerprint : nil
                let (value, checksum) = RecordCodec.encode(event, streamVersion: streamVersion, metadata: metadata, fingerprint: fingerprint)
                try txn.put(log.events, Keys.uint64(position), value, flags: .append)
                let record = EventRecord(
                    position: position, stream: event.stream, streamVersion: streamVersion, type: event.type,
                    schemaVersion: event.schemaVersion, timestamp: metadata.timestamp, commandId: metadata.commandId,
                    idempotencyKey: metadata.idempotencyKey, commandFingerprint: fingerprint, payload: event.payload
                )
                try streams.add(record, in: streamTxn)
                head = position
                headChecksum = checksum
                journal.append((event.stream, versions.updateValue(streamVersion, forKey: event.stream)))
                records.append(record)
            }
            return records
        }
    }

    // MARK: Reading

    /// Up to `limit` records after `position` as they are stored (checksum included), for copies
    /// that must carry them byte for byte.
    public func storedRecords(after position: UInt64, limit: Int, in txn: Transaction) throws -> [(position: UInt64, bytes: [UInt8])] {
        var out: [(position: UInt64, bytes: [UInt8])] = []
        guard limit > 0, position < UInt64.max else { return out }
        let cursor = try txn.cursor(events)
        var entry = try cursor.seek(atOrAfter: Keys.uint64(position + 1))
        while let current = entry, out.count < limit {
            guard let key = Keys.readUInt64(current.key) else {
                throw EventLogError.corruptRecord(position: 0, reason: "key of \(current.key.count) bytes")
            }
            out.append((key, Array(current.value)))
            entry = try cursor.next()
        }
        return out
    }

    /// A stored record (`storedRecords`) decoded, its checksum verified unless `verify` is false.
    public static func decodeStored(position: UInt64, _ bytes: [UInt8], verify: Bool = true) throws -> EventRecord {
        try bytes.withUnsafeBytes { try RecordCodec.decode(position: position, $0, verify: verify) }
    }

    /// The checksum a stored record carries.
    public static func storedChecksum(_ bytes: [UInt8]) -> UInt32? {
        bytes.withUnsafeBytes { RecordCodec.storedChecksum($0) }
    }

    public func event(at position: UInt64, in txn: Transaction) throws -> EventRecord? {
        try txn.withValue(events, Keys.uint64(position)) { try RecordCodec.decode(position: position, $0) }
    }

    /// Visits events with position > `position`, in order, until `body` returns false.
    public func forEach(
        after position: UInt64, in txn: Transaction, _ body: (EventRecord) throws -> Bool
    ) throws {
        try Self.forEach(in: events, after: position, txn: txn, body)
    }

    /// Up to `limit` records after `position` of a records table in this log's format, possibly of
    /// another environment (the single-environment layout of earlier releases).
    public static func records(in table: Database, after position: UInt64, limit: Int, txn: Transaction) throws -> [EventRecord] {
        var out: [EventRecord] = []
        try forEach(in: table, after: position, txn: txn) { record in
            out.append(record)
            return out.count < limit
        }
        return out
    }

    static func forEach(in events: Database, after position: UInt64, txn: Transaction, _ body: (EventRecord) throws -> Bool) throws {
        if position == UInt64.max { return }
        let cursor = try txn.cursor(events)
        var entry = try cursor.seek(atOrAfter: Keys.uint64(position + 1))
        // Positions are dense (1, 2, 3, …): a gap is a damaged key, and reading on past it would
        // hand a fold every event but that one.
        var expected = position + 1
        while let current = entry {
            guard let key = Keys.readUInt64(current.key) else {
                throw EventLogError.corruptRecord(position: 0, reason: "key of \(current.key.count) bytes")
            }
            guard key == expected else {
                throw EventLogError.corruptRecord(position: expected, reason: "the log holds position \(key) where \(expected) should be")
            }
            expected = key + 1
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

    /// Up to `limit` events with a position in (`position`, `through`] that match `filter`,
    /// walking the log in order (a stream filter is better served by `StreamIndex`).
    public func read(after position: UInt64, through: UInt64 = .max, limit: Int, filter: Filter = .init(), in txn: Transaction) throws -> [EventRecord] {
        var out: [EventRecord] = []
        guard limit > 0 else { return out }
        try forEach(after: position, in: txn) { r in
            guard r.position <= through else { return false }
            if filter.matches(r) { out.append(r) }
            return out.count < limit
        }
        return out
    }
}

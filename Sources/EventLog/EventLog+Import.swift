import BinaryCodec
import LMDB

extension EventLog {
    /// Copies records from another log (an export, a snapshot, an older layout) into this one, as
    /// they are: every record must land at the position and stream version it had there. Writes
    /// the log only; views fold the copies when they next catch up.
    public struct Importer {
        let log: EventLog
        private var head: UInt64
        private var versions: [String: UInt64] = [:]

        /// Stream versions this importer has not seen appended (0 for an empty log).
        private let storedVersion: (String) throws -> UInt64
        /// Whether `append` wakes in-process subscribers itself.
        private let publishes: Bool

        /// Copies into an empty log only: stream versions are then checked from what this importer saw.
        public init(log: EventLog) throws {
            self.log = log
            head = try log.head()
            storedVersion = { _ in 0 }
            publishes = true
            guard head == 0 else {
                throw EventLogError.copyOutOfOrder(position: head + 1, reason: "the target log already holds \(head) events")
            }
        }

        /// Continues a log that may already hold events (a replica's copy): `storedVersion` says
        /// each stream's version as of the log's head. With `publishes` false the caller wakes
        /// subscribers itself (after folding its views, say).
        public init(continuing log: EventLog, storedVersion: @escaping (String) throws -> UInt64, publishes: Bool) throws {
            self.log = log
            head = try log.head()
            self.storedVersion = storedVersion
            self.publishes = publishes
        }

        /// The position of the last event this importer's log holds.
        public var position: UInt64 { head }

        /// Appends `records` in one durable write transaction. With `stored`, the bytes each record
        /// had in its log (`storedRecords`) are kept as they are instead of encoding it again.
        public mutating func append(_ records: [EventRecord], stored: [[UInt8]]? = nil) throws {
            precondition(stored == nil || stored?.count == records.count, "one stored value per record")
            var head = self.head
            var versions = self.versions
            try log.environment.write { txn in
                // Runs again after a map resize: start from the state before this batch.
                head = self.head
                versions = self.versions
                for (index, record) in records.enumerated() {
                    guard record.position == head + 1 else {
                        throw EventLogError.copyOutOfOrder(position: record.position, reason: "follows \(head): positions must be gapless from 1")
                    }
                    let expected = try (versions[record.stream] ?? storedVersion(record.stream)) + 1
                    guard record.streamVersion == expected else {
                        throw EventLogError.copyOutOfOrder(position: record.position, reason: "stream \(record.stream) version \(record.streamVersion) does not follow \(expected - 1)")
                    }
                    guard !record.stream.isEmpty, !record.stream.utf8.contains(0), record.stream.utf8.count <= StreamIndex.maxStreamLength else {
                        throw EventLogError.invalidStreamName(record.stream)
                    }
                    if let key = record.idempotencyKey, key.isEmpty || key.utf8.count > EventLog.maxIdempotencyKeyLength {
                        throw EventLogError.invalidIdempotencyKey(key)
                    }
                    if let stored {
                        try txn.put(log.events, Keys.uint64(record.position), stored[index], flags: .append)
                    } else {
                        let event = NewEvent(stream: record.stream, type: record.type, schemaVersion: record.schemaVersion, payload: record.payload)
                        let metadata = AppendMetadata(timestamp: record.timestamp, commandId: record.commandId, idempotencyKey: record.idempotencyKey)
                        let (value, _) = RecordCodec.encode(event, streamVersion: record.streamVersion, metadata: metadata, fingerprint: record.commandFingerprint)
                        try txn.put(log.events, Keys.uint64(record.position), value, flags: .append)
                    }
                    head = record.position
                    versions[record.stream] = record.streamVersion
                }
            }
            self.head = head
            self.versions = versions
            if publishes { log.notifier.publish(head: head) }
        }
    }
}

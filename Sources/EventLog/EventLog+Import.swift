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

        /// Copies into an empty log only: stream versions are then checked from what this importer saw.
        public init(log: EventLog) throws {
            self.log = log
            head = try log.head()
            guard head == 0 else {
                throw EventLogError.copyOutOfOrder(position: head + 1, reason: "the target log already holds \(head) events")
            }
        }

        /// Appends `records` in one durable write transaction.
        public mutating func append(_ records: [EventRecord]) throws {
            var head = self.head
            var versions = self.versions
            try log.environment.write { txn in
                // Runs again after a map resize: start from the state before this batch.
                head = self.head
                versions = self.versions
                for record in records {
                    guard record.position == head + 1 else {
                        throw EventLogError.copyOutOfOrder(position: record.position, reason: "follows \(head): positions must be gapless from 1")
                    }
                    let expected = (versions[record.stream] ?? 0) + 1
                    guard record.streamVersion == expected else {
                        throw EventLogError.copyOutOfOrder(position: record.position, reason: "stream \(record.stream) version \(record.streamVersion) does not follow \(expected - 1)")
                    }
                    guard !record.stream.isEmpty, !record.stream.utf8.contains(0), record.stream.utf8.count <= StreamIndex.maxStreamLength else {
                        throw EventLogError.invalidStreamName(record.stream)
                    }
                    if let key = record.idempotencyKey, key.isEmpty || key.utf8.count > EventLog.maxIdempotencyKeyLength {
                        throw EventLogError.invalidIdempotencyKey(key)
                    }
                    let event = NewEvent(stream: record.stream, type: record.type, schemaVersion: record.schemaVersion, payload: record.payload)
                    let metadata = AppendMetadata(timestamp: record.timestamp, commandId: record.commandId, idempotencyKey: record.idempotencyKey)
                    let (value, _) = RecordCodec.encode(event, streamVersion: record.streamVersion, metadata: metadata, fingerprint: record.commandFingerprint)
                    try txn.put(log.events, Keys.uint64(record.position), value, flags: .append)
                    head = record.position
                    versions[record.stream] = record.streamVersion
                }
            }
            self.head = head
            self.versions = versions
            log.notifier.publish(head: head)
        }
    }
}

import BinaryCodec
import LMDB

extension EventLog {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public let position: UInt64
        public let reason: String
        public var description: String { "position \(position): \(reason)" }
    }

    /// Checks the whole log: every record's checksum and encoding, positions gapless from 1, stream
    /// versions contiguous, and whatever `check` says of each event (e.g. decodable). Returns the
    /// number of events checked and the first problem found.
    public func verify(in txn: Transaction, check: (EventRecord) throws -> Void = { _ in }) throws -> (events: Int, problem: Problem?) {
        let cursor = try txn.cursor(events)
        var expected: UInt64 = 1
        var versions: [String: UInt64] = [:]
        var entry = try cursor.first()
        var count = 0
        while let e = entry {
            guard let position = Keys.readUInt64(e.key), e.key.count == 8 else {
                return (count, Problem(position: expected, reason: "a key of \(e.key.count) bytes in the log"))
            }
            guard position == expected else {
                return (count, Problem(position: expected, reason: "gap: the next record is at \(position)"))
            }
            let record: EventRecord
            do {
                record = try RecordCodec.decode(position: position, e.value)
            } catch let error as EventLogError {
                return (count, Problem(position: position, reason: "\(error)"))
            }
            let version = (versions[record.stream] ?? 0) + 1
            guard record.streamVersion == version else {
                return (count, Problem(position: position, reason: "stream \(record.stream) jumps to version \(record.streamVersion), expected \(version)"))
            }
            versions[record.stream] = version
            do {
                try check(record)
            } catch {
                return (count, Problem(position: position, reason: "undecodable \(record.type) v\(record.schemaVersion): \(error)"))
            }
            count += 1
            expected += 1
            entry = try cursor.next()
        }
        return (count, nil)
    }
}

extension EventLog {
    /// Checks every record's checksum and that positions run gapless from 1, without decoding
    /// the records: cheap enough to run before serving. Returns the records checked and the first
    /// problem found.
    public func verifyChecksums(in txn: Transaction) throws -> (events: Int, problem: Problem?) {
        let cursor = try txn.cursor(events)
        var expected: UInt64 = 1
        var entry = try cursor.first()
        while let e = entry {
            guard e.key.count == 8, let position = Keys.readUInt64(e.key) else {
                return (Int(expected - 1), Problem(position: expected, reason: "a key of \(e.key.count) bytes in the log"))
            }
            guard position == expected else {
                return (Int(expected - 1), Problem(position: expected, reason: "gap: the next record is at \(position)"))
            }
            guard e.value.count > 5, e.value[0] == 1 || e.value[0] == 2,
                  RecordCodec.storedChecksum(e.value) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: e.value[5...])) else {
                return (Int(expected - 1), Problem(position: position, reason: "record at position \(position) is corrupt: checksum mismatch"))
            }
            expected += 1
            entry = try cursor.next()
        }
        return (Int(expected - 1), nil)
    }
}

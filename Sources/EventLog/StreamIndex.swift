import BinaryCodec
import LMDB

/// Where each stream's events are: `stream ‖ 0x00 ‖ version (8 bytes BE) → position`.
///
/// A view of the log, kept with the other rebuildable views: `add` is the fold, and the appender
/// reads it to number a stream's next event.
public struct StreamIndex: Sendable {
    public let database: Database

    /// Stream names are short identifiers (`user-42`); the bound keeps keys under LMDB's limit.
    public static let maxStreamLength = 200

    public init(database: Database) {
        self.database = database
    }

    static func prefix(_ stream: String) -> [UInt8] {
        var key = Array(stream.utf8)
        key.append(0)
        return key
    }

    static func key(_ stream: String, _ version: UInt64) -> [UInt8] {
        var key = prefix(stream)
        key.reserveCapacity(key.count + 8)
        withUnsafeBytes(of: version.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    /// The version of a stream's newest event, 0 for a stream with no events.
    public func version(of stream: String, in txn: Transaction) throws -> UInt64 {
        let prefix = Self.prefix(stream)
        var upper = prefix
        upper[upper.count - 1] = 1
        guard let entry = try txn.cursor(database).seek(before: upper) else { return 0 }
        guard entry.key.count == prefix.count + 8, entry.key.starts(with: prefix) else { return 0 }
        return Keys.readUInt64(entry.key, at: prefix.count) ?? 0
    }

    /// Folds one record into the index.
    public func add(_ record: EventRecord, in txn: Transaction) throws {
        try txn.put(database, Self.key(record.stream, record.streamVersion), Keys.uint64(record.position))
    }

    /// Positions of a stream's events from `fromVersion` (inclusive), in version order.
    public func positions(of stream: String, fromVersion: UInt64 = 1, limit: Int = .max, in txn: Transaction) throws -> [UInt64] {
        let prefix = Self.prefix(stream)
        let cursor = try txn.cursor(database)
        var out: [UInt64] = []
        var entry = try cursor.seek(atOrAfter: Self.key(stream, fromVersion))
        while let current = entry, out.count < limit, current.key.count == prefix.count + 8, current.key.starts(with: prefix) {
            guard let position = Keys.readUInt64(current.value) else {
                throw EventLogError.corruptRecord(position: 0, reason: "stream index of \(stream) holds a value of \(current.value.count) bytes")
            }
            out.append(position)
            entry = try cursor.next()
        }
        return out
    }
}

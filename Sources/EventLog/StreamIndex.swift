import BinaryCodec
import LMDB

/// Where each stream's events are: `prefix(stream) ‖ version (8 bytes BE) → position`.
///
/// A view of the log, kept with the other rebuildable views: `add` is the fold, and the appender
/// reads it to number a stream's next event. Where a stream's rows live is the owner's choice
/// (`Placement`): by default `name ‖ 0x00` in one database, but a ledger may put a stream's rows
/// beside other rows of the same entity, so that a command touches one page instead of two.
public struct StreamIndex: Sendable {
    /// The database and key prefix of one stream's rows; prefixes of different streams must never
    /// be prefixes of one another.
    public struct Placement: Sendable {
        public let database: Database
        public let prefix: [UInt8]

        public init(database: Database, prefix: [UInt8]) {
            self.database = database
            self.prefix = prefix
        }
    }

    /// Stream names are short identifiers (`user-42`); the bound keeps keys under LMDB's limit.
    public static let maxStreamLength = 200

    private let place: @Sendable (String) -> Placement

    /// Every stream in `database`, keyed by its name and a zero byte.
    public init(database: Database) {
        place = { Placement(database: database, prefix: Self.namePrefix($0)) }
    }

    public init(placement: @escaping @Sendable (String) -> Placement) {
        place = placement
    }

    /// The prefix of the default placement: the name's bytes and a zero (names hold no zero).
    public static func namePrefix(_ stream: String) -> [UInt8] {
        var key = Array(stream.utf8)
        key.append(0)
        return key
    }

    /// The version of a stream's newest event, 0 for a stream with no events.
    public func version(of stream: String, in txn: Transaction) throws -> UInt64 {
        let at = place(stream)
        var last = at.prefix
        last.append(contentsOf: repeatElement(0xFF, count: 8))
        guard let entry = try txn.cursor(at.database).seek(atOrBefore: last) else { return 0 }
        guard entry.key.count == at.prefix.count + 8, entry.key.starts(with: at.prefix) else { return 0 }
        return Keys.readUInt64(entry.key, at: at.prefix.count) ?? 0
    }

    /// Folds one record into the index, straight into a transaction or through a buffer. The
    /// key and value are built on the stack: every event of a fold comes through here.
    public func add<Rows: RowWriter>(_ record: EventRecord, in rows: Rows) throws {
        let at = place(record.stream)
        let length = at.prefix.count + 8
        try withUnsafeTemporaryAllocation(byteCount: length, alignment: 8) { key in
            at.prefix.withUnsafeBytes { key.copyMemory(from: $0) }
            key.storeBytes(of: record.streamVersion.bigEndian, toByteOffset: at.prefix.count, as: UInt64.self)
            try withUnsafeBytes(of: record.position.bigEndian) { value in
                try rows.put(at.database, key: UnsafeRawBufferPointer(key), value: value)
            }
        }
    }

    /// The version of the stream's first event after log position `after` (one past its newest
    /// when there is none): a binary search over versions, whose positions rise with them, so a
    /// page from the middle of a long stream does not read the stream from its start.
    public func firstVersion(after: UInt64, of stream: String, in txn: Transaction) throws -> UInt64 {
        let at = place(stream)
        let cursor = try txn.cursor(at.database)
        func position(of version: UInt64) throws -> UInt64 {
            var key = at.prefix
            withUnsafeBytes(of: version.bigEndian) { key.append(contentsOf: $0) }
            guard let entry = try cursor.seek(exactly: key), let position = Keys.readUInt64(entry.value) else {
                throw EventLogError.corruptRecord(position: 0, reason: "stream index of \(stream) has no version \(version)")
            }
            return position
        }
        var low: UInt64 = 1, high = try version(of: stream, in: txn) + 1
        while low < high {
            let middle = low + (high - low) / 2
            if try position(of: middle) > after { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// Positions of a stream's events from `fromVersion` (inclusive), in version order.
    public func positions(of stream: String, fromVersion: UInt64 = 1, limit: Int = .max, in txn: Transaction) throws -> [UInt64] {
        let at = place(stream)
        var start = at.prefix
        withUnsafeBytes(of: fromVersion.bigEndian) { start.append(contentsOf: $0) }
        let cursor = try txn.cursor(at.database)
        var out: [UInt64] = []
        var entry = try cursor.seek(atOrAfter: start)
        while let current = entry, out.count < limit, current.key.count == at.prefix.count + 8, current.key.starts(with: at.prefix) {
            guard let position = Keys.readUInt64(current.value) else {
                throw EventLogError.corruptRecord(position: 0, reason: "stream index of \(stream) holds a value of \(current.value.count) bytes")
            }
            out.append(position)
            entry = try cursor.next()
        }
        return out
    }
}

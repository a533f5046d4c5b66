import BinaryCodec
import EventLog
import LMDB

/// Idempotency key → the log position of the first event its command recorded.
///
/// A view like any other: the key and the command's fingerprint travel in the log's envelope, so
/// a rebuilt index still recognises every retry, and a replay renders its answer from the events
/// at that position. A command refused without an event leaves no key: its retry is decided again.
///
/// Keys are kept for a retention measured from their command's time (`LedgerConfiguration`):
/// an older key counts as unused, whether or not its row is still here. Rows are removed by an
/// expiry record in the log (`IdempotencyKeysExpired`, written by `expire` jobs) naming the keys,
/// so that a rebuild removes exactly what the live index removed. To find old keys without a scan
/// of the index, every key also has a row by time: `[0x00][time, big-endian][key]` → position
/// (keys are printable ASCII, so no key starts with 0x00).
struct IdempotencyIndex: Sendable {
    let database: Database

    static let expiryType = "IdempotencyKeysExpired"
    static let expiryStream = "ledger"
    static let expirySchemaVersion: UInt16 = 1
    static let byTimeTag: UInt8 = 0
    /// Rows are removed this long after their key expired: a wall clock stepped back by less than
    /// this never finds the row of a key it still counts as remembered gone.
    static let clockSlack: Int64 = 3_600_000

    /// A key that may be printed and stored: 1 to 255 printable ASCII characters.
    static func isValid(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 255 && key.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    func firstPosition(of key: String, in txn: Transaction) throws -> UInt64? {
        try txn.withValue(database, Array(key.utf8)) { Keys.readUInt64($0) }.flatMap { $0 }
    }

    /// The fold: the first event of a keyed command indexes its key; an expiry record removes
    /// the keys it names.
    func add<Rows: RowWriter>(_ record: EventRecord, in rows: Rows) throws {
        if record.type == Self.expiryType, record.stream == Self.expiryStream {
            return try remove(try Self.expiredKeys(in: record), in: rows)
        }
        guard let key = record.idempotencyKey, record.commandFingerprint != nil else { return }
        let position = Keys.uint64(record.position)
        try rows.put(database, Array(key.utf8), position)
        try rows.put(database, Self.byTimeKey(record.timestamp, key), position)
    }

    /// A key whose command is older than the retention.
    struct Expired: Equatable, Sendable {
        let key: String
        let timestamp: Int64
        let position: UInt64
    }

    /// Up to `limit` keys whose command was at `cutoff` or earlier, oldest first.
    func expired(through cutoff: Int64, limit: Int, in txn: Transaction) throws -> [Expired] {
        let cursor = try txn.cursor(database)
        var out: [Expired] = []
        var entry = try cursor.seek(atOrAfter: [Self.byTimeTag])
        while let e = entry, out.count < limit, e.key.count > 9, e.key[0] == Self.byTimeTag {
            let timestamp = Int64(bitPattern: (Keys.readUInt64(e.key, at: 1) ?? 0) ^ (1 << 63))
            guard timestamp <= cutoff, let position = Keys.readUInt64(e.value) else { break }
            out.append(Expired(key: String(decoding: e.key[9...], as: UTF8.self), timestamp: timestamp, position: position))
            entry = try cursor.next()
        }
        return out
    }

    /// The log record that removes `keys`.
    static func expiryRecord(_ keys: [Expired]) -> NewEvent {
        var w = BinaryWriter(capacity: keys.count * 48)
        w.write(varint: UInt64(keys.count))
        for k in keys {
            w.write(varint: k.position)
            w.write(varint: k.timestamp)
            w.write(string: k.key)
        }
        return NewEvent(stream: expiryStream, type: expiryType, schemaVersion: expirySchemaVersion, payload: w.bytes)
    }

    static func expiredKeys(in record: EventRecord) throws -> [Expired] {
        guard record.schemaVersion == expirySchemaVersion else {
            throw DecodingError("\(expiryType) at position \(record.position) has schema version \(record.schemaVersion), this build reads \(expirySchemaVersion)")
        }
        return try record.payload.decode { r in
            let count = try r.readVarUInt()
            var out: [Expired] = []
            for _ in 0..<count {
                let position = try r.readVarUInt()
                let timestamp = try r.readVarInt()
                out.append(Expired(key: try r.readString(), timestamp: timestamp, position: position))
            }
            guard r.isAtEnd else { throw DecodingError("\(expiryType) at position \(record.position) has \(r.remaining) bytes after its keys") }
            return out
        }
    }

    /// Removes each key's row by time, and its row by key unless a later command (after the
    /// key had expired) took the key over.
    private func remove<Rows: RowWriter>(_ keys: [Expired], in rows: Rows) throws {
        for k in keys {
            try rows.delete(database, Self.byTimeKey(k.timestamp, k.key))
            let byKey = Array(k.key.utf8)
            if let current = try rows.get(database, byKey), current.withUnsafeBytes({ Keys.readUInt64($0) }) == k.position {
                try rows.delete(database, byKey)
            }
        }
    }

    static func byTimeKey(_ timestamp: Int64, _ key: String) -> [UInt8] {
        // The sign bit flipped: negative times sort before positive ones, as they should.
        [byTimeTag] + Keys.uint64(UInt64(bitPattern: timestamp) ^ (1 << 63)) + Array(key.utf8)
    }
}

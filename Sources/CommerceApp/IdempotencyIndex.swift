import BinaryCodec
import EventLog
import LMDB

/// Idempotency key → the log position of the first event its command recorded.
///
/// A view like any other: the key and the command's fingerprint travel in the log's envelope, so
/// a rebuilt index still recognises every retry, and a replay renders its answer from the events
/// at that position. A command refused without an event leaves no key: its retry is decided again.
struct IdempotencyIndex: Sendable {
    let database: Database

    func firstPosition(of key: String, in txn: Transaction) throws -> UInt64? {
        try txn.withValue(database, Array(key.utf8)) { Keys.readUInt64($0) }.flatMap { $0 }
    }

    /// The fold: the first event of a keyed command indexes its key.
    func add<Rows: RowWriter>(_ record: EventRecord, in rows: Rows) throws {
        guard let key = record.idempotencyKey, record.commandFingerprint != nil else { return }
        try rows.put(database, Array(key.utf8), Keys.uint64(record.position))
    }
}

import BinaryCodec
import LMDB

/// Named subscriber checkpoints: the last position each subscriber has handled.
///
/// Kept with the views, so moving one costs no sync. A subscriber must tolerate a checkpoint that
/// is older than what it did (views may be rebuilt after a power loss, and rebuilt views start
/// without checkpoints): its effects are decided against state folded from the log, or carry the
/// log position so that a receiver can drop repeats.
public struct CheckpointTable: Sendable {
    public let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func position(of name: String, in txn: Transaction) throws -> UInt64? {
        try txn.withValue(database, Array(name.utf8)) { Keys.readUInt64($0) }.flatMap { $0 }
    }

    public func set(_ name: String, to position: UInt64, in txn: Transaction) throws {
        try txn.put(database, Array(name.utf8), Keys.uint64(position))
    }

    public func all(in txn: Transaction) throws -> [(name: String, position: UInt64)] {
        let cursor = try txn.cursor(database)
        var out: [(String, UInt64)] = []
        var entry = try cursor.first()
        while let e = entry {
            out.append((String(decoding: e.key, as: UTF8.self), Keys.readUInt64(e.value) ?? 0))
            entry = try cursor.next()
        }
        return out
    }
}

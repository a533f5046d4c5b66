import Foundation
import BinaryCodec
import Commerce
import EventLog
import LMDB

/// Folding the log from scratch: the proof that projections are a pure function of the log,
/// and the way to rebuild them.
extension Ledger {
    public struct ProjectionMismatch: Sendable, Equatable, CustomStringConvertible {
        public let table: String
        public let key: [UInt8]
        public let live: [UInt8]?
        public let rebuilt: [UInt8]?

        public var description: String {
            func hex(_ b: [UInt8]?) -> String { b.map { $0.map { String(format: "%02x", $0) }.joined() } ?? "(absent)" }
            return "\(table): first difference at key \(hex(key)): live \(hex(live)), rebuilt \(hex(rebuilt))"
        }
    }

    /// Scratch tables for a rebuild, named `scratch.<table>`.
    func scratchTables() throws -> ProjectionDatabases {
        try ProjectionDatabases(environment: environment, prefix: "scratch.")
    }

    /// Folds events (after `after`, through `through`) into `target` inside `txn`.
    /// Events of a type this build does not know are skipped.
    @discardableResult
    func fold(
        into target: ProjectionDatabases, after: UInt64 = 0, through: UInt64 = .max, txn: Transaction,
        limit: Int = .max, counted: () -> Void = {}
    ) throws -> UInt64 {
        let store = LMDBProjectionStore(txn: txn, tables: target)
        var last = after
        var n = 0
        try log.forEach(after: after, in: txn) { record in
            guard record.position <= through, n < limit else { return false }
            n += 1
            counted()
            let event = try CommerceEvent.decode(type: record.type, schemaVersion: record.schemaVersion, payload: record.payload)
            let recorded = RecordedEvent(position: record.position, timestamp: record.timestamp, event: event)
            try projections.apply(recorded, to: store)
            last = record.position
            return true
        }
        return last
    }

    /// Clears the scratch tables and folds the log (through `through`) into them, in chunks of
    /// `chunk` events per write transaction so the writer is never held for long.
    /// Returns the number of events folded and the last position.
    @discardableResult
    public func foldIntoScratch(through: UInt64 = .max, chunk: Int = 100_000, progress: (UInt64) -> Void = { _ in }) throws -> (events: Int, last: UInt64) {
        let scratch = try scratchTables()
        try environment.write { txn in for db in scratch.physical { try txn.clear(db) } }
        var last: UInt64 = 0
        var events = 0
        while true {
            let (count, end) = try environment.write { txn -> (Int, UInt64) in
                var count = 0
                let end = try fold(into: scratch, after: last, through: through, txn: txn, limit: chunk) { count += 1 }
                return (count, end)
            }
            events += count
            last = end
            progress(last)
            if count < chunk { return (events, last) }
        }
    }

    /// Folds the whole log into scratch tables and compares them with the live ones, table by
    /// table; returns the first difference of each table that differs. Changes nothing live.
    public func verifyProjections() throws -> [ProjectionMismatch] {
        let scratch = try scratchTables()
        var mismatches: [ProjectionMismatch] = []
        // A write transaction that is aborted: the scratch fold never reaches the disk.
        struct Abort: Error {}
        do {
            try environment.write { txn -> Void in
                mismatches = []
                for db in scratch.physical { try txn.clear(db) }
                let head = try log.head(in: txn)
                try fold(into: scratch, through: head, txn: txn)
                for (live, rebuilt) in zip(tables.physical, scratch.physical) {
                    if let m = try firstDifference(live.name, live, rebuilt, txn: txn) { mismatches.append(m) }
                }
                throw Abort()
            }
        } catch is Abort {}
        return mismatches
    }

    func firstDifference(_ name: String, _ a: Database, _ b: Database, txn: Transaction) throws -> ProjectionMismatch? {
        let ca = try txn.cursor(a)
        let cb = try txn.cursor(b)
        var ea = try ca.first()
        var eb = try cb.first()
        while true {
            switch (ea, eb) {
            case (nil, nil): return nil
            case let (x?, nil): return ProjectionMismatch(table: name, key: Array(x.key), live: Array(x.value), rebuilt: nil)
            case let (nil, y?): return ProjectionMismatch(table: name, key: Array(y.key), live: nil, rebuilt: Array(y.value))
            case let (x?, y?):
                if !x.key.elementsEqual(y.key) {
                    if x.key.lexicographicallyPrecedes(y.key) {
                        return ProjectionMismatch(table: name, key: Array(x.key), live: Array(x.value), rebuilt: nil)
                    }
                    return ProjectionMismatch(table: name, key: Array(y.key), live: nil, rebuilt: Array(y.value))
                }
                if !x.value.elementsEqual(y.value) {
                    return ProjectionMismatch(table: name, key: Array(x.key), live: Array(x.value), rebuilt: Array(y.value))
                }
                ea = try ca.next()
                eb = try cb.next()
            }
        }
    }
}

import BinaryCodec
import Commerce
import EventLog
import Foundation
import LMDB

/// Folding the log anew: the proof that views are a pure function of the log, and the way to
/// rebuild them while the ledger serves.
extension Ledger {
    public struct ProjectionMismatch: Sendable, Equatable, CustomStringConvertible {
        public let table: String
        public let key: [UInt8]
        public let live: [UInt8]?
        public let rebuilt: [UInt8]?

        public var description: String {
            func hex(_ b: [UInt8]?) -> String { b.map { Hex.encode($0) } ?? "(absent)" }
            return "\(table): first difference at key \(hex(key)): live \(hex(live)), rebuilt \(hex(rebuilt))"
        }
    }

    public struct TableSummary: Sendable, Equatable {
        public let table: String
        public let rows: Int
        /// CRC-32C over every key and value in key order: equal tables, equal checksums.
        public let checksum: UInt32
    }

    public struct RebuildReport: Sendable {
        public let projections: [String]
        public let events: Int
        public let head: UInt64
        public let seconds: Double
        public let tables: [TableSummary]
        public var eventsPerSecond: Double { seconds > 0 ? Double(events) / seconds : 0 }
    }

    public enum RebuildError: Error, CustomStringConvertible {
        case unknownProjection(String, known: [String])
        case concurrentRebuild(String)

        public var description: String {
            switch self {
            case let .unknownProjection(name, known): return "unknown projection \(name); known: \(known.joined(separator: ", "))"
            case let .concurrentRebuild(message): return message
            }
        }
    }

    /// Views that a rebuild can name besides the domain's projections, and the databases they
    /// write (user streams are indexed beside the users' rows).
    static let indexViews: [(name: String, bases: [String])] = [
        ("streams", [ViewTables.streamsBase, ProjectionDatabases.physicalName(of: .pointBalances)]),
        ("idempotency", [ViewTables.idempotencyBase]),
    ]

    /// Every view a rebuild can name, in the order they are applied.
    public var viewNames: [String] { projectionNames + Self.indexViews.map(\.name) }

    /// The physical databases each named view writes.
    func bases(of name: String) -> [String] {
        if let index = Self.indexViews.first(where: { $0.name == name }) { return index.bases }
        return projections.all.first { $0.name == name }.map { $0.tables.map(ProjectionDatabases.physicalName(of:)) } ?? []
    }

    /// The views whose tables live in a physical database (e.g. `proj.users`).
    public func projectionNames(writing database: String) -> [String] {
        viewNames.filter { bases(of: $0).contains(database) }
    }

    /// The named views plus every view sharing a database with them (a database becomes live as
    /// a whole, so they are rebuilt together). All of them when `names` is empty.
    public func projectionsToRebuild(_ names: [String]) throws -> [String] {
        let all = viewNames
        guard !names.isEmpty else { return all }
        for name in names where !all.contains(name) {
            throw RebuildError.unknownProjection(name, known: all)
        }
        var chosen = Set(names)
        while true {
            let bases = Set(chosen.flatMap(bases(of:)))
            let grown = Set(all.filter { name in self.bases(of: name).contains(where: bases.contains) })
            if grown == chosen { break }
            chosen = grown
        }
        return all.filter(chosen.contains)
    }

    func selection(_ names: [String]) -> ViewFold.Selection {
        let chosen = Set(names)
        let domain = chosen.intersection(projectionNames)
        return ViewFold.Selection(streams: chosen.contains("streams"), idempotency: chosen.contains("idempotency"),
                                  projections: domain.count == projections.all.count ? nil : domain)
    }

    // MARK: Rebuild

    /// Rebuilds views (all when `names` is empty) while the ledger serves:
    ///
    /// 1. fold the log from position 0 in memory (`BulkFold`, no lock held), and write the rows
    ///    in key order into a new generation of the chosen databases, in short write transactions
    ///    on the views (each holds the writer for about `chunkDuration`); again for what the log
    ///    gained meanwhile, until it is nearly all folded;
    /// 2. in one last write transaction: fold the rest, make the new generation live, drop the old.
    ///
    /// Queries see the old tables or the new ones, never a mix. Never re-decides anything (the
    /// issuance processor's decisions are events) and leaves subscriber checkpoints alone. One
    /// rebuild per ledger at a time: a second one fails at once instead of undoing the first.
    public func rebuildProjections(
        _ names: [String] = [], chunkDuration: Duration = .milliseconds(50),
        progress: (_ done: Int, _ total: UInt64) -> Void = { _, _ in }
    ) throws -> RebuildReport {
        let started = ContinuousClock.now
        let selected = try projectionsToRebuild(names)
        let selection = selection(selected)
        let bases = Set(selected.flatMap(bases(of:)))
        let lock = try RebuildLock(path: configuration.dataDirectory + "/rebuild.lock")
        defer { withExtendedLifetime(lock) {} }

        let current = try views.environment.read { try views.catalog.generations(in: $0) }
        var next = current
        // Two generations take turns: a process that serves beside rebuilds opens a handle for
        // each table name it meets and LMDB never frees one (128 at most), so new names each time
        // ran a server out of handles after a dozen rebuilds; a name it has met stays usable.
        for base in bases { next[base] = current[base] == 1 ? 2 : 1 }
        let target = try views.openGeneration(next)
        let targetDatabases = zip(ViewTables.physicalNames, target.physical).filter { bases.contains($0.0) }.map(\.1)
        // Left over by an interrupted rebuild, perhaps: start empty.
        try views.write { txn in for db in targetDatabases { try txn.clear(db) } }

        // The bulk: fold in memory against what the new tables hold so far, without the views'
        // writer, then write the rows in key order in short write transactions (appends, while the
        // tables are still empty). Again while a server keeps the log running ahead, or when the
        // memory budget cut a fold short.
        var folded = 0
        var last: UInt64 = 0
        while true {
            let after = last
            let (rows, filled, head) = try views.environment.read { v in
                let rows = WriteBuffer(over: v)
                return try log.environment.read { l in
                    let head = try log.head(in: l)
                    let bulk = BulkFold(fold: fold, tables: target, selection: selection)
                    let filled = try bulk.fill(rows, from: log, after: after, logTxn: l) { progress(folded + $0, head) }
                    return (rows, filled, head)
                }
            }
            try rows.prepare()
            var written = WriteBuffer.Progress.start
            while !written.isDone {
                let from = written
                written = try views.write { v in
                    let deadline = ContinuousClock.now + chunkDuration
                    return try rows.write(into: v, from: from) { ContinuousClock.now < deadline }
                }
                progress(folded + filled.events, head)
            }
            folded += filled.events
            last = filled.last ?? last
            if !filled.isFull, try log.head() - last <= 1_000 { break }
        }

        // The swap: the live views catch up first, so that the new generation and the tables it
        // does not replace stand at the same position.
        let (head, count, replaced) = try views.write { v -> (UInt64, Int, [Database]) in
            guard try views.catalog.generations(in: v) == current else {
                throw RebuildError.concurrentRebuild("the live views changed generation while this rebuild ran (another rebuild?); nothing was swapped")
            }
            let live = try views.catalog.resolve(in: v)
            let replaced = zip(ViewTables.physicalNames, live.physical).filter { bases.contains($0.0) }.map(\.1)
            return try log.environment.read { l in
                try views.foldGap(from: log, fold: fold, tables: live, views: v, logTxn: l)
                let head = try views.position(in: v).position
                var count = 0
                try log.forEach(after: last, in: l) { record in
                    guard record.position <= head else { return false }
                    try fold.apply(record, event: try record.commerceEvent(), to: target, in: v, selection: selection)
                    count += 1
                    return true
                }
                try views.catalog.setGenerations(next, in: v)
                // Emptied here, deleted below: LMDB closes a dropped database's handle at once,
                // even if the transaction then aborts (a full map at commit), and the retry of
                // this transaction would find the handle gone.
                for db in replaced { try v.clear(db) }
                return (head, count, replaced)
            }
        }
        folded += count
        views.catalog.forget(current)
        // Nobody reads the old tables any more; should this fail, empty tables stay behind.
        try? views.write { v in for db in replaced { try v.drop(db) } }
        progress(folded, head)
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        let tables = try summarize(databases: bases)
        return RebuildReport(projections: selected, events: folded, head: head, seconds: seconds, tables: tables)
    }

    // MARK: Verify

    /// Folds the whole log into a private environment and compares it with the live views at the
    /// same log position; returns the first difference of each database that differs.
    ///
    /// Takes no writer lock: the fold reads the log in read transactions, and the comparison
    /// happens in one read transaction of the views, after folding privately up to its position.
    public func verifyProjections(progress: (_ done: Int, _ total: UInt64) -> Void = { _, _ in }) throws -> [ProjectionMismatch] {
        let scratchPath = configuration.dataDirectory + "/verify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: scratchPath) }
        // Not durable, and mapped as large as the views may grow, so the fold never finds the map
        // full (without a writable map the file only grows as pages are written).
        let scratchEnv = try Environment.open(path: scratchPath, configuration: .init(
            mapSize: configuration.environment.maxMapSize, maxMapSize: configuration.environment.maxMapSize, durable: false))
        let scratch = try ViewTables { try scratchEnv.openDatabase($0) }

        // Everything up to where the views stood at the start, in large private transactions.
        var last: UInt64 = 0
        var folded = 0
        let start = try views.environment.read { try views.position(in: $0).position }
        func foldPrivately(through end: UInt64) throws {
            while last < end {
                let after = last
                // Folded against a snapshot (the fold's threads share it), written in one transaction.
                let (rows, filled) = try scratchEnv.read { txn -> (WriteBuffer, BulkFold.Filled) in
                    let rows = WriteBuffer(over: txn)
                    let filled = try log.environment.read { l in
                        try BulkFold(fold: fold, tables: scratch).fill(rows, from: log, after: after, through: end, logTxn: l) { progress(folded + $0, end) }
                    }
                    return (rows, filled)
                }
                try scratchEnv.write { txn in _ = try rows.write(into: txn) }
                let reached = filled.last ?? end
                if filled.events == 0 { break }
                folded += filled.events
                last = reached
                progress(folded, end)
            }
        }
        try foldPrivately(through: start)

        // Then, within one snapshot of the views: the little that came since, and the comparison.
        return try views.read { txn, live in
            try foldPrivately(through: try views.position(in: txn).position)
            return try scratchEnv.read { mine in
                var mismatches: [ProjectionMismatch] = []
                for (index, name) in ViewTables.physicalNames.enumerated() {
                    if let m = try firstDifference(name, live.physical[index], in: txn, scratch.physical[index], in: mine) { mismatches.append(m) }
                }
                return mismatches
            }
        }
    }

    func firstDifference(_ name: String, _ a: Database, in ta: Transaction, _ b: Database, in tb: Transaction) throws -> ProjectionMismatch? {
        let ca = try ta.cursor(a)
        let cb = try tb.cursor(b)
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

    // MARK: Summaries

    /// Row counts and checksums of the live tables: the domain's tables (a user-scoped one counted
    /// apart from the others it shares a database with) and the indexes.
    public func summarize() throws -> [TableSummary] {
        try summarize(databases: Set(ViewTables.physicalNames))
    }

    func summarize(databases bases: Set<String>) throws -> [TableSummary] {
        try views.read { txn, live in
            var out: [TableSummary] = []
            let store = LMDBProjectionStore(txn: txn, tables: live.projections)
            for table in ProjectionTable.allCases where bases.contains(ProjectionDatabases.physicalName(of: table)) {
                var summary = TableChecksum()
                try store.scanAll(table) { summary.add($0, $1) }
                out.append(TableSummary(table: table.rawValue, rows: summary.rows, checksum: summary.crc))
            }
            // The indexes: their own databases' rows, and for streams also the user streams' rows
            // kept in the users' database.
            func add(_ db: Database, to summary: inout TableChecksum, tag: UInt8? = nil) throws {
                let cursor = try txn.cursor(db)
                var entry = try cursor.first()
                while let e = entry {
                    if tag == nil || (e.key.count > 8 && e.key[8] == tag) { summary.add(e.key, e.value) }
                    entry = try cursor.next()
                }
            }
            if bases.contains(ViewTables.streamsBase) {
                var summary = TableChecksum()
                try add(live.physical[ViewTables.physicalNames.count - 2], to: &summary)
                try add(live.projections.users, to: &summary, tag: ProjectionDatabases.userStreamTag)
                out.append(TableSummary(table: ViewTables.streamsBase, rows: summary.rows, checksum: summary.crc))
            }
            if bases.contains(ViewTables.idempotencyBase) {
                var summary = TableChecksum()
                try add(live.idempotency.database, to: &summary)
                out.append(TableSummary(table: ViewTables.idempotencyBase, rows: summary.rows, checksum: summary.crc))
            }
            return out
        }
    }

    // MARK: Time travel

    /// The last position at or before a moment (0 when the log starts later).
    public func position(atOrBefore time: Timestamp) throws -> UInt64 {
        var last: UInt64 = 0
        try forEachEvent { record in
            guard record.timestamp <= time else { return false }
            last = record.position
            return true
        }
        return last
    }

    /// Writes a new ledger directory holding the log through `position` and its views: the ledger
    /// as it was then, to open read-only (`commerce balance --read-only --data DIR`).
    public func exportSnapshot(through position: UInt64, to directory: String, progress: (_ done: Int, _ total: UInt64) -> Void = { _, _ in }) throws -> RebuildReport {
        let started = ContinuousClock.now
        var config = configuration
        config.dataDirectory = directory
        config.readOnly = false
        config.recoveryProgress = nil
        let target = try Ledger(configuration: config, clock: clock)
        guard try target.head() == 0 else { throw LedgerError.unusable("\(directory) already holds a ledger; give an empty directory") }
        var importer = try EventLog.Importer(log: target.log)
        var copied: UInt64 = 0
        while copied < position {
            let batch = try events(after: copied, through: position, limit: 20_000)
            guard let end = batch.last?.position else { break }
            try importer.append(batch)
            copied = end
            progress(Int(copied), position)
        }
        let events = try target.catchUpViews()
        try target.checkpointViews()
        return RebuildReport(projections: viewNames, events: events, head: copied,
                             seconds: (ContinuousClock.now - started) / .seconds(1), tables: try target.summarize())
    }
}

/// Row count and CRC-32C over keys and values in key order.
private struct TableChecksum {
    var rows = 0
    var crc: UInt32 = 0

    mutating func add(_ key: [UInt8], _ value: [UInt8]) {
        key.withUnsafeBytes { k in value.withUnsafeBytes { v in add(k, v) } }
    }

    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        rows += 1
        crc = CRC32C.checksum(key, seed: crc)
        crc = CRC32C.checksum(value, seed: crc)
    }
}

/// One rebuild per ledger at a time, across processes.
private final class RebuildLock {
    private let fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw LedgerError.storeFailure("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw Ledger.RebuildError.concurrentRebuild("another rebuild of this ledger is running; try again when it is done")
        }
    }

    deinit { close(fd) }
}

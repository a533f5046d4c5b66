import BinaryCodec
import Commerce
import EventLog
import Foundation
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

    /// Folds events (after `after`, through `through`, at most `limit`) into `target` inside `txn`,
    /// applying only `only` when given. Events of a type this build does not know are skipped.
    /// Returns the last position folded.
    @discardableResult
    func fold(
        into target: ProjectionDatabases, after: UInt64 = 0, through: UInt64 = .max, txn: Transaction,
        limit: Int = .max, only: Set<String>? = nil, counted: () -> Void = {}
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
            if let only, only.count < projections.all.count {
                try projections.apply(recorded, to: store, only: only)
            } else {
                try projections.apply(recorded, to: store)
            }
            last = record.position
            return true
        }
        return last
    }

    /// Folds the whole log into scratch tables and compares them with the live ones; returns the
    /// first difference of each database that differs. The scratch fold is never committed.
    public func verifyProjections() throws -> [ProjectionMismatch] {
        let scratch = try catalog.open(.init(), create: true, prefix: "scratch.")
        var mismatches: [ProjectionMismatch] = []
        struct Abort: Error {}
        while true {
            do {
                try environment.write { txn -> Void in
                    let live = try catalog.resolve(in: txn)
                    mismatches = []
                    for db in scratch.physical { try txn.clear(db) }
                    try fold(into: scratch, through: try log.head(in: txn), txn: txn)
                    for (l, r) in zip(live.physical, scratch.physical) {
                        if let m = try firstDifference(ProjectionCatalog.baseName(l.name), l, r, txn: txn) { mismatches.append(m) }
                    }
                    throw Abort()
                }
            } catch is Abort {
                return mismatches
            } catch let needs as ProjectionCatalog.NeedsHandles {
                try catalog.open(needs.generations, create: false)
            }
        }
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

    // MARK: Rebuild

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
        public var description: String {
            switch self {
            case let .unknownProjection(name, known): return "unknown projection \(name); known: \(known.joined(separator: ", "))"
            }
        }
    }

    /// The projections whose tables live in a physical database (e.g. `proj.users`).
    public func projectionNames(writing database: String) -> [String] {
        projections.all.filter { $0.tables.contains { ProjectionCatalog.physicalName(of: $0) == database } }.map(\.name)
    }

    /// The named projections plus every projection that shares a database with them (they are
    /// rebuilt together, since a database becomes live as a whole).
    public func projectionsToRebuild(_ names: [String]) throws -> [String] {
        let all = projections.all
        guard !names.isEmpty else { return all.map(\.name) }
        for name in names where !all.contains(where: { $0.name == name }) {
            throw RebuildError.unknownProjection(name, known: all.map(\.name))
        }
        var chosen = Set(names)
        var bases = Set<String>()
        while true {
            bases = Set(all.filter { chosen.contains($0.name) }.flatMap { $0.tables.map(ProjectionCatalog.physicalName(of:)) })
            let grown = Set(all.filter { p in p.tables.contains { bases.contains(ProjectionCatalog.physicalName(of: $0)) } }.map(\.name))
            if grown == chosen { break }
            chosen = grown
        }
        return all.map(\.name).filter(chosen.contains)
    }

    /// Folds already-read records into `target` inside `txn` (of any environment).
    func apply(_ records: [EventRecord], into target: ProjectionDatabases, txn: Transaction, only: Set<String>) throws {
        let store = LMDBProjectionStore(txn: txn, tables: target)
        let everything = only.count >= projections.all.count
        for record in records {
            let event = try CommerceEvent.decode(type: record.type, schemaVersion: record.schemaVersion, payload: record.payload)
            let recorded = RecordedEvent(position: record.position, timestamp: record.timestamp, event: event)
            if everything {
                try projections.apply(recorded, to: store)
            } else {
                try projections.apply(recorded, to: store, only: only)
            }
        }
    }

    /// Rebuilds projections (all when `names` is empty) without holding the writer for long:
    ///
    /// 1. fold the whole log, read in read transactions, into a scratch environment of its own
    ///    (not durable, large transactions: each page is written about once);
    /// 2. copy the folded tables, in key order, into a new generation of the live databases, in
    ///    chunks (the new generation is not live yet, so chunks are harmless);
    /// 3. fold what was appended meanwhile into the new generation, in chunks, until little is left;
    /// 4. in one short write transaction: fold the rest, make the new generation live, record the
    ///    projections' positions and drop the old generation.
    ///
    /// Queries see the old tables or the new ones, never a mix. Safe while a server writes to the
    /// same environment. Never re-decides anything: the issuance processor's decisions are events,
    /// and subscriber checkpoints are left alone.
    public func rebuildProjections(_ names: [String] = [], chunk: Int = 1_000_000, progress: (_ done: Int, _ total: UInt64) -> Void = { _, _ in }) throws -> RebuildReport {
        let started = ContinuousClock.now
        let selected = try projectionsToRebuild(names)
        let only = Set(selected)
        let bases = Set(projections.all.filter { only.contains($0.name) }.flatMap { $0.tables.map(ProjectionCatalog.physicalName(of:)) })
        let (current, totalAtStart) = try environment.read { txn in (try catalog.generations(in: txn), try log.head(in: txn)) }
        var progressTotal = totalAtStart

        // 1. Fold into a scratch environment.
        let scratchPath = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-rebuild-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: scratchPath) }
        var folded = 0
        var last: UInt64 = 0
        do {
            let scratchEnv = try Environment(path: scratchPath, configuration: .init(
                mapSize: configuration.environment.mapSize, maxMapSize: configuration.environment.maxMapSize, durable: false))
            let scratch = try ProjectionDatabases(environment: scratchEnv, create: true) { $0 }
            while true {
                // The environment re-runs this closure when the map must grow, so it only returns
                // what it did; nothing outside changes until the commit succeeded.
                let start = last
                let (inChunk, end) = try scratchEnv.write { txn -> (Int, UInt64) in
                    var inChunk = 0
                    var cursor = start
                    while inChunk < chunk {
                        let after = cursor
                        let page = try environment.read { try log.read(after: after, limit: min(50_000, chunk - inChunk), in: $0) }
                        if page.isEmpty { break }
                        try apply(page, into: scratch, txn: txn, only: only)
                        inChunk += page.count
                        cursor = page.last?.position ?? cursor
                        progress(folded + inChunk, max(progressTotal, cursor))
                    }
                    return (inChunk, cursor)
                }
                folded += inChunk
                last = end
                progressTotal = max(progressTotal, last)
                if inChunk < chunk { break }
            }

            // 2. Copy into a new generation of the live databases.
            let generation = (ProjectionCatalog.physicalNames.map { current[$0] }.max() ?? 0) + 1
            var next = current
            for base in bases { next[base] = generation }
            let target = try catalog.open(next, create: true, prefix: "")
            let copies = zip(scratch.physical, target.physical).filter { bases.contains(ProjectionCatalog.baseName($0.1.name)) }
            try environment.write { txn in for (_, live) in copies { try txn.clear(live) } }
            for (from, to) in copies {
                var resume: [UInt8]?
                repeat {
                    let rows = try scratchEnv.read { txn -> [([UInt8], [UInt8])] in
                        let cursor = try txn.cursor(from)
                        var out: [([UInt8], [UInt8])] = []
                        var entry = try resume.map { try cursor.seek(atOrAfter: $0) } ?? cursor.first()
                        if let r = resume, let e = entry, e.key.elementsEqual(r) { entry = try cursor.next() }
                        while let e = entry, out.count < 200_000 {
                            out.append((Array(e.key), Array(e.value)))
                            entry = try cursor.next()
                        }
                        return out
                    }
                    if rows.isEmpty { break }
                    try environment.write { txn in
                        for (key, value) in rows { try txn.put(to, key, value, flags: .append) }
                    }
                    resume = rows.last?.0
                } while true
            }

            // 3. Catch up in chunks while the new generation is still private.
            while true {
                let head = try log.head()
                if head - last <= 2_000 { break }
                let after = last
                let (count, end) = try environment.write { txn -> (Int, UInt64) in
                    var count = 0
                    let end = try fold(into: target, after: after, through: head, txn: txn, limit: 20_000, only: only) { count += 1 }
                    return (count, end)
                }
                folded += count
                last = end
                progressTotal = max(progressTotal, head)
                progress(folded, progressTotal)
            }

            // 4. The swap.
            let after = last
            let (head, count) = try environment.write { txn -> (UInt64, Int) in
                var count = 0
                let head = try log.head(in: txn)
                _ = try fold(into: target, after: after, through: head, txn: txn, only: only) { count += 1 }
                let old = try catalog.resolve(in: txn)
                try catalog.setGenerations(next, in: txn)
                for projection in projections.all where only.contains(projection.name) {
                    try txn.put(projectionPositions, Array(projection.name.utf8), Keys.uint64(head))
                }
                for db in old.physical where bases.contains(ProjectionCatalog.baseName(db.name)) {
                    try txn.drop(db)
                }
                return (head, count)
            }
            folded += count
            catalog.forget(current)
            progress(folded, head)
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            let tables = try summarize(tables: ProjectionTable.allCases.filter { t in projections.all.contains { only.contains($0.name) && $0.tables.contains(t) } })
            return RebuildReport(projections: selected, events: folded, head: head, seconds: seconds, tables: tables)
        }
    }

    /// Row counts and checksums of live tables.
    public func summarize(tables: [ProjectionTable] = ProjectionTable.allCases) throws -> [TableSummary] {
        try withLiveTables { txn, live in
            try tables.map { table in
                let store = LMDBProjectionStore(txn: txn, tables: live)
                var rows = 0
                var crc: UInt32 = 0
                try store.scanAll(table) { key, value in
                    rows += 1
                    key.withUnsafeBytes { crc = CRC32C.checksum($0, seed: crc) }
                    value.withUnsafeBytes { crc = CRC32C.checksum($0, seed: crc) }
                }
                return TableSummary(table: table.rawValue, rows: rows, checksum: crc)
            }
        }
    }

    // MARK: Time travel

    /// The last position at or before a moment (0 when the log starts later).
    public func position(atOrBefore time: Timestamp) throws -> UInt64 {
        try environment.read { txn in
            var last: UInt64 = 0
            try log.forEach(after: 0, in: txn) { record in
                guard record.timestamp <= time else { return false }
                last = record.position
                return true
            }
            return last
        }
    }

    /// Writes a new ledger directory holding the log through `position` and its projections: the
    /// views as they were then, to open read-only (`commerce balance --read-only --data DIR`).
    public func exportSnapshot(through position: UInt64, to directory: String, progress: (_ done: Int, _ total: UInt64) -> Void = { _, _ in }) throws -> RebuildReport {
        let started = ContinuousClock.now
        var config = configuration
        config.dataDirectory = directory
        config.readOnly = false
        let target = try Ledger(configuration: config, clock: clock)
        guard try target.log.head() == 0 else { throw LedgerError.storeFailure("\(directory) already holds a ledger; give an empty directory") }
        var copied: UInt64 = 0
        while copied < position {
            let batch = try environment.read { try log.read(after: copied, limit: 20_000, in: $0) }.filter { $0.position <= position }
            if batch.isEmpty { break }
            try target.environment.write { txn in
                var appender = try EventLog.Appender(log: target.log, txn: txn)
                for record in batch { try appender.appendCopy(of: record, in: txn) }
            }
            copied = batch.last?.position ?? copied
            progress(Int(copied), position)
        }
        let report = try target.rebuildProjections(progress: progress)
        return RebuildReport(projections: report.projections, events: report.events, head: copied,
                             seconds: (ContinuousClock.now - started) / .seconds(1), tables: report.tables)
    }
}

extension LMDBProjectionStore {
    /// Every row of a table in key order (a user-scoped table across all users).
    func scanAll(_ table: ProjectionTable, _ body: ([UInt8], [UInt8]) throws -> Void) throws {
        let cursor = try txn.cursor(tables[table])
        var entry = try cursor.first()
        let tag = tables.tag(of: table)
        while let e = entry {
            if let tag {
                if e.key.count >= 9, e.key[8] == tag {
                    var key = Array(e.key.prefix(8))
                    key.append(contentsOf: e.key.dropFirst(9))
                    try body(key, Array(e.value))
                }
            } else {
                try body(Array(e.key), Array(e.value))
            }
            entry = try cursor.next()
        }
    }
}

import BinaryCodec
import EventLog
import Foundation
import LMDB
import Synchronization

/// The views: every table a fold of the log can rebuild (projections, the stream index, the
/// idempotency index, subscriber checkpoints, the position they reflect), in an LMDB environment
/// of their own that commits without syncing.
///
/// What it promises after a crash: after a process crash, exactly what was committed (the page
/// cache survives), at most one batch behind the log, which the next writer folds in. After an
/// operating-system crash or a power loss, nothing: the marker (`UnsyncedViewsMarker`) says so,
/// and the ledger rebuilds them from the log before serving. `checkpoint()` syncs them in the
/// background and clears the marker when a sync covered every commit.
final class ViewStore: Sendable {
    let environment: Environment
    let catalog: ProjectionCatalog
    let meta: Database
    let checkpoints: CheckpointTable
    let marker: UnsyncedViewsMarker

    static let positionKey = Array("position".utf8)
    static let logIdentityKey = Array("log-identity".utf8)
    static let signatureKey = Array("fold-signature".utf8)

    init(environment: Environment, marker: UnsyncedViewsMarker) throws {
        self.environment = environment
        self.marker = marker
        // Creating a database is a commit like any other: the marker goes first. Opening one
        // that exists writes nothing (a process that only reads leaves no marker).
        let open: ProjectionCatalog.Opener = { name, create in
            do {
                return try environment.openDatabase(name, create: false)
            } catch let error as LMDBError where error.isNotFound && create && !environment.configuration.readOnly {
                try marker.ensurePresent()
                return try environment.openDatabase(name, create: true)
            }
        }
        meta = try open("views.meta", true)
        checkpoints = CheckpointTable(database: try open("views.checkpoints", true))
        catalog = try ProjectionCatalog(environment: environment, meta: meta, openDatabase: open)
    }

    /// The log position the views reflect, and the checksum of the record there (0 and 0 for
    /// views of an empty log): a log whose record at that position differs is not the one folded.
    struct Position: Equatable, Sendable {
        var position: UInt64
        var checksum: UInt32

        static let empty = Position(position: 0, checksum: 0)
    }

    func position(in txn: Transaction) throws -> Position {
        try txn.withValue(meta, Self.positionKey) { raw -> Position in
            guard raw.count == 12, let position = Keys.readUInt64(raw) else { return .empty }
            let checksum = UInt32(raw[8]) << 24 | UInt32(raw[9]) << 16 | UInt32(raw[10]) << 8 | UInt32(raw[11])
            return Position(position: position, checksum: checksum)
        } ?? .empty
    }

    func setPosition(_ p: Position, in txn: Transaction) throws {
        var value = Keys.uint64(p.position)
        withUnsafeBytes(of: p.checksum.bigEndian) { value.append(contentsOf: $0) }
        try txn.put(meta, Self.positionKey, value)
    }

    func logIdentity(in txn: Transaction) throws -> [UInt8]? {
        try txn.get(meta, Self.logIdentityKey)
    }

    func setLogIdentity(_ identity: [UInt8], in txn: Transaction) throws {
        try txn.put(meta, Self.logIdentityKey, identity)
    }

    /// The `ViewFold.signature` the views were folded under.
    func signature(in txn: Transaction) throws -> String? {
        try txn.get(meta, Self.signatureKey).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Opens (creating) the databases of a generation a rebuild is about to fill.
    func openGeneration(_ generations: ProjectionCatalog.Generations) throws -> ViewTables {
        try marker.ensurePresent()
        return try catalog.open(generations, create: true)
    }

    /// Runs `body` in a read transaction with the live tables.
    func read<R>(_ body: (Transaction, ViewTables) throws -> R) throws -> R {
        while true {
            do {
                return try environment.read { txn in try body(txn, try catalog.resolve(in: txn)) }
            } catch let needs as ProjectionCatalog.NeedsHandles {
                try catalog.open(needs.generations, create: false)
            }
        }
    }

    /// One write transaction on the views, never run twice: the marker goes on disk first, since
    /// the commit will not be synced. The caller handles a full map and `NeedsHandles`.
    func writeOnce<R>(_ body: (Transaction) throws -> R) throws -> R {
        try environment.writeOnce { txn in
            try marker.ensurePresent()
            wrote.withLock { $0 = true }
            return try body(txn)
        }
    }

    /// Whether this process has written the views (and so should sync them before it leaves).
    var hasWritten: Bool { wrote.withLock { $0 } }
    private let wrote = Mutex(false)

    /// `writeOnce`, run again after growing a full map or opening a new generation's handles;
    /// `body` must have no effects outside the transaction.
    func write<R>(_ body: (Transaction) throws -> R) throws -> R {
        while true {
            do {
                return try writeOnce(body)
            } catch let needs as ProjectionCatalog.NeedsHandles {
                try catalog.open(needs.generations, create: false)
            } catch let error as LMDBError where error.isMapFull {
                try environment.grow(after: error)
            }
        }
    }

    /// Grows the map before a batch when less than a sixteenth of it (at least 1 MiB, or a quarter
    /// of a smaller map) is left,
    /// and refuses the batch (a full map or disk) when it cannot. The views commit after the log,
    /// so running out of room should happen before the log's commit, not at the views' own: a
    /// commit needs a few pages of its own, and a batch that found none is durable in the log but
    /// missing from the views until room is made (the next batch folds it in first).
    func ensureHeadroom() throws {
        let info = environment.info()
        let margin = max(info.mapSize / 16, min(1 << 20, info.mapSize / 4))
        guard info.mapSize - info.usedBytes < margin, !environment.configuration.readOnly else { return }
        try environment.grow(after: .mapFull("keeping \(margin) bytes of the views' map free", environment: environment.path))
    }

    /// Syncs every commit so far to disk, off the writers' path; when no commit came in meanwhile,
    /// clears the marker under the writer lock (no commit can slip in between the check and the
    /// removal). Returns true when the views on disk are then known complete.
    @discardableResult
    func checkpoint() throws -> Bool {
        guard !environment.configuration.readOnly, marker.isPresent else { return true }
        let synced = environment.lastTransactionId
        try environment.sync()
        guard environment.lastTransactionId == synced else { return false }
        struct Unchanged: Error {}
        var cleared = false
        do {
            try environment.writeOnce { _ in
                if environment.lastTransactionId == synced {
                    marker.remove()
                    cleared = true
                }
                throw Unchanged()  // nothing to commit: abort, releasing the lock
            }
        } catch is Unchanged {}
        return cleared
    }

    /// Folds whatever the log holds beyond the views into them, in chunks of at most `budget`
    /// bytes of rows. Each chunk is folded in memory against a snapshot of the views (without
    /// their writer), then written in key order in one write transaction that records the
    /// position reached (an interrupted catch-up resumes there). A chunk whose snapshot is no
    /// longer the newest commit when it is written (another process wrote) is folded again;
    /// a full map only writes it again. Returns how many events were folded.
    @discardableResult
    func catchUp(with log: EventLog, fold: ViewFold, budget: Int = BulkFold.memoryBudget,
                 progress: (_ done: Int, _ head: UInt64) -> Void = { _, _ in }) throws -> Int {
        var folded = 0
        while true {
            // A look first: views that are current need no write (and leave no marker).
            let (at, identity, signed) = try environment.read { (try position(in: $0).position, try logIdentity(in: $0), try signature(in: $0) != nil) }
            let head = try log.head()
            if identity != nil, signed, at >= head { return folded }
            let chunk = try read { v, tables -> CatchUpChunk in
                let rows = WriteBuffer(over: v)
                let after = try position(in: v).position
                return try log.environment.read { l in
                    let bulk = BulkFold(fold: fold, tables: tables, budget: budget)
                    let filled = try bulk.fill(rows, from: log, after: after, logTxn: l) { progress(folded + $0, head) }
                    let reached = try filled.last.flatMap { p in try log.checksum(at: p, in: l).map { Position(position: p, checksum: $0) } }
                    return CatchUpChunk(rows: rows, events: filled.events, reached: reached, snapshot: try v.id)
                }
            }
            let written = try write { w -> Bool in
                guard try w.id == chunk.snapshot + 1 else { return false }
                // Views are stamped with whose log and which fold they hold when they are begun.
                if try logIdentity(in: w) == nil { try setLogIdentity(log.identity, in: w) }
                if try signature(in: w) == nil { try w.put(meta, Self.signatureKey, Array(fold.signature.utf8)) }
                _ = try chunk.rows.write(into: w)
                if let reached = chunk.reached { try setPosition(reached, in: w) }
                return true
            }
            guard written else { continue }
            folded += chunk.events
            if chunk.events == 0 { return folded }
            progress(folded, head)
        }
    }

    /// A catch-up's rows, folded against the views as of `snapshot` (a transaction id).
    private struct CatchUpChunk {
        let rows: WriteBuffer
        let events: Int
        let reached: Position?
        let snapshot: Int
    }

    /// The catch-up rule, inside the caller's transactions: folds up to `limit` events after the
    /// views' position into `tables` and records the position reached. Returns how many were
    /// folded (0 when the views are current).
    @discardableResult
    func foldGap(from log: EventLog, fold: ViewFold, tables: ViewTables, views v: Transaction, logTxn l: Transaction, limit: Int = .max) throws -> Int {
        let at = try position(in: v)
        var count = 0
        var last: EventRecord?
        try log.forEach(after: at.position, in: l) { record in
            guard count < limit else { return false }
            try fold.apply(record, event: try record.commerceEvent(), to: tables, in: v)
            count += 1
            last = record
            return true
        }
        if let last, let checksum = try log.checksum(at: last.position, in: l) {
            try setPosition(.init(position: last.position, checksum: checksum), in: v)
        }
        return count
    }
}

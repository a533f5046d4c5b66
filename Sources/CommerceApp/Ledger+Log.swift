import BinaryCodec
import Commerce
import EventLog
import Foundation
import LMDB

/// Reading, checking, copying and backing up the log, for the adapters (HTTP routes, CLI tools):
/// they go through these, never through the storage itself.
extension Ledger {
    /// The position of the newest event, 0 for an empty log.
    public func head() throws -> UInt64 {
        try log.head()
    }

    public func event(at position: UInt64) throws -> EventRecord? {
        try log.environment.read { try log.event(at: position, in: $0) }
    }

    /// Up to `limit` events with a position in (`after`, `through`] that match `filter`, in order.
    /// A stream filter is served by the stream index.
    public func events(after: UInt64, through: UInt64 = .max, limit: Int, filter: EventLog.Filter = .init()) throws -> [EventRecord] {
        try eventPage(after: after, through: through, limit: limit, filter: filter, scanLimit: .max).records
    }

    /// A page of a filtered read and how far it looked: every event in (`after`, `scannedThrough`]
    /// was examined, so the next page starts at `scannedThrough` even when nothing matched.
    public struct EventPage: Sendable {
        public let records: [EventRecord]
        public let scannedThrough: UInt64
    }

    /// Up to `limit` events in (`after`, `through`] that match `filter`, examining at most
    /// `scanLimit` events: a filter that matches little would otherwise walk the whole log in one
    /// request (half a second per million events, holding a thread every other request needs).
    public func eventPage(
        after: UInt64, through: UInt64 = .max, limit: Int, filter: EventLog.Filter = .init(), scanLimit: Int = 16_384
    ) throws -> EventPage {
        let scanLimit = Swift.max(scanLimit, limit)
        guard let stream = filter.stream else {
            let reach = after.addingReportingOverflow(UInt64(scanLimit))
            return try log.environment.read { txn in
                let through = Swift.min(reach.overflow ? .max : reach.partialValue, through, try log.head(in: txn))
                let records = try log.read(after: after, through: through, limit: limit, filter: filter, in: txn)
                return EventPage(records: records, scannedThrough: records.count == limit ? records.last?.position ?? after : Swift.max(through, after))
            }
        }
        // The index is read first: every position it names is then in the log read after it.
        let positions = try views.read { txn, tables in
            let first = try tables.streams.firstVersion(after: after, of: stream, in: txn)
            // Without a type filter every position read is returned, so `limit` of them suffice.
            return try tables.streams.positions(of: stream, fromVersion: first, limit: filter.types == nil ? limit : scanLimit, in: txn)
        }
        return try log.environment.read { txn in
            var out: [EventRecord] = []
            var scanned = after
            for position in positions where position > after {
                guard out.count < limit, position <= through else { break }
                guard let record = try log.event(at: position, in: txn) else {
                    throw LedgerError.storeFailure("the stream index of \(stream) names position \(position), which the log does not hold")
                }
                if filter.matches(record) { out.append(record) }
                scanned = position
            }
            // The index is a view that may lag the log: only positions it named count as looked at.
            return EventPage(records: out, scannedThrough: scanned)
        }
    }

    /// Visits every event after `position` in order, in one read transaction, while `body` returns true.
    public func forEachEvent(after position: UInt64 = 0, _ body: (EventRecord) throws -> Bool) throws {
        try log.environment.read { try log.forEach(after: position, in: $0, body) }
    }

    /// Every event after `position`, then each new one as it is committed (by this process at once,
    /// by another within `pollInterval`).
    /// The log position the views (and so the stream index) have folded up to.
    public func foldedPosition() throws -> UInt64 {
        try views.environment.read { try views.position(in: $0).position }
    }

    /// Returns once this process committed past `position`, or after `timeout` (another process's
    /// appends are only seen by looking again).
    public func waitForHead(above position: UInt64, timeout: Duration) async {
        await log.notifier.wait(above: position, timeout: timeout)
    }

    public func subscribe(after position: UInt64, pollInterval: Duration = .milliseconds(50)) -> EventLog.Subscription {
        log.subscribe(after: position, pollInterval: pollInterval)
    }

    /// Checks the whole log (checksums, gapless positions, contiguous stream versions) and that
    /// every event of a known type decodes. Returns the events checked and the first problem.
    public func verifyLog() throws -> (events: Int, problem: EventLog.Problem?) {
        try log.environment.read { txn in
            try log.verify(in: txn) { r in _ = try r.commerceEvent() }
        }
    }

    /// Every record's checksum and the positions' order, without decoding: what a server checks
    /// before it serves. Returns the records checked and the first problem.
    public func checkLogChecksums() throws -> (events: Int, problem: EventLog.Problem?) {
        try log.environment.read { try log.verifyChecksums(in: $0) }
    }

    // MARK: Copies

    /// Appends records exported from another ledger (in order, from position 1) to this one's
    /// empty log, in batches, then folds them into the views.
    public func importEvents(_ records: some Sequence<EventRecord>, batchSize: Int = 10_000) throws -> Int {
        var importer = try EventLog.Importer(log: log)
        var batch: [EventRecord] = []
        var count = 0
        for record in records {
            batch.append(record)
            if batch.count == batchSize {
                try importer.append(batch)
                count += batch.count
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty {
            try importer.append(batch)
            count += batch.count
        }
        try catchUpViews()
        return count
    }

    /// Folds whatever the log holds beyond the views into them, in chunks.
    @discardableResult
    public func catchUpViews(progress: (Int, UInt64) -> Void = { _, _ in }) throws -> Int {
        try views.catchUp(with: log, fold: fold, progress: progress)
    }

    /// A consistent, compacted copy of the ledger in `directory` (new or empty), safe while
    /// writers run: the views first, then the log, so the copy's views are never ahead of its log
    /// (the copy catches them up when it is opened). Returns the events the copied log holds.
    public func backup(to directory: String) throws -> UInt64 {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for sub in ["log", "views"] {
            guard !fm.fileExists(atPath: "\(directory)/\(sub)/data.mdb") else { throw LedgerError.unusable("\(directory) already holds a ledger") }
            try fm.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        try views.environment.copy(to: directory + "/views", compact: true)
        try log.environment.copy(to: directory + "/log", compact: true)
        for file in ["views/data.mdb", "log/data.mdb", "views", "log", ""] { try FileSync.sync(directory + "/" + file) }
        var config = configuration
        config.dataDirectory = directory
        config.readOnly = true
        let copy = try Ledger(configuration: config, clock: clock)
        return try copy.head()
    }

    // MARK: Storage

    public struct StorageReport: Sendable {
        public struct Part: Sendable {
            /// Bytes the data file occupies on disk (allocated blocks, not its apparent size).
            public let bytesOnDisk: Int
            public let mapBytes: Int
            public let mapUsedBytes: Int
        }

        public let log: Part
        public let views: Part
    }

    public func storage() -> StorageReport {
        func part(_ env: Environment) -> StorageReport.Part {
            let info = env.info()
            var st = stat()
            let onDisk = stat(env.path + "/data.mdb", &st) == 0 ? Int(st.st_blocks) * 512 : 0
            return .init(bytesOnDisk: onDisk, mapBytes: info.mapSize, mapUsedBytes: info.usedBytes)
        }
        return StorageReport(log: part(log.environment), views: part(views.environment))
    }

    // MARK: Subscriber checkpoints

    public func checkpoint(_ name: String) throws -> UInt64? {
        try views.environment.read { try views.checkpoints.position(of: name, in: $0) }
    }

    /// Moves a checkpoint forward only: another instance of the subscriber may have moved it on.
    public func advanceCheckpoint(_ name: String, to position: UInt64) throws {
        try views.write { txn in
            if try views.checkpoints.position(of: name, in: txn) ?? 0 < position {
                try views.checkpoints.set(name, to: position, in: txn)
            }
        }
    }
}

/// fsync of a file or directory by path, for copies that must be on disk before they are used.
enum FileSync {
    static func sync(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LedgerError.storeFailure("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw LedgerError.storeFailure("cannot sync \(path): \(String(cString: strerror(errno)))") }
    }
}

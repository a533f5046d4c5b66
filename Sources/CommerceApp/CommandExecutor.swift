import BinaryCodec
import Commerce
import EventLog
import LMDB

/// Where a command becomes durable.
///
/// A batch of commands (the group commit) runs in two write transactions, always taken in the
/// same order, views first, then the log:
///
/// 1. Views behind the log (a crash between the two commits of an earlier batch, or another
///    process that appended) are caught up by folding the gap.
/// 2. Each command is decided against the views as they stand, including the batch's earlier
///    commands; its events are appended to the log's transaction and folded into the views'.
/// 3. The log commits, with a sync: from here the batch is durable.
/// 4. The views commit, without a sync.
/// 5. Only then are the callers answered.
///
/// A query reads the views, so it never sees an effect whose events are not durable. A crash
/// between 3 and 4 loses nothing: the next batch (or the next open) folds those events in.
final class CommandExecutor: Sendable {
    let log: EventLog
    let views: ViewStore
    let fold: ViewFold
    let rules: CommerceRules
    let clock: any LedgerClock
    let readOnly: Bool
    let idempotencyRetention: Int64
    let afterLogCommit: (@Sendable () throws -> Void)?
    let commandIds = CommandIdSource()

    init(log: EventLog, views: ViewStore, fold: ViewFold, rules: CommerceRules, clock: any LedgerClock,
         readOnly: Bool, idempotencyRetention: Int64, afterLogCommit: (@Sendable () throws -> Void)?) {
        self.idempotencyRetention = idempotencyRetention
        self.log = log
        self.views = views
        self.fold = fold
        self.rules = rules
        self.clock = clock
        self.readOnly = readOnly
        self.afterLogCommit = afterLogCommit
    }

    /// Decides and writes `jobs` in one group commit; sets each job's outcome.
    ///
    /// A job that fails while writing (not a rule refusing it: a storage error) must not take its
    /// batch down: the batch is aborted and run again without it. Decisions are pure functions of
    /// the state in the transactions, and no caller has been answered yet, so nothing is lost.
    /// A full map aborts the batch, which runs again after the map grew.
    /// Returns the log's head after the batch.
    @discardableResult
    func execute(_ jobs: [WriterJob]) throws -> UInt64 {
        guard !readOnly else {
            for job in jobs { job.outcome = .failure(LedgerError.readOnly) }
            return log.notifier.head
        }
        var excluded = Set<Int>()
        try views.ensureHeadroom()
        while true {
            var committedHead: UInt64?
            do {
                let head = try views.writeOnce { v -> UInt64 in
                    let head = try log.environment.writeOnce { l -> UInt64 in
                        let tables = try views.catalog.resolve(in: v)
                        try views.foldGap(from: log, fold: fold, tables: tables, views: v, logTxn: l)
                        var appender = try EventLog.Appender(log: log, txn: l, streams: tables.streams, streamTxn: v)
                        let before = appender.head
                        // Read in this transaction: another process may have changed them.
                        let rules = try ChargeLimits.read(from: log, in: l)?.applied(to: rules) ?? rules
                        for (index, job) in jobs.enumerated() where !excluded.contains(index) {
                            job.outcome = try run(job, index: index, rules: rules, tables: tables, appender: &appender, views: v, log: l)
                        }
                        if appender.head != before {
                            try views.setPosition(.init(position: appender.head, checksum: appender.headChecksum), in: v)
                        }
                        return appender.head
                    }
                    committedHead = head
                    do { try afterLogCommit?() } catch { throw SimulatedCrash(error: error) }
                    return head
                }
                log.notifier.publish(head: head)
                return head
            } catch let crash as SimulatedCrash {
                // A test stopped this batch between the two commits, as a crash would: the views
                // commit is abandoned, nothing folds the batch in, and no caller hears of it.
                throw crash.error
            } catch {
                if let head = committedHead {
                    // The log committed: every job's outcome stands and its events are durable. The
                    // views missed this batch: fold it in now if they can take it, so the callers
                    // read what they are told; otherwise the next write (or open) will.
                    if let full = error as? LMDBError, full.isMapFull { try? views.environment.grow(after: full) }
                    try? views.catchUp(with: log, fold: fold)
                    log.notifier.publish(head: head)
                    return head
                }
                switch error {
                case let needs as ProjectionCatalog.NeedsHandles:
                    // A rebuild made new tables live since this process last looked.
                    try views.catalog.open(needs.generations, create: false)
                case let failure as JobWriteFailure:
                    excluded.insert(failure.index)
                    jobs[failure.index].outcome = .failure(LedgerError.storeFailure("\(failure.error)"))
                case let full as LMDBError where full.isMapFull:
                    try (full.environment == log.environment.path ? log.environment : views.environment).grow(after: full)
                default:
                    throw error
                }
            }
        }
    }

    /// What the `afterLogCommit` test hook threw.
    struct SimulatedCrash: Error {
        let error: Error
    }

    /// A storage failure of one job, which aborts the batch so it can run again without it.
    struct JobWriteFailure: Error {
        let index: Int
        let error: Error
    }

    private func run(
        _ job: WriterJob, index: Int, rules: CommerceRules, tables: ViewTables, appender: inout EventLog.Appender, views v: Transaction, log l: Transaction
    ) throws -> Result<WriterJob.Output, Error> {
        let mark = appender.mark()
        do {
            return .success(try perform(job, rules: rules, tables: tables, appender: &appender, views: v, log: l))
        } catch let error as CommerceError {
            // Rules refuse before anything is written.
            appender.rollback(to: mark)
            return .failure(error)
        } catch let error as LMDBError where error.isMapFull {
            throw error
        } catch let error as ProjectionCatalog.NeedsHandles {
            throw error
        } catch {
            appender.rollback(to: mark)
            throw JobWriteFailure(index: index, error: error)
        }
    }

    private func perform(
        _ job: WriterJob, rules: CommerceRules, tables: ViewTables, appender: inout EventLog.Appender, views v: Transaction, log l: Transaction
    ) throws -> WriterJob.Output {
        let handler = CommandHandler(store: LMDBProjectionStore(txn: v, tables: tables.projections), rules: rules)
        switch job.kind {
        case let .command(command, key):
            if let key, !IdempotencyIndex.isValid(key) {
                throw CommerceError(.invalidInput, "an idempotency key is 1 to 255 printable ASCII characters")
            }
            // Only a keyed command needs its canonical bytes (to tell a retry from a reuse).
            let fingerprint = key == nil ? nil : command.encoded()
            let now = clock.now()
            if let key, let fingerprint,
               let replay = try replay(key: key, fingerprint: fingerprint, now: now, handler: handler, tables: tables, views: v, log: l) {
                return .command(replay)
            }
            let events = try handler.decide(command, now: now)
            let recorded = try append(events, key: key, fingerprint: fingerprint, now: now, appender: &appender, tables: tables, views: v)
            let result = try handler.answer(to: recorded)
            return .command(CommandOutcome(result: result, replayed: false, firstPosition: recorded.first?.position ?? appender.head, eventCount: events.count))
        case let .processIssueRequests(through):
            return .processed(requests: try processIssueRequests(through: through, handler: handler, appender: &appender, tables: tables, views: v, log: l))
        case let .expireIdempotencyKeys(limit):
            return .expired(keys: try expireIdempotencyKeys(limit: limit, appender: &appender, tables: tables, views: v))
        }
    }

    /// Appends a decision's events to the log and folds them into the views, in the batch's transactions.
    private func append(
        _ events: [CommerceEvent], key: String?, fingerprint: [UInt8]?, now: Timestamp,
        appender: inout EventLog.Appender, tables: ViewTables, views v: Transaction
    ) throws -> [RecordedEvent] {
        let newEvents = events.map { event -> NewEvent in
            let e = event.encoded()
            return NewEvent(stream: e.stream, type: e.type, schemaVersion: e.schemaVersion, payload: e.payload)
        }
        let metadata = AppendMetadata(timestamp: now, commandId: commandIds.next(), idempotencyKey: key, commandFingerprint: fingerprint)
        let records = try appender.append(newEvents, metadata: metadata)
        var recorded: [RecordedEvent] = []
        recorded.reserveCapacity(records.count)
        for (record, event) in zip(records, events) {
            let r = RecordedEvent(position: record.position, timestamp: record.timestamp, event: event)
            // The appender indexed the stream already; the rest of the fold is the same as a rebuild's.
            try fold.applyToProjectionsAndKeys(r, record: record, to: tables, in: v)
            recorded.append(r)
        }
        return recorded
    }

    /// The first answer again when `key` was seen with the same command; `IDEMPOTENCY_KEY_REUSED`
    /// when it was seen with another. Rendered from the events the first command recorded.
    private func replay(
        key: String, fingerprint: [UInt8], now: Int64, handler: CommandHandler<LMDBProjectionStore>, tables: ViewTables, views v: Transaction, log l: Transaction
    ) throws -> CommandOutcome? {
        guard let first = try tables.idempotency.firstPosition(of: key, in: v), first > 0 else { return nil }
        var records: [EventRecord] = []
        try log.forEach(after: first - 1, in: l) { record in
            guard records.isEmpty || record.commandId == records[0].commandId else { return false }
            records.append(record)
            return true
        }
        guard let head = records.first, head.position == first, head.idempotencyKey == key else {
            throw LedgerError.storeFailure("the idempotency index points key \(key.debugDescription) at position \(first), which does not hold it")
        }
        // Past its retention a key is free again, whether or not its row is still here.
        guard head.timestamp > now - idempotencyRetention else { return nil }
        guard head.commandFingerprint == fingerprint else {
            throw CommerceError(.idempotencyKeyReused, "idempotency key \(key.debugDescription) was used for a different command")
        }
        let recorded = try records.map { RecordedEvent(position: $0.position, timestamp: $0.timestamp, event: try $0.commerceEvent()) }
        return CommandOutcome(result: try handler.answer(to: recorded), replayed: true, firstPosition: first, eventCount: records.count)
    }

    /// Removes up to `limit` keys older than the retention: one log record names them (so a
    /// rebuild removes the same), folded like any other. Returns how many it removed.
    private func expireIdempotencyKeys(limit: Int, appender: inout EventLog.Appender, tables: ViewTables, views v: Transaction) throws -> Int {
        let now = clock.now()
        let keys = try tables.idempotency.expired(through: now - idempotencyRetention - IdempotencyIndex.clockSlack, limit: limit, in: v)
        guard !keys.isEmpty else { return 0 }
        let metadata = AppendMetadata(timestamp: now, commandId: commandIds.next(), idempotencyKey: nil, commandFingerprint: nil)
        for record in try appender.append([IdempotencyIndex.expiryRecord(keys)], metadata: metadata) {
            let recorded = RecordedEvent(position: record.position, timestamp: record.timestamp, event: try record.commerceEvent())
            try fold.applyToProjectionsAndKeys(recorded, record: record, to: tables, in: v)
        }
        return keys.count
    }

    /// The issuance processor: decides queued coupon requests strictly in log order, then moves
    /// its checkpoint in the same transaction. A request already decided (its checkpoint was lost
    /// with rebuilt views) is skipped: the decision is in the log and in the request's view.
    private func processIssueRequests(
        through: UInt64, handler: CommandHandler<LMDBProjectionStore>,
        appender: inout EventLog.Appender, tables: ViewTables, views v: Transaction, log l: Transaction
    ) throws -> Int {
        let checkpoint = try views.checkpoints.position(of: Ledger.issuerCheckpoint, in: v) ?? 0
        guard through > checkpoint else { return 0 }
        var requests: [CouponIssueRequested] = []
        try log.forEach(after: checkpoint, in: l) { record in
            guard record.position <= through else { return false }
            if record.type == CouponIssueRequested.type, case let .couponIssueRequested(request) = try record.commerceEvent() {
                requests.append(request)
            }
            return true
        }
        var decided = 0
        for request in requests where try handler.views.issueRequest(request.requestId)?.status == .pending {
            let now = clock.now()
            let decision = try handler.decide(request: request, now: now)
            _ = try append([decision], key: nil, fingerprint: nil, now: now, appender: &appender, tables: tables, views: v)
            decided += 1
        }
        try views.checkpoints.set(Ledger.issuerCheckpoint, to: through, in: v)
        return decided
    }
}

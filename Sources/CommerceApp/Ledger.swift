import BinaryCodec
import Commerce
import EventLog
import LMDB

/// The ledger in one LMDB environment: the event log, the projection tables kept inline with it,
/// and idempotency records. Commands are decided and appended in write transactions; queries read
/// in read transactions and never wait for the writer.
public final class Ledger: Sendable {
    public let configuration: LedgerConfiguration
    public let environment: Environment
    public let log: EventLog
    public let clock: any LedgerClock
    let catalog: ProjectionCatalog
    let idempotency: Database
    let projectionPositions: Database
    let projections: CommerceProjections
    public let statistics = WriterStatistics()
    let commandIds = CommandIdSource()
    let bestSellerCache = BestSellerCache()
    /// The calendar the ledger counts days in (the configured zone).
    public let calendar: DayCalendar

    /// Name of the issuance processor's durable checkpoint.
    public static let issuerCheckpoint = "coupon-issuer"

    public init(configuration: LedgerConfiguration, clock: any LedgerClock = SystemClock()) throws {
        var envConfig = configuration.environment
        envConfig.readOnly = configuration.readOnly
        self.configuration = configuration
        self.clock = clock
        environment = try Environment(path: configuration.dataDirectory, configuration: envConfig)
        log = try EventLog(environment: environment)
        catalog = try ProjectionCatalog(environment: environment)
        idempotency = try environment.openDatabase("ledger.idempotency")
        projectionPositions = try environment.openDatabase("ledger.projection_positions")
        projections = CommerceProjections(rules: configuration.rules)
        calendar = DayCalendar(timeZoneIdentifier: configuration.rules.timeZoneIdentifier)
    }

    public var projectionNames: [String] { projections.all.map(\.name) }

    // MARK: Executing a batch

    /// Decides and writes `jobs` in one durable transaction; sets each job's outcome.
    ///
    /// A job that fails while writing (not a rule refusing it: a storage error) must not take its
    /// batch down. With `isolateCommands` each job runs in a nested transaction; without, the
    /// batch is aborted and run again without the failing job — decisions are pure functions of
    /// the state in the transaction, and no caller has been answered yet, so nothing is lost.
    /// A full map aborts the batch, which the environment retries after growing the map.
    func execute(_ jobs: [WriterJob]) throws {
        guard !configuration.readOnly else {
            for job in jobs { job.outcome = .failure(LedgerError.readOnly) }
            return
        }
        let started = ContinuousClock.now
        var excluded = Set<Int>()
        var head: UInt64 = 0
        while true {
            do {
                head = try environment.write { txn -> UInt64 in
                    let tables = try catalog.resolve(in: txn)
                    var appender = try EventLog.Appender(log: log, txn: txn)
                    let before = appender.head
                    for (index, job) in jobs.enumerated() where !excluded.contains(index) {
                        job.outcome = try run(job, index: index, tables: tables, appender: &appender, txn: txn)
                    }
                    if appender.head != before {
                        for projection in projections.all {
                            try txn.put(projectionPositions, Array(projection.name.utf8), Keys.uint64(appender.head))
                        }
                    }
                    return appender.head
                }
                break
            } catch let needs as ProjectionCatalog.NeedsHandles {
                // A rebuild made new tables live since this process last looked.
                try catalog.open(needs.generations, create: false)
            } catch let failure as JobWriteFailure {
                excluded.insert(failure.index)
                jobs[failure.index].outcome = .failure(LedgerError.storeFailure("\(failure.error)"))
            }
        }
        statistics.record(batch: jobs.count, duration: ContinuousClock.now - started)
        log.notifier.publish(head: head)
    }

    /// A storage failure of one job, which aborts the batch so it can run again without it.
    struct JobWriteFailure: Error {
        let index: Int
        let error: Error
    }

    private func run(
        _ job: WriterJob, index: Int, tables: ProjectionDatabases, appender: inout EventLog.Appender, txn: Transaction
    ) throws -> Result<WriterJob.Output, Error> {
        let mark = appender.mark()
        do {
            if configuration.isolateCommands {
                return .success(try txn.nested { child in try perform(job, tables: tables, appender: &appender, txn: child) })
            }
            return .success(try perform(job, tables: tables, appender: &appender, txn: txn))
        } catch let error as CommerceError {
            // Rules refuse before anything is written.
            appender.rollback(to: mark)
            return .failure(error)
        } catch let error as LMDBError where error.isMapFull {
            throw error
        } catch {
            appender.rollback(to: mark)
            if configuration.isolateCommands { return .failure(LedgerError.storeFailure("\(error)")) }
            throw JobWriteFailure(index: index, error: error)
        }
    }

    private func perform(_ job: WriterJob, tables: ProjectionDatabases, appender: inout EventLog.Appender, txn: Transaction) throws -> WriterJob.Output {
        let store = LMDBProjectionStore(txn: txn, tables: tables)
        let handler = CommandHandler(store: store, rules: configuration.rules)
        switch job.kind {
        case let .command(command, key):
            // Only a keyed command needs its canonical bytes (to tell a retry from a reuse).
            let encoded = key == nil ? [] : command.encoded()
            if let key, let replay = try replay(key: key, command: encoded, txn: txn) {
                return .command(replay)
            }
            let now = clock.now()
            let events = try handler.decide(command, now: now)
            let first = try append(events, key: key, now: now, appender: &appender, store: store, txn: txn)
            let result = try handler.result(of: command, events: events)
            if let key {
                var w = BinaryWriter(capacity: 64 + encoded.count)
                w.write(bytes: encoded)
                w.write(varint: first)
                w.write(varint: UInt64(events.count))
                w.write(bytes: result.encoded())
                try txn.put(idempotency, Array(key.utf8), w.bytes)
            }
            return .command(CommandOutcome(result: result, replayed: false, firstPosition: first, eventCount: events.count))
        case let .processIssueRequests(through):
            return .processed(requests: try processIssueRequests(through: through, handler: handler, appender: &appender, store: store, txn: txn))
        }
    }

    /// Appends a decision's events and folds them into every projection, in the same transaction.
    private func append(
        _ events: [CommerceEvent], key: String?, now: Timestamp,
        appender: inout EventLog.Appender, store: LMDBProjectionStore, txn: Transaction
    ) throws -> UInt64 {
        let newEvents = events.map { event -> NewEvent in
            let e = event.encoded()
            return NewEvent(stream: e.stream, type: e.type, schemaVersion: e.schemaVersion, payload: e.payload)
        }
        let metadata = AppendMetadata(timestamp: now, commandId: commandIds.next(), idempotencyKey: key)
        let records = try appender.append(newEvents, metadata: metadata, in: txn)
        for (record, event) in zip(records, events) {
            let recorded = RecordedEvent(position: record.position, timestamp: record.timestamp, event: event)
            try projections.apply(recorded, to: store)
        }
        return records.first?.position ?? appender.head
    }

    private func replay(key: String, command: [UInt8], txn: Transaction) throws -> CommandOutcome? {
        guard let stored = try txn.get(idempotency, Array(key.utf8)) else { return nil }
        return try stored.decode { r in
            let original = try r.readBytes()
            guard original == command else {
                throw CommerceError(.idempotencyKeyReused, "idempotency key \(key.debugDescription) was used for a different command")
            }
            let first = try r.readVarUInt()
            let count = try r.readVarUInt()
            let result = try CommandResult.decode(try r.readBytes())
            return CommandOutcome(result: result, replayed: true, firstPosition: first, eventCount: Int(count))
        }
    }

    /// The issuance processor: decides queued coupon requests strictly in log order, then moves
    /// its checkpoint in the same transaction, so each request is decided exactly once.
    private func processIssueRequests(
        through: UInt64, handler: CommandHandler<LMDBProjectionStore>,
        appender: inout EventLog.Appender, store: LMDBProjectionStore, txn: Transaction
    ) throws -> Int {
        let checkpoint = try log.checkpoint(Self.issuerCheckpoint, in: txn) ?? 0
        guard through > checkpoint else { return 0 }
        var requests: [CouponIssueRequested] = []
        try log.forEach(after: checkpoint, in: txn) { record in
            guard record.position <= through else { return false }
            if record.type == CouponIssueRequested.type,
               case let .couponIssueRequested(request) = try CommerceEvent.decode(type: record.type, schemaVersion: record.schemaVersion, payload: record.payload) {
                requests.append(request)
            }
            return true
        }
        for request in requests {
            let now = clock.now()
            let decision = try handler.decide(request: request, now: now)
            _ = try append([decision], key: nil, now: now, appender: &appender, store: store, txn: txn)
        }
        try log.setCheckpoint(Self.issuerCheckpoint, to: through, in: txn)
        return requests.count
    }

    // MARK: Synchronous use (CLI, tools)

    /// Decides one command in its own durable transaction on the calling thread.
    public func execute(_ command: CommerceCommand, idempotencyKey: String? = nil) throws -> CommandOutcome {
        let job = WriterJob(.command(command, idempotencyKey: idempotencyKey))
        try executeMapped([job])
        switch try job.outcome?.get() {
        case let .command(outcome)?: return outcome
        default: throw LedgerError.storeFailure("no outcome")
        }
    }

    /// Decides many commands in one durable transaction on the calling thread (import, tools,
    /// benchmarks): the same group commit the writer does, without its queue.
    public func execute(batch commands: [CommerceCommand]) throws -> [Result<CommandOutcome, Error>] {
        let jobs = commands.map { WriterJob(.command($0, idempotencyKey: nil)) }
        try executeMapped(jobs)
        return jobs.map { job in
            switch job.outcome {
            case let .success(.command(outcome))?: return .success(outcome)
            case let .failure(error)?: return .failure(error)
            default: return .failure(LedgerError.storeFailure("no outcome"))
            }
        }
    }

    /// Runs the issuance processor once over everything logged so far.
    @discardableResult
    public func processIssueRequests() throws -> Int {
        let job = WriterJob(.processIssueRequests(through: try log.head()))
        try executeMapped([job])
        switch try job.outcome?.get() {
        case let .processed(n)?: return n
        default: return 0
        }
    }

    /// `execute`, with a full map at its maximum turned into `LedgerError.storeFull`.
    func executeMapped(_ jobs: [WriterJob]) throws {
        do {
            try execute(jobs)
        } catch let error as LMDBError where error.isMapFull {
            throw LedgerError.storeFull(error.description)
        } catch let error as LMDBError {
            throw LedgerError.storeFailure(error.description)
        }
    }
}

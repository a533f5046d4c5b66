import BinaryCodec
import Commerce
import EventLog
import Foundation
import LMDB

/// A ledger in a data directory: the durable event log (`log/`, the truth) and the views folded
/// from it (`views/`, rebuildable). Commands are decided and appended by the `CommandExecutor`;
/// queries read the views in read transactions and never wait for the writer.
///
/// Opening recovers: views behind the log are caught up by folding the gap; views that may be
/// torn, belong to another log or are ahead of it are rebuilt from the log before the ledger
/// serves (`recovery` says which happened and why).
public final class Ledger: Sendable {
    public let configuration: LedgerConfiguration
    public let clock: any LedgerClock
    let log: EventLog
    let views: ViewStore
    let projections: CommerceProjections
    let fold: ViewFold
    let executor: CommandExecutor
    public let statistics = WriterStatistics()
    let bestSellerCache = BestSellerCache()
    /// The calendar the ledger counts days in (the configured zone).
    public let calendar: DayCalendar
    /// The zone this ledger counts calendar days in, as recorded with its log.
    public let timeZoneIdentifier: String
    /// What opening found and did to the views.
    public let recovery: ViewRecovery
    private let viewsLock: ViewsLock

    /// Name of the issuance processor's checkpoint.
    public static let issuerCheckpoint = "coupon-issuer"

    public init(configuration: LedgerConfiguration, clock: any LedgerClock = SystemClock()) throws {
        self.configuration = configuration
        self.clock = clock
        let readOnly = configuration.readOnly
        let directory = configuration.dataDirectory
        if readOnly {
            guard FileManager.default.fileExists(atPath: configuration.logPath + "/data.mdb") else {
                throw LedgerError.unusable("\(directory) holds no ledger (no log/data.mdb)")
            }
        } else {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try LegacyLayout.migrate(directory, logConfiguration: configuration.logEnvironment)
        }
        switch Environment.checkFile(in: configuration.logPath) {
        case let .truncated(bytes, needed):
            throw LedgerError.unusable("the log in \(configuration.logPath) was cut short (\(bytes) of \(needed) bytes); restore it from a backup")
        case .unreadable:
            throw LedgerError.unusable("\(configuration.logPath)/data.mdb is not a readable ledger log; restore it from a backup")
        case .missing, .complete:
            break
        }
        do {
            log = try EventLog(environment: Environment.open(path: configuration.logPath, configuration: configuration.logEnvironment),
                               identity: configuration.logIdentity)
        } catch let error as EventLogError {
            throw LedgerError.unusable("\(configuration.logPath): \(error)")
        }
        let (zone, changed) = try Self.timeZone(of: log, configuration)
        guard let calendar = DayCalendar(timeZoneIdentifier: zone) else { throw LedgerError.unusable("unknown time zone \(zone)") }
        self.calendar = calendar
        timeZoneIdentifier = zone
        projections = CommerceProjections(calendar: calendar)
        fold = ViewFold(projections: projections, signature: ViewFold.signature(timeZone: zone))
        viewsLock = try ViewsLock(path: directory + "/views.lock", readOnly: readOnly)
        let marker = UnsyncedViewsMarker(path: directory + "/views.unsynced")
        let opening = ViewOpening(configuration: configuration, log: log, marker: marker, fold: fold)
        if !readOnly, viewsLock.tryExclusive() {
            // Alone with the views: they may be checked and, if they cannot be trusted, replaced.
            if changed { try log.setSetting(Self.timeZoneSetting, to: zone) }
            (views, recovery) = try opening.openAlone()
            try viewsLock.shared()
        } else {
            if changed {
                throw LedgerError.unusable("another process uses \(directory): stop it before applying the time zone \(zone)")
            }
            try viewsLock.shared()
            (views, recovery) = try opening.openShared()
        }
        // Last, once nothing else can refuse the open: a refused open changes no limit.
        if !readOnly { try ChargeLimits.record(in: log, configuration) }
        executor = CommandExecutor(log: log, views: views, fold: fold, rules: configuration.rules, clock: clock,
                                   readOnly: readOnly, idempotencyRetention: configuration.idempotencyRetention,
                                   afterLogCommit: configuration.afterLogCommit)
    }

    deinit {
        // A process that wrote the views leaves them synced (a CLI command, a test); one that only
        // read leaves them alone.
        if views.hasWritten { try? views.checkpoint() }
    }

    public var projectionNames: [String] { projections.all.map(\.name) }


    static let timeZoneSetting = "time-zone"

    /// The zone recorded with the log (recorded now for a new ledger), and whether the caller
    /// applies another one (to be recorded once this process is alone with the views); a zone the
    /// caller insists on without applying it is refused.
    static func timeZone(of log: EventLog, _ configuration: LedgerConfiguration) throws -> (zone: String, changed: Bool) {
        let wanted = configuration.timeZone ?? configuration.rules.timeZoneIdentifier
        guard DayCalendar(timeZoneIdentifier: wanted) != nil else { throw LedgerError.unusable("unknown time zone \(wanted)") }
        guard let recorded = try log.setting(timeZoneSetting) else {
            if !configuration.readOnly { try log.setSetting(timeZoneSetting, to: wanted) }
            return (wanted, false)
        }
        guard let insisted = configuration.timeZone, insisted != recorded else { return (recorded, false) }
        guard configuration.applyTimeZone, !configuration.readOnly else {
            throw LedgerError.unusable("this ledger counts calendar days in \(recorded), not \(insisted); leave out --time-zone, or apply \(insisted) with `commerce-rebuild --data \(configuration.dataDirectory) --time-zone \(insisted)` while nothing else uses the ledger")
        }
        return (insisted, true)
    }

    /// Syncs the views and clears their unsynced-writes marker when nothing was committed
    /// meanwhile (the server calls it every second and at shutdown).
    @discardableResult
    public func checkpointViews() throws -> Bool {
        try views.checkpoint()
    }
}

extension LedgerConfiguration {
    var logEnvironment: Environment.Configuration {
        var config = environment
        config.readOnly = readOnly
        config.writeMap = false
        return config
    }

    var viewsEnvironment: Environment.Configuration {
        var config = environment
        config.readOnly = readOnly
        config.durable = false
        config.writeMap = viewsWriteMap
        return config
    }
}

import Commerce
import LMDB

public struct LedgerConfiguration: Sendable {
    public var dataDirectory: String
    /// The log's environment: map sizes (the views' grow the same way) and `durable`, which only
    /// throwaway ledgers (tests folding thousands of them) turn off.
    public var environment: Environment.Configuration
    public var rules: CommerceRules
    /// Most commands decided in one write transaction (one fsync).
    public var maxBatchSize: Int
    public var readOnly: Bool
    /// Write the views through a writable memory map (`MDB_WRITEMAP`); measured faster, see README.
    public var viewsWriteMap: Bool
    /// The zone calendar days are counted in, when the caller insists on one. A ledger records its
    /// zone when it is made (`rules.timeZoneIdentifier` unless this says otherwise) and opening it
    /// with another is refused, unless `applyTimeZone`: then the new zone is recorded and the
    /// views are folded anew in it.
    public var timeZone: String?
    /// How long an idempotency key is remembered, in milliseconds from its command's time: a
    /// retry within it gets the first answer; after it, the key counts as unused.
    public var idempotencyRetention: Int64 = LedgerConfiguration.defaultIdempotencyRetention
    public static let defaultIdempotencyRetention: Int64 = 7 * 86_400_000
    public var applyTimeZone: Bool = false
    /// Charge limits the caller sets (`--min-charge`, `--max-balance`). The limits are the
    /// ledger's: a new ledger records `rules`' values; a value set here replaces the recorded one
    /// and applies to every process writing the ledger from its next batch. Nil: keep the ledger's.
    public var setMinCharge: Int64?
    public var setMaxBalance: Int64?
    /// The identity a new log is made with (a read replica takes its leader's); an existing log
    /// with another is refused. Nil: a new ledger gets a random one.
    public var logIdentity: [UInt8]?
    /// Called while the views are being rebuilt or caught up at open, with events done and total.
    public var recoveryProgress: (@Sendable (_ done: Int, _ total: UInt64) -> Void)?
    /// For tests: runs after a batch's log commit and before its views commit; throwing stands for
    /// a crash between the two.
    public var afterLogCommit: (@Sendable () throws -> Void)?

    public init(
        dataDirectory: String,
        environment: Environment.Configuration = .init(),
        rules: CommerceRules = .init(),
        maxBatchSize: Int = 2048,
        readOnly: Bool = false,
        viewsWriteMap: Bool = true
    ) {
        self.dataDirectory = dataDirectory
        self.environment = environment
        self.rules = rules
        self.maxBatchSize = maxBatchSize
        self.readOnly = readOnly
        self.viewsWriteMap = viewsWriteMap
    }

    var logPath: String { dataDirectory + "/log" }
    var viewsPath: String { dataDirectory + "/views" }
}

/// Failures of the store itself, as opposed to a command the rules refuse.
public enum LedgerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The map reached its configured maximum, or the disk refused a write: retry later.
    case storeFull(String)
    case storeFailure(String)
    case shuttingDown
    case readOnly
    /// The data directory cannot be served as it is (e.g. views that need a rebuild, opened read-only).
    case unusable(String)

    public var description: String {
        switch self {
        case let .storeFull(m): return "the store cannot take more writes: \(m)"
        case let .storeFailure(m): return "the store failed: \(m)"
        case .shuttingDown: return "the ledger is shutting down"
        case .readOnly: return "the ledger is open read-only"
        case let .unusable(m): return m
        }
    }
}

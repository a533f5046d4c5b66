import Commerce
import LMDB

public struct LedgerConfiguration: Sendable {
    public var dataDirectory: String
    public var environment: Environment.Configuration
    public var rules: CommerceRules
    /// Most commands decided in one write transaction (one fsync).
    public var maxBatchSize: Int
    /// Decide each command in a nested transaction, so a storage failure in one leaves the
    /// rest of its batch intact. Off, the batch is instead re-run without the failing command,
    /// which costs nothing until a failure happens; the benchmark measures both.
    public var isolateCommands: Bool
    public var readOnly: Bool

    public init(
        dataDirectory: String,
        environment: Environment.Configuration = .init(),
        rules: CommerceRules = .init(),
        maxBatchSize: Int = 2048,
        isolateCommands: Bool = false,
        readOnly: Bool = false
    ) {
        self.dataDirectory = dataDirectory
        self.environment = environment
        self.rules = rules
        self.maxBatchSize = maxBatchSize
        self.isolateCommands = isolateCommands
        self.readOnly = readOnly
    }
}

/// Failures of the store itself, as opposed to a command the rules refuse.
public enum LedgerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The map reached its configured maximum, or the disk refused a write: retry later.
    case storeFull(String)
    case storeFailure(String)
    case shuttingDown
    case readOnly

    public var description: String {
        switch self {
        case let .storeFull(m): return "the store cannot take more writes: \(m)"
        case let .storeFailure(m): return "the store failed: \(m)"
        case .shuttingDown: return "the ledger is shutting down"
        case .readOnly: return "the ledger is open read-only"
        }
    }
}

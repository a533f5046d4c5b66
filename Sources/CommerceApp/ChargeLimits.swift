import Commerce
import EventLog
import LMDB

/// The smallest charge and the largest balance a charge may leave belong to the ledger, not to
/// a process: they are recorded with the log, so a command-line charge on the directory a server
/// uses obeys the same limits as the server. The writer reads them in each batch's transaction,
/// so a change made by any process applies to every writer from its next batch.
struct ChargeLimits: Equatable {
    var minCharge: Int64
    var maxBalance: Int64

    static let setting = "charge-limits"

    /// Records the limits a new ledger starts with (`rules`' values) or the ones the caller sets,
    /// both in one setting so that no reader sees half a change, read, merged and written in one
    /// write transaction so that two processes opening at once do not write back each other's
    /// stale copy.
    static func record(in log: EventLog, _ configuration: LedgerConfiguration) throws {
        // Nothing to set on a ledger that has them: no write lock for a read command.
        if configuration.setMinCharge == nil, configuration.setMaxBalance == nil, try parse(log.setting(setting)) != nil { return }
        try log.environment.write { txn in
            let recorded = try parse(log.setting(setting, in: txn))
            var limits = recorded ?? ChargeLimits(minCharge: configuration.rules.minChargeAmount, maxBalance: configuration.rules.maxBalance)
            if let minCharge = configuration.setMinCharge { limits.minCharge = minCharge }
            if let maxBalance = configuration.setMaxBalance { limits.maxBalance = maxBalance }
            guard limits.minCharge >= 1, limits.minCharge <= limits.maxBalance else {
                throw LedgerError.unusable("the smallest charge (\(limits.minCharge) won) must be at least 1 and at most the largest balance (\(limits.maxBalance) won)")
            }
            if limits != recorded { try log.setSetting(setting, to: "\(limits.minCharge) \(limits.maxBalance)", in: txn) }
        }
    }

    static func read(from log: EventLog, in txn: Transaction) throws -> ChargeLimits? {
        try parse(log.setting(setting, in: txn))
    }

    private static func parse(_ text: String?) -> ChargeLimits? {
        guard let parts = text?.split(separator: " "), parts.count == 2,
              let minCharge = Int64(parts[0]), let maxBalance = Int64(parts[1]) else { return nil }
        return ChargeLimits(minCharge: minCharge, maxBalance: maxBalance)
    }

    func applied(to rules: CommerceRules) -> CommerceRules {
        var rules = rules
        rules.minChargeAmount = minCharge
        rules.maxBalance = maxBalance
        return rules
    }
}

import ArgumentParser
import Commerce
import CommerceApp
import CommerceHTTP
import Foundation
import LedgerJSON

/// Where the ledger lives and the rules it enforces; shared by every subcommand.
public struct LedgerOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("data"), help: "Data directory (env COMMERCE_DATA).")
    public var dataDirectory: String = ProcessInfo.processInfo.environment["COMMERCE_DATA"] ?? "./data"

    @Option(help: "Initial LMDB map size in MiB; it doubles on demand (env COMMERCE_MAP_SIZE_MB).")
    var mapSizeMb: Int = Int(ProcessInfo.processInfo.environment["COMMERCE_MAP_SIZE_MB"] ?? "") ?? 256

    @Option(help: "Largest LMDB map size in MiB (env COMMERCE_MAX_MAP_SIZE_MB).")
    var maxMapSizeMb: Int = Int(ProcessInfo.processInfo.environment["COMMERCE_MAX_MAP_SIZE_MB"] ?? "") ?? 65_536

    @Option(name: .customLong("time-zone"), help: "Time zone of calendar days for a new ledger (default Asia/Seoul); an existing one keeps the zone it was made with, and a different one is refused (commerce-rebuild --time-zone applies it) (env COMMERCE_TIME_ZONE).")
    var timeZoneOption: String?

    @Flag(help: "Open the data directory read-only (e.g. a snapshot made by commerce-rebuild --until).")
    public var readOnly = false

    @Option(name: .customLong("min-charge"), help: "Sets the ledger's smallest charge in won, recorded in it for every process using it (10,000 for a new ledger) (env COMMERCE_MIN_CHARGE).")
    var minChargeOption: Int64?

    @Option(name: .customLong("max-balance"), help: "Sets the ledger's largest balance a charge may leave, in won, recorded in it for every process using it (10,000,000 for a new ledger) (env COMMERCE_MAX_BALANCE).")
    var maxBalanceOption: Int64?

    @Option(help: "Hours an idempotency key is remembered from its command's time; a retry after that is a new command (env COMMERCE_IDEMPOTENCY_RETENTION_HOURS).")
    var idempotencyRetentionHours: Int64 = Int64(ProcessInfo.processInfo.environment["COMMERCE_IDEMPOTENCY_RETENTION_HOURS"] ?? "") ?? 168

    // The option, else its environment variable (an optional option cannot take a default).
    public var timeZone: String? { timeZoneOption ?? ProcessInfo.processInfo.environment["COMMERCE_TIME_ZONE"] }
    var minCharge: Int64? { minChargeOption ?? Int64(ProcessInfo.processInfo.environment["COMMERCE_MIN_CHARGE"] ?? "") }
    var maxBalance: Int64? { maxBalanceOption ?? Int64(ProcessInfo.processInfo.environment["COMMERCE_MAX_BALANCE"] ?? "") }

    public func validate() throws {
        try checkNumericEnvironment(integers: ["COMMERCE_MAP_SIZE_MB", "COMMERCE_MAX_MAP_SIZE_MB", "COMMERCE_MIN_CHARGE",
                                               "COMMERCE_MAX_BALANCE", "COMMERCE_IDEMPOTENCY_RETENTION_HOURS"])
        // 16 TiB: far beyond any disk here, and far from overflowing when turned into bytes.
        guard mapSizeMb <= 16 << 20, maxMapSizeMb <= 16 << 20 else { throw ValidationError("--map-size-mb and --max-map-size-mb must be at most 16777216 (16 TiB)") }
        guard (1...87_600).contains(idempotencyRetentionHours) else { throw ValidationError("--idempotency-retention-hours must be 1 to 87600") }
        guard mapSizeMb >= 1, maxMapSizeMb >= mapSizeMb else { throw ValidationError("--map-size-mb must be ≥ 1 and ≤ --max-map-size-mb") }
        if let timeZone, !DayCalendar.isValid(timeZoneIdentifier: timeZone) { throw ValidationError("unknown time zone \(timeZone)") }
        if let minCharge, minCharge < 1 { throw ValidationError("--min-charge must be ≥ 1") }
        if let maxBalance, maxBalance < 1 { throw ValidationError("--max-balance must be ≥ 1") }
        if let minCharge, let maxBalance, maxBalance < minCharge { throw ValidationError("--min-charge must be ≤ --max-balance") }
    }

    public var configuration: LedgerConfiguration {
        var configuration = LedgerConfiguration(
            dataDirectory: dataDirectory,
            environment: .init(mapSize: mapSizeMb << 20, maxMapSize: maxMapSizeMb << 20),
            readOnly: readOnly)
        configuration.setMinCharge = minCharge
        configuration.setMaxBalance = maxBalance
        configuration.timeZone = timeZone
        configuration.idempotencyRetention = idempotencyRetentionHours * 3_600_000
        return configuration
    }

    /// Opens the ledger; `mustExist` refuses a directory that holds no ledger instead of creating one.
    /// `applyTimeZone`: `--time-zone` replaces the ledger's recorded zone (its views are then folded anew).
    public func open(mustExist: Bool = false, applyTimeZone: Bool = false) throws -> Ledger {
        var isDirectory: ObjCBool = false
        if mustExist || readOnly {
            guard FileManager.default.fileExists(atPath: dataDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CLIError.store("no data directory at \(dataDirectory)")
            }
            // `data.mdb` at the top: a ledger of the single-environment layout, moved at open.
            guard FileManager.default.fileExists(atPath: dataDirectory + "/log/data.mdb") || FileManager.default.fileExists(atPath: dataDirectory + "/data.mdb") else {
                throw CLIError.store("\(dataDirectory) is not a ledger (no log/data.mdb)")
            }
        }
        var config = configuration
        config.applyTimeZone = applyTimeZone
        // Folding a whole log can take a while: show it, but stay quiet for a small catch-up.
        let progress = ProgressReporter(label: "views")
        config.recoveryProgress = { done, total in if total >= 100_000 { progress.update(done: done, total: total) } }
        let ledger: Ledger
        do {
            ledger = try Ledger(configuration: config)
        } catch {
            throw CLIError.store("cannot open the ledger in \(dataDirectory): \(error)")
        }
        if case .rebuilt = ledger.recovery {
            FileHandle.standardError.write(Data("note: \(ledger.recovery)\n".utf8))
        }
        return ledger
    }
}

/// One line on stderr and an exit code that says what kind of failure it was.
public enum CLIError: Error {
    case refused(CommerceError)
    case usage(String)
    case store(String)
}

extension ParsableCommand {
    /// Runs `body`, printing its JSON on success and one error line on failure.
    public func run(_ body: () throws -> JSONValue) throws {
        try runPrinting { print(try body().render()) }
    }

    /// Runs `body`; any failure becomes one line on stderr and an exit code by kind:
    /// 1 refused by the rules (or a failed check), 2 bad usage, 3 the store failed.
    public func runPrinting(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as CommerceError {
            fail("\(error.code.rawValue): \(error.message)", code: 1)
        } catch CLIError.refused(let error) {
            fail("\(error.code.rawValue): \(error.message)", code: 1)
        } catch CLIError.usage(let message) {
            fail(message, code: 2)
        } catch CLIError.store(let message) {
            fail(message, code: 3)
        } catch let error as LedgerError {
            fail(error.description, code: 3)
        } catch {
            fail("\(error)", code: 3)
        }
    }

    public func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

extension Ledger {
    public var render: ViewRendering { ViewRendering(calendar: calendar) }

    /// Decides `command` and returns the JSON it prints as (the HTTP API's body for it); a
    /// recorded order failure is an error naming its order and step.
    public func answer(_ command: CommerceCommand, idempotencyKey: String? = nil) throws -> JSONValue {
        switch render.answer(to: command, try execute(command, idempotencyKey: idempotencyKey), now: clock.now()) {
        case let .success(_, body):
            return body
        case let .refused(error, details):
            let field = { (name: String) in details.first { $0.0 == name }?.1 }
            let order = field("orderId")?.intValue.map(String.init) ?? "?"
            let step = field("step")?.stringValue ?? "?"
            throw CommerceError(error.code, "\(error.message) (order \(order) recorded as failed at step \(step))")
        }
    }
}

/// A number in the environment that is set but does not parse is a mistake to report, not a
/// reason to fall back to the default without a word.
public func checkNumericEnvironment(integers: [String] = [], decimals: [String] = []) throws {
    let environment = ProcessInfo.processInfo.environment
    for name in integers {
        if let value = environment[name], !value.isEmpty, Int64(value) == nil { throw ValidationError("\(name)=\(value) is not a whole number") }
    }
    for name in decimals {
        if let value = environment[name], !value.isEmpty, Double(value) == nil { throw ValidationError("\(name)=\(value) is not a number") }
    }
}

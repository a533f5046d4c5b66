import ArgumentParser
import Commerce
import CommerceApp
import CommerceCLI
import Foundation
import LedgerJSON

@main
struct RebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commerce-rebuild",
        abstract: "Rebuild, verify or time-travel the ledger's projections by folding the event log.",
        discussion: """
            Safe while `commerce serve` runs on the same directory: the fold holds the writer only in
            short chunks, and the new tables become live in one short transaction.
            Exit codes: 0 done (or identical with --verify), 1 projections differ, 2 bad usage, 3 store error.
            """)

    @OptionGroup var ledger: LedgerOptions
    @Option(name: .customLong("projection"), help: "Rebuild only this projection (repeatable); those sharing its tables come along.")
    var projections: [String] = []
    @Flag(help: "Fold into scratch tables and compare with the live ones; change nothing.") var verify = false
    @Option(help: "Build the views as of this log position or ISO-8601 time (needs --output).") var until: String?
    @Option(help: "Empty directory for the --until snapshot.") var output: String?
    @Flag(help: "Print a machine-readable summary when done.") var json = false
    @Option(name: .customLong("chunk-ms"), help: "Longest a fold step holds the views' writer, in milliseconds (the server's commands wait meanwhile).")
    var chunkMilliseconds = 50

    func validate() throws {
        if until != nil && output == nil { throw ValidationError("--until needs --output <dir>") }
        if output != nil && until == nil { throw ValidationError("--output goes with --until") }
        if verify && until != nil { throw ValidationError("--verify and --until do not go together") }
        guard (1...10_000).contains(chunkMilliseconds) else { throw ValidationError("--chunk-ms must be between 1 and 10000") }
    }

    func run() throws {
        try runPrinting {
            // --time-zone here applies a new zone: recorded, and the views folded anew in it at open.
            let l = try ledger.open(mustExist: true, applyTimeZone: ledger.timeZone != nil && until == nil && !verify)
            if verify { try runVerify(l); return }
            let progress = ProgressReporter(label: "rebuild")
            let report: Ledger.RebuildReport
            if let until, let output {
                let position: UInt64
                if let p = UInt64(until) {
                    position = p
                } else if let t = ISO8601.parse(until) {
                    position = try l.position(atOrBefore: t)
                } else {
                    throw CLIError.usage("--until must be a log position or an ISO-8601 time with an offset")
                }
                report = try l.exportSnapshot(through: min(position, try l.head()), to: output) { progress.update(done: $0, total: $1) }
            } else {
                report = try l.rebuildProjections(projections, chunkDuration: .milliseconds(chunkMilliseconds)) { progress.update(done: $0, total: $1) }
            }
            progress.finish(done: report.events, total: report.head)
            if json {
                print(JSONValue.object([
                    ("events", .int(Int64(report.events))), ("head", .int(Int64(report.head))),
                    ("seconds", .double((report.seconds * 1000).rounded() / 1000)), ("eventsPerSecond", .int(Int64(report.eventsPerSecond))),
                    ("projections", .array(report.projections.map { .string($0) })),
                    ("tables", .array(report.tables.map { t in
                        .object([("table", .string(t.table)), ("rows", .int(Int64(t.rows))), ("checksum", .string(String(format: "%08x", t.checksum)))])
                    })),
                ]).render())
            } else {
                print("rebuilt \(report.projections.joined(separator: ", ")): \(report.events) events in \(String(format: "%.2f", report.seconds)) s (\(Int(report.eventsPerSecond)) events/s), head \(report.head)")
            }
        }
    }

    func runVerify(_ l: Ledger) throws {
        let progress = ProgressReporter(label: "verify")
        let mismatches = try l.verifyProjections { progress.update(done: $0, total: $1) }
        if mismatches.isEmpty {
            print(json ? JSONValue.object([("identical", .bool(true))]).render() : "projections identical to a fold of the log")
            return
        }
        for m in mismatches {
            let names = l.projectionNames(writing: m.table).joined(separator: ", ")
            FileHandle.standardError.write(Data("differs: \(names): \(m)\n".utf8))
        }
        if json { print(JSONValue.object([("identical", .bool(false)), ("tables", .array(mismatches.map { .string($0.table) }))]).render()) }
        Foundation.exit(1)
    }
}

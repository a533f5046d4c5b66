import ArgumentParser
import Commerce
import CommerceApp
import CommerceCLI
import EventLog
import Foundation
import LedgerJSON

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The newest events; -f follows new appends.")
    @OptionGroup var ledger: LedgerOptions
    @OptionGroup var filters: FilterOptions
    @Option(name: .short, help: "How many of the newest matching events.") var n = 20
    @Flag(name: .short, help: "Keep printing events as they are appended (Ctrl-C to stop).") var follow = false
    @Flag(help: "JSON lines instead of a table.") var json = false

    func run() async throws {
        var printer: EventPrinter?
        var next: UInt64 = 0
        var filter = EventLog.Filter()
        var l: Ledger?
        try runPrinting {
            let opened = try ledger.open(mustExist: true)
            l = opened
            filter = try filters.filter()
            let head = try opened.head()
            // Walk back from the head in pages until n matching events are found; each page is
            // bounded above, so it never collects events of a later page again.
            var found: [EventRecord] = []
            var upper = head
            while found.count < n && upper > (filters.after ?? 0) {
                let from = max(filters.after ?? 0, upper > 10_000 ? upper - 10_000 : 0)
                let page = try opened.events(after: from, through: upper, limit: Int(upper - from), filter: filter)
                found = page.suffix(n - found.count) + found
                upper = from
            }
            let p = EventPrinter(json: json, render: opened.render)
            p.header()
            for r in found { p.print(r) }
            printer = p
            next = head
        }
        guard follow, let printer, let l else { return }
        for try await record in l.subscribe(after: next, pollInterval: .milliseconds(200)) where filter.matches(record) {
            printer.print(record)
        }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One event by position.")
    @OptionGroup var ledger: LedgerOptions
    @Argument(help: "Log position.") var position: UInt64
    @Flag(help: "JSON instead of a table row.") var json = false

    func run() throws {
        try runPrinting {
            let l = try ledger.open(mustExist: true)
            guard let record = try l.event(at: position) else {
                throw CLIError.usage("no event at position \(position) (head is \(try l.head()))")
            }
            let p = EventPrinter(json: json, render: l.render)
            p.header()
            p.print(record)
        }
    }
}

struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stream", abstract: "One stream's events with their versions (e.g. user-42, order-7).")
    @OptionGroup var ledger: LedgerOptions
    @OptionGroup var filters: FilterOptions
    @Argument(help: "Stream name.") var name: String
    @Flag(help: "JSON lines instead of a table.") var json = false

    func run() throws {
        try runPrinting {
            let l = try ledger.open(mustExist: true)
            let records = try l.events(after: filters.after ?? 0, limit: .max, filter: try filters.filter(stream: name))
            let p = EventPrinter(json: json, render: l.render)
            p.header()
            for r in records { p.print(r) }
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Head, counts per type and per day, disk and map usage, projection and subscriber lag.")
    @OptionGroup var ledger: LedgerOptions
    @Flag(help: "JSON instead of text.") var json = false

    func run() throws {
        try runPrinting {
            let l = try ledger.open(mustExist: true)
            let status = try l.subscriberStatus()
            var byType: [String: Int] = [:]
            var byDay: [Int64: Int] = [:]
            let calendar = l.calendar
            try l.forEachEvent { r in
                byType[r.type, default: 0] += 1
                byDay[calendar.day(of: r.timestamp), default: 0] += 1
                return true
            }
            let storage = l.storage()
            // A read replica writes how far it follows its leader's stream every second.
            let replica = FileManager.default.contents(atPath: ledger.dataDirectory + "/replica.json").flatMap { try? JSONParser.parse(Array($0)) }
            func part(_ p: Ledger.StorageReport.Part) -> JSONValue {
                .object([("bytesOnDisk", .int(Int64(p.bytesOnDisk))), ("mapBytes", .int(Int64(p.mapBytes))), ("mapUsedBytes", .int(Int64(p.mapUsedBytes)))])
            }
            let value = JSONValue.object([
                ("head", .int(Int64(status.head))),
                ("headAt", status.headTimestamp.map { .string(calendar.format($0)) } ?? .null),
                ("eventsByType", .object(byType.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) })),
                ("eventsByDay", .object(byDay.sorted { $0.key < $1.key }.map { (ISO8601.formatDay($0.key), .int(Int64($0.value))) })),
                ("log", part(storage.log)), ("views", part(storage.views)),
                ("projections", .array(status.projections.map { p in
                    .object([("name", .string(p.name)), ("position", .int(Int64(p.position))),
                             ("lagEvents", .int(Int64(status.head > p.position ? status.head - p.position : 0)))])
                })),
                ("subscribers", .array(status.subscribers.map { s in
                    .object([("name", .string(s.name)), ("checkpoint", .int(Int64(s.checkpoint))), ("lagEvents", .int(Int64(s.lagEvents))),
                             ("lagSeconds", .double(s.lagSeconds)), ("aheadOfHead", .bool(s.isAheadOfHead))])
                })),
                ("replica", replica ?? .null),
            ])
            if json { print(value.render()); return }
            print("head            \(status.head)\(status.headTimestamp.map { " at " + calendar.format($0) } ?? "")")
            print("log (truth)     \(storage.log.bytesOnDisk) bytes on disk; map \(storage.log.mapUsedBytes) of \(storage.log.mapBytes) bytes used")
            print("views (derived) \(storage.views.bytesOnDisk) bytes on disk; map \(storage.views.mapUsedBytes) of \(storage.views.mapBytes) bytes used")
            print("events by type")
            for (type, n) in byType.sorted(by: { $0.key < $1.key }) { print("  \(type.padding(toLength: 24, withPad: " ", startingAt: 0)) \(n)") }
            print("events by day")
            for (day, n) in byDay.sorted(by: { $0.key < $1.key }) { print("  \(ISO8601.formatDay(day))               \(n)") }
            print("projections")
            for p in status.projections { print("  \(p.name.padding(toLength: 24, withPad: " ", startingAt: 0)) at \(p.position), lag \(status.head > p.position ? status.head - p.position : 0)") }
            print("subscribers")
            for s in status.subscribers {
                let flag = s.isAheadOfHead ? "  AHEAD OF HEAD (restored from an older backup?)" : ""
                print("  \(s.name.padding(toLength: 24, withPad: " ", startingAt: 0)) at \(s.checkpoint), lag \(s.lagEvents) events / \(String(format: "%.1f", s.lagSeconds)) s\(flag)")
            }
            if let replica {
                print("replica of       \(replica["source"]?.stringValue ?? "?") stream \(replica["stream"]?.stringValue ?? "?")")
                print("  at \(replica["position"]?.intValue ?? 0) of \(replica["streamTop"]?.intValue ?? 0), lag \(replica["lagEvents"]?.intValue ?? 0) events / \(String(format: "%.1f", { if case let .double(d)? = replica["lagSeconds"] { return d }; return Double(replica["lagSeconds"]?.intValue ?? 0) }())) s"
                      + (replica["gap"]?.stringValue.map { "\n  GAP: \($0)" } ?? ""))
            }
        }
    }
}

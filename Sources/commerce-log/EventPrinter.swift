import ArgumentParser
import Commerce
import CommerceApp
import CommerceCLI
import CommerceHTTP
import EventLog
import Foundation
import LedgerJSON

/// Events as an aligned table on a terminal (colour only there), or JSON lines with --json.
struct EventPrinter {
    let json: Bool
    let render: ViewRendering
    let colour = isatty(STDOUT_FILENO) == 1

    /// Unbuffered, so `tail -f` output reaches a pipe at once.
    func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func header() {
        guard !json else { return }
        emit(pad("POSITION", 10) + pad("AT", 31) + pad("STREAM@VERSION", 24) + pad("TYPE", 22) + "DATA")
    }

    func print(_ record: EventRecord) {
        let value = render.event(record)
        if json {
            emit(value.render())
            return
        }
        let type = colour ? "\u{1B}[36m\(pad(record.type, 22))\u{1B}[0m" : pad(record.type, 22)
        let data = value["data"]?.render() ?? ""
        emit(pad(String(record.position), 10) + pad(render.calendar.format(record.timestamp), 31)
            + pad("\(record.stream)@\(record.streamVersion)", 24) + type + data)
    }


    func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}

/// Filters shared by tail and stream.
struct FilterOptions: ParsableArguments {
    @Option(help: "Only events of this type (repeatable).") var type: [String] = []
    @Option(help: "Only events after this position.") var after: UInt64?
    @Option(help: "Only events at or after this ISO-8601 time.") var since: String?
    @Option(help: "Only events before this ISO-8601 time.") var until: String?
    @Option(help: "Only events of this command id (hex, as shown).") var correlation: String?

    func filter(stream: String? = nil) throws -> EventLog.Filter {
        var f = EventLog.Filter(stream: stream)
        if !type.isEmpty { f.types = Set(type) }
        if let since {
            guard let t = ISO8601.parse(since) else { throw CLIError.usage("--since must be an ISO-8601 time with an offset") }
            f.since = t
        }
        if let until {
            guard let t = ISO8601.parse(until) else { throw CLIError.usage("--until must be an ISO-8601 time with an offset") }
            f.until = t
        }
        if let correlation {
            guard let id = UInt64(correlation, radix: 16) else { throw CLIError.usage("--correlation must be a command id in hex") }
            f.commandId = id
        }
        return f
    }
}

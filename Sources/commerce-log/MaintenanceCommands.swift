import ArgumentParser
import BinaryCodec
import Commerce
import CommerceApp
import CommerceCLI
import EventLog
import Foundation
import LedgerJSON

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check every record: checksum, gapless positions, contiguous stream versions, decodable events.")
    @OptionGroup var ledger: LedgerOptions

    func run() throws {
        try runPrinting {
            let l = try ledger.open(mustExist: true)
            let (count, problem) = try l.verifyLog()
            if let problem {
                FileHandle.standardError.write(Data("error: log check failed at \(problem)\n".utf8))
                Foundation.exit(1)
            }
            print("ok: \(count) events, positions gapless, checksums and stream versions valid, every event decodable")
        }
    }
}

/// One event per line, lossless: the payload in hex next to its readable form.
enum ExportFormat {
    static func line(_ r: EventRecord, render: ViewRenderingProxy) -> String {
        var fields: [(String, JSONValue)] = [
            ("position", .int(Int64(r.position))), ("stream", .string(r.stream)), ("version", .int(Int64(r.streamVersion))),
            ("type", .string(r.type)), ("schemaVersion", .int(Int64(r.schemaVersion))), ("timestamp", .int(r.timestamp)),
            ("commandId", .string(String(r.commandId, radix: 16))), ("idempotencyKey", .optional(r.idempotencyKey)),
            ("payload", .string(r.payload.map { String(format: "%02x", $0) }.joined())),
        ]
        fields.append(("data", render.data(r)))
        return JSONValue.object(fields).render()
    }

    static func record(from line: Substring, lineNumber: Int) throws -> EventRecord {
        func bad(_ why: String) -> CLIError { .usage("line \(lineNumber): \(why)") }
        guard let value = try? JSONParser.parse(Array(line.utf8)) else { throw bad("not JSON") }
        guard let position = value["position"]?.intValue, position > 0,
              let stream = value["stream"]?.stringValue, let version = value["version"]?.intValue, version > 0,
              let type = value["type"]?.stringValue, let schema = value["schemaVersion"]?.intValue, (0...Int64(UInt16.max)).contains(schema),
              let timestamp = value["timestamp"]?.intValue,
              let commandText = value["commandId"]?.stringValue, let commandId = UInt64(commandText, radix: 16),
              let payloadHex = value["payload"]?.stringValue else { throw bad("missing or malformed field") }
        let key = value["idempotencyKey"]?.stringValue
        var payload: [UInt8] = []
        payload.reserveCapacity(payloadHex.utf8.count / 2)
        var iterator = payloadHex.utf8.makeIterator()
        while let hi = iterator.next() {
            guard let lo = iterator.next(), let byte = UInt8(String(decoding: [hi, lo], as: UTF8.self), radix: 16) else { throw bad("payload is not hex") }
            payload.append(byte)
        }
        return EventRecord(position: UInt64(position), stream: stream, streamVersion: UInt64(version), type: type, schemaVersion: UInt16(schema),
                           timestamp: timestamp, commandId: commandId, idempotencyKey: key, payload: payload)
    }
}

struct ViewRenderingProxy {
    let ledger: Ledger
    func data(_ r: EventRecord) -> JSONValue { ledger.render.event(r)["data"] ?? .null }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the log as JSON lines (one event per line, lossless).")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "File to write; stdout when absent.") var output: String?

    func run() throws {
        try runPrinting {
            let l = try ledger.open(mustExist: true)
            let proxy = ViewRenderingProxy(ledger: l)
            var handle = FileHandle.standardOutput
            if let output {
                // Opened in place: a symlink, a pipe or a device is written through, not replaced.
                let fd = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                guard fd >= 0 else { throw CLIError.usage("cannot write \(output): \(String(cString: strerror(errno)))") }
                handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            }
            var after: UInt64 = 0
            var count = 0
            func failed(_ error: Error) -> CLIError {
                CLIError.store("cannot write \(output ?? "stdout") after \(count) events, the export is incomplete: \(error.localizedDescription)")
            }
            while true {
                let page = try l.events(after: after, limit: 10_000)
                if page.isEmpty { break }
                var chunk = ""
                for r in page { chunk += ExportFormat.line(r, render: proxy) + "\n" }
                do { try handle.write(contentsOf: Data(chunk.utf8)) } catch { throw failed(error) }
                count += page.count
                after = page.last?.position ?? after
            }
            if output != nil {
                try handle.close()
                FileHandle.standardError.write(Data("exported \(count) events to \(output ?? "")\n".utf8))
            }
        }
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load an export into an empty data directory and build its projections.")
    @OptionGroup var ledger: LedgerOptions
    @Argument(help: "JSON lines file written by export ('-' for stdin).") var file: String

    func run() throws {
        try runPrinting {
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let d = FileManager.default.contents(atPath: file) else { throw CLIError.usage("cannot read \(file)") }
                data = d
            }
            let l = try ledger.open(mustExist: false)
            guard try l.head() == 0 else { throw CLIError.usage("\(ledger.dataDirectory) already holds events; import needs an empty directory") }
            let text = String(decoding: data, as: UTF8.self)
            let records = try text.split(separator: "\n", omittingEmptySubsequences: true).enumerated().map { n, line in
                try ExportFormat.record(from: line, lineNumber: n + 1)
            }
            let imported: Int
            do {
                imported = try l.importEvents(records)
            } catch let error as EventLogError {
                throw CLIError.usage("\(error)")
            }
            print("imported \(imported) events; views built")
        }
    }
}

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A consistent, compacted hot copy, safe while the server runs.")
    @OptionGroup var ledger: LedgerOptions
    @Argument(help: "Empty or new directory for the copy.") var directory: String

    func run() throws {
        try runPrinting {
            let l = try ledger.open(mustExist: true)
            if FileManager.default.fileExists(atPath: directory + "/log/data.mdb") { throw CLIError.usage("\(directory) already holds a ledger") }
            do {
                _ = try l.backup(to: directory)
            } catch {
                throw CLIError.store("backup failed: \(error)")
            }
            // The copy must open and pass the same checks as the original.
            var config = ledger.configuration
            config.dataDirectory = directory
            config.readOnly = true
            let copy = try Ledger(configuration: config)
            let (count, problem) = try copy.verifyLog()
            if let problem { throw CLIError.store("the backup does not verify: \(problem)") }
            print("backed up \(count) events to \(directory) (verified)")
        }
    }
}

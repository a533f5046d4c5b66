import Foundation
import LedgerJSON
import Redis

/// A member of a Redis consumer group on the event stream that writes the events of chosen types
/// as JSON lines (the data platform's intake): each line is written and synced before its entry is
/// acknowledged, entries another member left pending too long are claimed, and entries of other
/// types are acknowledged without a line. Every line carries the event's position: a crash between
/// the write and the acknowledgement repeats at most that batch, which a reader drops by position
/// (and this consumer drops itself when the repeat comes back to it).
public final class StreamConsumer {
    public struct Settings: Sendable {
        public var url: RedisURL
        public var stream: String = EventStreamFormat.defaultStream
        public var group: String
        public var consumer: String
        /// Types written; nil writes every event.
        public var types: Set<String>?
        public var output: String
        public var batchSize: Int = 500
        public var block: Duration = .milliseconds(1_000)
        /// How long an entry must have been pending with another member before it is claimed.
        public var claimIdle: Duration = .seconds(30)
        /// For tests of a crash: exit the process after writing this many batches, before acknowledging the last.
        public var crashBeforeAckAfterBatches: Int?

        public init(url: RedisURL, group: String, consumer: String, output: String) {
            self.url = url
            self.group = group
            self.consumer = consumer
            self.output = output
        }
    }

    public struct Progress: Sendable {
        public var lines = 0
        public var acknowledged = 0
        public var claimed = 0
        public var skippedRepeats = 0
    }

    public let settings: Settings
    public private(set) var progress = Progress()
    private var output: FileHandle?
    /// Positions of the output's last lines: a pending entry coming back after a crash is not written twice.
    private var recent: Set<UInt64> = []
    private var batches = 0
    private var warnedOfLateStart = false
    private var log: (String) -> Void = { _ in }

    public init(settings: Settings) {
        self.settings = settings
    }

    /// Runs until `stopping` says so, or until nothing new came for `idleExit` when given.
    /// Redis being away is retried with backoff; a file that cannot be written is thrown.
    public func run(stopping: @escaping () -> Bool, idleExit: Duration? = nil, log: @escaping (String) -> Void = { _ in }) throws {
        self.log = log
        try openOutput()
        var backoff: Duration = .milliseconds(100)
        var idleSince = ContinuousClock.now
        while !stopping() {
            do {
                let connection = try RedisConnection(settings.url, timeout: settings.block + .seconds(5))
                try createGroup(connection)
                backoff = .milliseconds(100)
                // What this member was given before and did not acknowledge comes first.
                while try handle(try read(connection, from: "0"), connection) > 0 {}
                var lastClaim = ContinuousClock.now - .seconds(3_600)
                while !stopping() {
                    var handled = 0
                    if ContinuousClock.now - lastClaim >= min(settings.claimIdle, .seconds(1)) {
                        handled += try claim(connection)
                        lastClaim = .now
                    }
                    try checkNothingTrimmedUnread(connection)
                    handled += try handle(try read(connection, from: ">"), connection)
                    if handled > 0 {
                        idleSince = .now
                    } else if let idleExit, ContinuousClock.now - idleSince >= idleExit {
                        return
                    }
                }
            } catch let error as RedisError {
                log("\(error); retrying in \(backoff)")
                pause(backoff, unless: stopping)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    private func openOutput() throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: settings.output) {
            guard fm.createFile(atPath: settings.output, contents: nil) else { throw ConsumerError("cannot create \(settings.output)") }
        }
        guard let handle = FileHandle(forUpdatingAtPath: settings.output) else { throw ConsumerError("cannot write \(settings.output)") }
        // One member per file: a second one would write over this one's lines.
        guard flock(handle.fileDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            throw ConsumerError("\(settings.output) is being written by another consumer; give each member its own --output")
        }
        // The last lines' positions, from the tail; a torn last line (a crash mid-write) is cut off.
        let size = try handle.seekToEnd()
        let start = size > 1_048_576 ? size - 1_048_576 : 0
        try handle.seek(toOffset: start)
        let tail = try handle.readToEnd() ?? Data()
        var end = size
        if let lastNewline = tail.lastIndex(of: UInt8(ascii: "\n")) {
            end = start + UInt64(lastNewline - tail.startIndex) + 1
        } else if start == 0 {
            end = 0
        }
        if end < size {
            // Only a line of ours is cut, never the tail of some other file named by mistake.
            let torn = tail.suffix(Int(size - end))
            guard torn.starts(with: Array(#"{"position":"#.utf8)) else {
                throw ConsumerError("\(settings.output) does not end with a complete line and is not a consumer's output; name another file")
            }
            try handle.truncate(atOffset: end)
        }
        try handle.seek(toOffset: end)
        for line in tail.prefix(Int(end - start)).split(separator: UInt8(ascii: "\n")) {
            if let position = (try? JSONParser.parse(Array(line)))?["position"]?.intValue, let p = UInt64(exactly: position) { recent.insert(p) }
        }
        output = handle
    }

    /// Entries trimmed from the stream before the group read them would be skipped without a
    /// word by `XREADGROUP >`: refuse to go on instead (their events are in the leader's log).
    private func checkNothingTrimmedUnread(_ connection: RedisConnection) throws {
        let groups = try connection.command(["XINFO", "GROUPS", settings.stream]).checked().array ?? []
        guard let group = groups.map(\.pairs).first(where: { $0["name"]?.text == settings.group }),
              let delivered = group["last-delivered-id"]?.text.flatMap(EventStreamFormat.position(ofId:)) else { return }
        let stream = try connection.command(["XINFO", "STREAM", settings.stream]).checked().pairs
        guard let firstId = stream["first-entry"]?.array?.first?.text, let first = EventStreamFormat.position(ofId: firstId) else { return }
        if first > delivered + 1 {
            if delivered == 0 {
                if !warnedOfLateStart {
                    warnedOfLateStart = true
                    log("the stream starts at \(first): events 1...\(first - 1) are only in the leader's log (commerce-log export)")
                }
                return
            }
            throw ConsumerError("the stream was trimmed past group \(settings.group): events \(delivered + 1)...\(first - 1) were never delivered to it; export them from the leader's log (commerce-log export) and keep --redis-max-len above what the group can fall behind")
        }
    }

    private func trimmedWhilePending(_ ids: [String]) -> ConsumerError {
        ConsumerError("entries \(ids.prefix(5).joined(separator: ", "))\(ids.count > 5 ? " and \(ids.count - 5) more" : "") were trimmed from the stream while pending in group \(settings.group), before a line was written for them; export them from the leader's log (commerce-log export) and keep --redis-max-len above what the group can fall behind")
    }

    private func createGroup(_ connection: RedisConnection) throws {
        let reply = try connection.command(["XGROUP", "CREATE", settings.stream, settings.group, "0", "MKSTREAM"])
        if case let .error(message) = reply, !message.hasPrefix("BUSYGROUP") { throw RedisError.refused(message) }
    }

    private func read(_ connection: RedisConnection, from id: String) throws -> [EventStreamFormat.Entry] {
        var args = ["XREADGROUP", "GROUP", settings.group, settings.consumer, "COUNT", String(settings.batchSize)]
        if id == ">" { args += ["BLOCK", String(settings.block.milliseconds)] }
        return try EventStreamFormat.readEntries(try connection.command(args + ["STREAMS", settings.stream, id]).checked())
    }

    /// Takes over entries other members left pending longer than `claimIdle`, and handles them.
    private func claim(_ connection: RedisConnection) throws -> Int {
        var cursor = "0-0"
        var handled = 0
        repeat {
            let reply = try connection.command(["XAUTOCLAIM", settings.stream, settings.group, settings.consumer,
                                                String(settings.claimIdle.milliseconds), cursor, "COUNT", String(settings.batchSize)]).checked()
            guard let parts = reply.array, parts.count >= 2, let next = parts[0].text else { throw RedisError.unexpectedReply("XAUTOCLAIM \(reply)") }
            let entries = try EventStreamFormat.entries(parts[1])
            // Entries deleted while pending (Redis 7 lists them third, and drops them from the
            // pending list): their events never reached a line.
            if parts.count >= 3, let deleted = parts[2].array, !deleted.isEmpty {
                throw trimmedWhilePending(deleted.compactMap(\.text))
            }
            progress.claimed += entries.count
            handled += try handle(entries, connection)
            cursor = next
        } while cursor != "0-0"
        return handled
    }

    /// Writes the lines of `entries`, syncs them, then acknowledges every entry. Returns how many entries there were.
    private func handle(_ entries: [EventStreamFormat.Entry], _ connection: RedisConnection) throws -> Int {
        guard !entries.isEmpty else { return 0 }
        var bytes: [UInt8] = []
        var written: [UInt64] = []
        let gone = entries.filter { $0.fields == nil }.map(\.id)
        if !gone.isEmpty { throw trimmedWhilePending(gone) }
        for entry in entries {
            guard let position = EventStreamFormat.position(ofId: entry.id), let type = entry.field("type")?.text else { continue }
            if let types = settings.types, !types.contains(type) { continue }
            if recent.contains(position) {
                progress.skippedRepeats += 1
                continue
            }
            let data = entry.field("data")?.bytes.flatMap { try? JSONParser.parse($0) } ?? .null
            let line: JSONValue = .object([("position", .int(Int64(position))), ("type", .string(type)),
                                           ("at", .optional(entry.field("at")?.text)), ("stream", .optional(entry.field("stream")?.text)), ("data", data)])
            line.write(into: &bytes)
            bytes.append(UInt8(ascii: "\n"))
            written.append(position)
        }
        if !bytes.isEmpty, let output {
            do {
                try output.write(contentsOf: bytes)
                try output.synchronize()
            } catch {
                throw ConsumerError("cannot write \(settings.output): \(error)")
            }
            progress.lines += written.count
            if recent.count > 100_000 { recent.removeAll(keepingCapacity: true) }
            recent.formUnion(written)
        }
        batches += 1
        if let crash = settings.crashBeforeAckAfterBatches, batches >= crash { _exit(9) }
        _ = try connection.command(["XACK", settings.stream, settings.group] + entries.map(\.id)).checked()
        progress.acknowledged += entries.count
        return entries.count
    }
}

public struct ConsumerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

import BinaryCodec
import CommerceApp
import EventLog
import Foundation
import LedgerJSON
import Redis
import Synchronization

/// Keeps a read replica's ledger a copy of its leader's: follows the Redis stream from the
/// replica's head with blocking reads and hands each batch to `Ledger.replicate`, which appends the
/// records byte for byte and folds them with the same projection code as the leader.
///
/// A gap (the stream no longer holds the event after the replica's head, or holds another one) is
/// reported and never skipped: the replica stops following, and its queries are refused until it
/// is restored from a backup of the leader (docs/scale-out.md).
public final class ReplicaFollower: Sendable {
    public struct Settings: Sendable {
        public var url: RedisURL
        public var stream: String = EventStreamFormat.defaultStream
        public var leader: String?
        public var batchSize: Int = 1_000
        /// How long one blocking read waits for new entries.
        public var block: Duration = .milliseconds(500)

        public init(url: RedisURL, leader: String?) {
            self.url = url
            self.leader = leader
        }
    }

    /// What the stream's meta hash says about the log it carries.
    public struct StreamOrigin: Sendable, Equatable {
        public let logIdentity: [UInt8]
        public let timeZone: String
    }

    let ledger: Ledger
    public let settings: Settings
    private let state: Mutex<ReplicaReport>
    private let thread = BlockingLoop(name: "replica-follower")
    /// Where the replica writes its report for `commerce-log stats` (it may run while the replica does).
    let reportPath: String?

    public init(ledger: Ledger, settings: Settings, reportPath: String? = nil) {
        self.ledger = ledger
        self.settings = settings
        self.reportPath = reportPath
        let position = (try? ledger.head()) ?? 0
        state = Mutex(ReplicaReport(source: settings.url.description, stream: settings.stream, leader: settings.leader,
                                    position: position, streamTop: position))
    }

    public func report() -> ReplicaReport { state.withLock { $0 } }

    /// Reads whose log the stream carries, waiting (with backoff) for the relay to have said so.
    public static func origin(url: RedisURL, stream: String, stopping: @escaping () -> Bool = { false },
                              onRetry: (String) -> Void = { _ in }) throws -> StreamOrigin? {
        var backoff: Duration = .milliseconds(100)
        while !stopping() {
            do {
                let connection = try RedisConnection(url)
                let meta = try connection.command(["HGETALL", EventStreamFormat.metaKey(stream)]).checked().pairs
                if let log = meta["log"]?.text, let zone = meta["timeZone"]?.text, let identity = Hex.decode(log) {
                    return StreamOrigin(logIdentity: identity, timeZone: zone)
                }
                onRetry("\(stream) on \(url) has no leader yet (no \(EventStreamFormat.metaKey(stream)))")
            } catch {
                onRetry("\(error)")
            }
            pause(backoff, unless: stopping)
            backoff = min(backoff * 2, .seconds(5))
        }
        return nil
    }

    /// Follows until the task is cancelled.
    public func run() async {
        await thread.run { [self] in loop() }
    }

    private var isStopping: Bool { thread.isStopping }

    private func loop() {
        var backoff: Duration = .milliseconds(100)
        var reported = ContinuousClock.now - .seconds(10)
        while !isStopping, state.withLock({ $0.gap == nil }) {
            do {
                let connection = try RedisConnection(settings.url, timeout: settings.block + .seconds(5))
                try check(connection)
                state.withLock { $0.connected = true; $0.lastError = nil }
                backoff = .milliseconds(100)
                while !isStopping {
                    try follow(connection)
                    if ContinuousClock.now - reported >= .seconds(1) {
                        writeReport()
                        reported = .now
                    }
                }
            } catch let error as BusError {
                state.withLock { $0.connected = false; $0.gap = "\(error)" }
            } catch let error as EventLogError {
                // A record that fails its checksum or does not continue the copy: following on
                // could only make the copy wrong.
                state.withLock { $0.connected = false; $0.gap = "the stream's next events cannot continue this replica's log (\(error)): restore the replica from a backup of the leader (docs/scale-out.md)" }
            } catch {
                state.withLock { $0.connected = false; $0.lastError = "\(error)" }
                pause(backoff, unless: { isStopping })
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        state.withLock { $0.connected = false }
        writeReport()
    }

    /// The stream must carry this replica's log, and agree with it at the replica's head.
    public func check(_ connection: RedisConnection) throws {
        let meta = try connection.command(["HGETALL", EventStreamFormat.metaKey(settings.stream)]).checked().pairs
        let mine = Hex.encode(ledger.logIdentity)
        guard let log = meta["log"]?.text else { throw RedisError.refused("\(settings.stream) has no leader yet") }
        guard log == mine else {
            throw BusError.foreignStream("the stream \(settings.stream) carries the log \(log), not this replica's (\(mine))")
        }
        if let zone = meta["timeZone"]?.text, zone != ledger.timeZoneIdentifier {
            throw BusError.diverged("the leader counts calendar days in \(zone), this replica in \(ledger.timeZoneIdentifier): restore the replica from a backup of the leader")
        }
        let head = try ledger.head()
        if head > 0, let stored = try EventStreamFormat.storedRecord(at: head, of: settings.stream, on: connection),
           EventLog.storedChecksum(stored) != (try ledger.checksum(at: head)) {
            throw BusError.diverged("the stream's event at \(head) is not this replica's: the leader's log diverged from it; restore the replica from a backup of the leader")
        }
    }

    /// One blocking read and what it brought.
    public func follow(_ connection: RedisConnection) throws {
        let head = try ledger.head()
        let reply = try connection.command(["XREAD", "COUNT", String(settings.batchSize), "BLOCK", String(settings.block.milliseconds),
                                            "STREAMS", settings.stream, EventStreamFormat.entryId(head)]).checked()
        let entries = try EventStreamFormat.readEntries(reply)
        guard !entries.isEmpty else {
            // Nothing after the head: either it is current, or what followed it was trimmed away.
            // The top is read first, then what follows the head: an entry the relay adds between
            // the blocking read and these is found, not taken for a gap.
            let top = try EventStreamFormat.top(of: settings.stream, on: connection)
            if top > head {
                let next = try EventStreamFormat.entries(connection.command(["XRANGE", settings.stream, "(" + EventStreamFormat.entryId(head), "+", "COUNT", "1"]).checked())
                let first = next.first.flatMap { EventStreamFormat.position(ofId: $0.id) }
                if first != head + 1 { throw gap(after: head, first: first, top: top) }
            }
            state.withLock { $0.position = head; $0.streamTop = max(top, head); $0.lagSeconds = 0 }
            return
        }
        var batch: [(position: UInt64, bytes: [UInt8])] = []
        batch.reserveCapacity(entries.count)
        var expected = head + 1
        // Each entry names its predecessor's checksum: the chain must continue this replica's own log.
        var previous: UInt32 = head == 0 ? 0 : try ledger.checksum(at: head) ?? 0
        for entry in entries {
            guard let position = EventStreamFormat.position(ofId: entry.id) else {
                throw BusError.foreignStream("\(settings.stream) holds entry \(entry.id), which is not an event position")
            }
            guard position == expected else { throw gap(after: expected - 1, first: position, top: nil) }
            guard let bytes = entry.field("record")?.bytes, let named = entry.field("previous")?.text.flatMap({ UInt32($0) }) else {
                throw BusError.foreignStream("entry \(entry.id) of \(settings.stream) lacks its record or previous field")
            }
            guard named == previous else {
                throw BusError.diverged("the stream's event \(position) follows another event \(position - 1) than this replica's: the leader's history forked from this copy; restore the replica from a backup of the leader")
            }
            batch.append((position, bytes))
            previous = EventLog.storedChecksum(bytes) ?? 0
            expected += 1
        }
        let reached = try ledger.replicate(batch)
        let full = entries.count == settings.batchSize
        let top = full ? try EventStreamFormat.top(of: settings.stream, on: connection) : reached
        let lag: Double = top > reached ? max(0, (Double(ledger.clock.now()) - Double((try? ledger.event(at: reached))??.timestamp ?? 0)) / 1000) : 0
        state.withLock { $0.position = reached; $0.streamTop = max(top, reached); $0.lagSeconds = lag }
    }

    private func gap(after head: UInt64, first: UInt64?, top: UInt64?) -> BusError {
        let found = first.map { "its next entry is \($0)" } ?? "it ends at \(top ?? 0) with nothing after \(head) left"
        return .gap("the stream \(settings.stream) no longer holds event \(head + 1), which this replica needs next (\(found)): restore the replica from a backup of the leader (docs/scale-out.md)")
    }

    private func writeReport() {
        guard let reportPath else { return }
        let text = Self.json(report(), at: ledger.clock.now()).render() + "\n"
        try? text.write(toFile: reportPath + ".tmp", atomically: false, encoding: .utf8)
        _ = rename(reportPath + ".tmp", reportPath)
    }

    /// The report as `/health` and `replica.json` show it.
    public static func json(_ r: ReplicaReport, at now: Int64) -> JSONValue {
        .object([
            ("source", .string(r.source)), ("stream", .string(r.stream)), ("leader", .optional(r.leader)),
            ("connected", .bool(r.connected)), ("position", .int(Int64(r.position))), ("streamTop", .int(Int64(r.streamTop))),
            ("lagEvents", .int(Int64(r.lagEvents))), ("lagSeconds", .double(r.lagSeconds)),
            ("gap", .optional(r.gap)), ("lastError", .optional(r.lastError)), ("updatedAt", .int(now)),
        ])
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

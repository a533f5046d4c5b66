import CommerceApp
import EventLog
import Foundation
import Redis
import Synchronization

/// Publishes every event of the log, in order, to a Redis stream, each as entry `<position>-0`.
///
/// Redis refuses an id at or below the stream's top, so the stream can never hold an event twice
/// or out of order; on every (re)connection the relay asks Redis where the stream ends and goes on
/// from there: a relay that died after `XADD` and before its checkpoint does not publish again, and
/// a Redis that lost its newest entries (restarted without them on disk) gets them again. The
/// checkpoint in the views (`redis-relay`) records what Redis confirmed, for lag figures.
///
/// Runs on a thread of its own (hiredis blocks), reading the log in read transactions: it never
/// holds up the writer. While Redis is away it retries with backoff; the log keeps everything.
public final class RedisEventRelay: Sendable {
    public struct Settings: Sendable {
        public var url: RedisURL
        public var stream: String = EventStreamFormat.defaultStream
        /// Entries Redis keeps (`XADD MAXLEN ~`); the log is the archive. 0 keeps everything.
        public var maxLength: Int = 1_000_000
        /// Most events pipelined in one round trip (250 measured fastest: tools/bus-benchmark --batch).
        public var batchSize: Int = 250

        public init(url: RedisURL) { self.url = url }
    }

    public static let checkpointName = "redis-relay"
    let ledger: Ledger
    public let settings: Settings
    private let state: Mutex<RelayReport>
    private let stopping = Atomic<Bool>(false)

    public init(ledger: Ledger, settings: Settings) {
        self.ledger = ledger
        self.settings = settings
        state = Mutex(RelayReport(target: settings.url.description, stream: settings.stream))
    }

    public func report() -> RelayReport { state.withLock { $0 } }

    /// Relays until the task is cancelled.
    public func run() async {
        let done = Atomic<Bool>(false)
        let thread = Thread { [self] in
            loop()
            done.store(true, ordering: .releasing)
        }
        thread.name = "redis-relay"
        thread.start()
        while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
        stopping.store(true, ordering: .releasing)
        while !done.load(ordering: .acquiring) { try? await Task.sleep(for: .milliseconds(10)) }
    }

    private var isStopping: Bool { stopping.load(ordering: .acquiring) }

    private func loop() {
        var backoff: Duration = .milliseconds(100)
        while !isStopping {
            do {
                let connection = try RedisConnection(settings.url)
                var position = try prepare(connection)
                state.withLock { $0.connected = true; $0.position = position; $0.lastError = nil }
                backoff = .milliseconds(100)
                var checkpointed = ContinuousClock.now
                while !isStopping {
                    let head = try ledger.head()
                    guard head > position else {
                        ledger.waitForHeadBlocking(above: position, timeout: .milliseconds(200))
                        continue
                    }
                    position = try publish(after: position, on: connection)
                    state.withLock { $0.position = position }
                    // The checkpoint is for lag figures: a write of the views every 50 ms at most.
                    if ContinuousClock.now - checkpointed >= .milliseconds(50) || position >= head {
                        try ledger.advanceCheckpoint(Self.checkpointName, to: position)
                        checkpointed = .now
                    }
                }
            } catch {
                state.withLock { $0.connected = false; $0.lastError = "\(error)" }
                pause(backoff, unless: { isStopping })
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        state.withLock { $0.connected = false }
    }

    /// Checks that the stream is this log's and returns the position it ends at.
    public func prepare(_ connection: RedisConnection) throws -> UInt64 {
        let metaKey = EventStreamFormat.metaKey(settings.stream)
        let mine = EventStreamFormat.hex(ledger.logIdentity)
        _ = try connection.command(["HSETNX", metaKey, "log", mine]).checked()
        _ = try connection.command(["HSETNX", metaKey, "timeZone", ledger.timeZoneIdentifier]).checked()
        let meta = try connection.command(["HGETALL", metaKey]).checked().pairs
        guard meta["log"]?.text == mine else {
            throw BusError.foreignStream("the stream \(settings.stream) carries the log \(meta["log"]?.text ?? "?"), not this ledger's (\(mine))")
        }
        let top = try EventStreamFormat.top(of: settings.stream, on: connection)
        let head = try ledger.head()
        guard top <= head else {
            throw BusError.diverged("the stream \(settings.stream) holds events up to \(top), beyond this log's head \(head): this log is older than the one that published them (restored from a backup?)")
        }
        if top > 0, let stored = try EventStreamFormat.storedRecord(at: top, of: settings.stream, on: connection),
           EventLog.storedChecksum(stored) != (try ledger.checksum(at: top)) {
            throw BusError.diverged("the stream's event at \(top) is not this log's event at \(top)")
        }
        return top
    }

    /// Publishes one batch after `position` and returns the last position Redis holds.
    public func publish(after position: UInt64, on connection: RedisConnection) throws -> UInt64 {
        let batch = try ledger.storedEvents(after: position, limit: settings.batchSize)
        guard !batch.isEmpty else { return position }
        let trim: [[UInt8]] = settings.maxLength > 0 ? [Array("MAXLEN".utf8), Array("~".utf8), Array(String(settings.maxLength).utf8)] : []
        let key = Array(settings.stream.utf8)
        var buffer = CommandBuffer(capacity: batch.count * 400)
        var scratch: [UInt8] = []
        for (p, bytes) in batch {
            // The checksum travels inside the record and is verified by whoever folds it.
            let record = try EventLog.decodeStored(position: p, bytes, verify: false)
            EventStreamFormat.appendAdd(record, stored: bytes, stream: key, trim: trim, to: &buffer, scratch: &scratch)
        }
        try connection.append(buffer)
        var firstError: String?
        for _ in batch {
            // Every reply is read even after a refusal, so the connection stays in step.
            if case let .error(message) = try connection.reply(), !message.contains("equal or smaller"), firstError == nil {
                firstError = message
            }
        }
        if let firstError { throw RedisError.refused(firstError) }
        return batch[batch.count - 1].position
    }
}

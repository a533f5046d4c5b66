import BinaryCodec
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
        /// After a batch that was not full, the relay waits this long for more events: under load
        /// it then appends a few large transactions instead of one per group commit, which costs
        /// the leader's cores less (Redis's work is per transaction as much as per entry).
        public var linger: Duration = .milliseconds(10)

        public init(url: RedisURL) { self.url = url }
    }

    public static let checkpointName = "redis-relay"
    let ledger: Ledger
    public let settings: Settings
    private let state: Mutex<RelayReport>
    private let thread = BlockingLoop(name: "redis-relay")

    public init(ledger: Ledger, settings: Settings) {
        self.ledger = ledger
        self.settings = settings
        state = Mutex(RelayReport(target: settings.url.description, stream: settings.stream))
    }

    public func report() -> RelayReport { state.withLock { $0 } }

    /// Relays until the task is cancelled.
    public func run() async {
        await thread.run { [self] in loop() }
    }

    private var isStopping: Bool { thread.isStopping }

    private func loop() {
        var backoff: Duration = .milliseconds(100)
        while !isStopping {
            do {
                let connection = try RedisConnection(settings.url)
                var position = try prepare(connection)
                state.withLock { $0.connected = true; $0.position = position; $0.lastError = nil }
                backoff = .milliseconds(100)
                var checkpointed = ContinuousClock.now
                // The next batch, encoded while Redis ran the last one's transaction.
                var encoded: Batch?
                while !isStopping {
                    let head = try ledger.head()
                    let batch: Batch
                    if let ready = encoded {
                        batch = ready
                        encoded = nil
                    } else {
                        guard head > position else {
                            ledger.waitForHeadBlocking(above: position, timeout: .milliseconds(200))
                            continue
                        }
                        guard let next = try encode(after: position) else { continue }
                        batch = next
                    }
                    try send(batch, on: connection)
                    // Behind the log (a full batch), the relay's own work on the next batch
                    // overlaps Redis's on this one; at the head it lingers instead (below).
                    if batch.isFull {
                        do {
                            encoded = try encode(after: batch.last)
                        } catch {
                            // This batch's answer first: what it did is reported, then the failure.
                            position = try confirm(batch, on: connection)
                            state.withLock { $0.position = position }
                            throw error
                        }
                    }
                    position = try confirm(batch, on: connection)
                    state.withLock { $0.position = position }
                    if !batch.isFull, settings.linger > .zero {
                        ledger.waitForHeadBlocking(above: position + UInt64(settings.batchSize), timeout: settings.linger)
                    }
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

    /// Checks that the stream is this log's and agrees with it, and returns the position it
    /// ends at. The stream's meta hash records the last position appended and its checksum
    /// (`head`), moved in the same transaction as the entries: the stream is always a prefix of
    /// one log, and a log that is behind it or forked from it is refused.
    public func prepare(_ connection: RedisConnection) throws -> UInt64 {
        let metaKey = EventStreamFormat.metaKey(settings.stream)
        let identity = Hex.encode(ledger.logIdentity)
        _ = try connection.command(["HSETNX", metaKey, "log", identity]).checked()
        let meta = try connection.command(["HGETALL", metaKey]).checked().pairs
        guard meta["log"]?.text == identity else {
            throw BusError.foreignStream("the stream \(settings.stream) carries the log \(meta["log"]?.text ?? "?"), not this ledger's (\(identity))")
        }
        let head = try ledger.head()
        guard let text = meta["head"]?.text else {
            let top = try EventStreamFormat.top(of: settings.stream, on: connection)
            guard top == 0 else {
                throw BusError.foreignStream("the stream \(settings.stream) holds entries up to \(top) but no record of who appended them: not this relay's stream")
            }
            try recordZone(connection, recorded: meta["timeZone"]?.text)
            return 0
        }
        guard let (position, checksum) = EventStreamFormat.parseHead(text) else {
            throw BusError.foreignStream("\(metaKey) has head \(text.debugDescription), which this relay does not write")
        }
        guard position <= head else {
            throw BusError.diverged("the stream \(settings.stream) holds events up to \(position), beyond this log's head \(head): this log is older than the one that published them (restored from a backup, or a leader that was replaced)")
        }
        let mine = position == 0 ? nil : try ledger.checksum(at: position)
        guard position == 0 || mine == checksum else {
            throw BusError.diverged("the stream's event at \(position) is not this log's event at \(position): the histories forked (another leader appended)")
        }
        try recordZone(connection, recorded: meta["timeZone"]?.text)
        return position
    }

    /// The zone replicas fold days in is the leader's (it changes with commerce-rebuild
    /// --time-zone); written only once this relay is known to own the stream.
    private func recordZone(_ connection: RedisConnection, recorded: String?) throws {
        if recorded != ledger.timeZoneIdentifier {
            _ = try connection.command(["HSET", EventStreamFormat.metaKey(settings.stream), "timeZone", ledger.timeZoneIdentifier]).checked()
        }
    }

    /// A batch of events after `after` through `last`, encoded as one Redis transaction that
    /// appends them and moves the stream's head record.
    struct Batch {
        let after: UInt64
        /// The checksum of the record at `after`: the stream's head record must name it.
        let afterChecksum: UInt32
        let last: UInt64
        let isFull: Bool
        let transaction: CommandBuffer
    }

    /// Publishes one batch after `position` (where the stream must still end) in one Redis
    /// transaction, and returns the position the stream now ends at. Another writer that moved
    /// the stream meanwhile makes this throw without appending anything.
    public func publish(after position: UInt64, on connection: RedisConnection) throws -> UInt64 {
        guard let batch = try encode(after: position) else { return position }
        try send(batch, on: connection)
        return try confirm(batch, on: connection)
    }

    /// The events after `position` (at most a batch of them) as a transaction; nil when there
    /// are none. Reads the log only: no Redis.
    func encode(after position: UInt64) throws -> Batch? {
        let events = try ledger.storedEvents(after: position, limit: settings.batchSize)
        guard let last = events.last else { return nil }
        let metaKey = EventStreamFormat.metaKey(settings.stream)
        let afterChecksum: UInt32 = position == 0 ? 0 : try ledger.checksum(at: position) ?? 0
        var previous = afterChecksum
        let trim: [[UInt8]] = settings.maxLength > 0 ? [Array("MAXLEN".utf8), Array("~".utf8), Array(String(settings.maxLength).utf8)] : []
        let key = Array(settings.stream.utf8)
        var buffer = CommandBuffer(capacity: events.count * 400)
        var scratch: [UInt8] = []
        var times: [(timestamp: Int64, text: [UInt8])] = []
        buffer.begin(arguments: 1)
        buffer.add("MULTI")
        for (p, bytes) in events {
            // The checksum travels inside the record and is verified by whoever folds it.
            let record = try EventLog.decodeStored(position: p, bytes, verify: false)
            EventStreamFormat.appendAdd(record, stored: bytes, previous: previous, stream: key, trim: trim, to: &buffer, scratch: &scratch, times: &times)
            previous = EventLog.storedChecksum(bytes) ?? 0
        }
        buffer.begin(arguments: 4)
        buffer.add("HSET")
        buffer.add(metaKey)
        buffer.add("head")
        buffer.add(EventStreamFormat.head(last.position, previous))
        buffer.begin(arguments: 1)
        buffer.add("EXEC")
        return Batch(after: position, afterChecksum: afterChecksum, last: last.position, isFull: events.count == settings.batchSize, transaction: buffer)
    }

    /// Checks under WATCH that the stream still ends where this relay left it, then sends the
    /// batch's transaction without waiting for Redis's answer (`confirm` reads it).
    func send(_ batch: Batch, on connection: RedisConnection) throws {
        let position = batch.after
        let metaKey = EventStreamFormat.metaKey(settings.stream)
        // Where the stream ends, checked under WATCH: the transaction below is void if it moves.
        // The stream's own top is read and watched too: an XADD by anything that does not keep
        // `head` would make this batch's XADDs fail one by one inside EXEC, which does not undo the
        // others. (Consumer groups reading, acknowledging or claiming do not void the watch; only
        // a write of entries does, measured on Redis 7.0.)
        try connection.append(["WATCH", metaKey, settings.stream])
        try connection.append(["HGET", metaKey, "head"])
        try connection.append(["XINFO", "STREAM", settings.stream])
        let watched = try connection.reply()
        let headReply = try connection.reply()
        let info = try connection.reply()
        _ = try watched.checked()
        let found = try headReply.checked().text
        let expected = position == 0 ? nil : EventStreamFormat.head(position, batch.afterChecksum)
        guard found == expected else {
            _ = try connection.command(["UNWATCH"])
            throw BusError.diverged("the stream \(settings.stream) ends at \(found ?? "nothing"), not at \(expected ?? "nothing") where this relay left it: another writer appended")
        }
        let top: UInt64
        if case let .error(message) = info, message.contains("no such key") {
            top = 0
        } else {
            top = try info.checked().pairs["last-generated-id"]?.text.flatMap { $0 == "0-0" ? 0 : EventStreamFormat.position(ofId: $0) } ?? UInt64.max
        }
        guard top == position else {
            _ = try connection.command(["UNWATCH"])
            throw BusError.foreignStream("the stream \(settings.stream) ends at entry \(top == UInt64.max ? "?" : String(top)) while its head record says \(position): something else writes to it (to start it anew, delete both \(settings.stream) and \(metaKey))")
        }
        try connection.append(batch.transaction)
        try connection.flush()
    }

    /// Reads Redis's answers to a sent batch and returns the position the stream now ends at.
    func confirm(_ batch: Batch, on connection: RedisConnection) throws -> UInt64 {
        // MULTI, then QUEUED for each command (an error here, e.g. OOM, voids the transaction), then EXEC.
        var refusal: String?
        for _ in 0..<(batch.transaction.count - 1) {
            if case let .error(message) = try connection.replyStatus(), refusal == nil { refusal = message }
        }
        let outcome = try connection.replyStatus()
        if let refusal { throw RedisError.refused(refusal) }
        switch outcome {
        case .fine:
            break
        case .null:
            throw RedisError.refused("the stream's head moved during the transaction (another writer?); nothing was appended")
        case let .error(message):
            throw RedisError.refused(message)
        case let .elementError(message):
            // Queued commands that fail when run are not undone; with the head and the stream's
            // top checked under WATCH, this is a stream something else writes to.
            throw BusError.foreignStream("an XADD of positions \(batch.after + 1)...\(batch.last) failed inside its transaction (\(message)): something else writes to \(settings.stream)")
        }
        return batch.last
    }
}

import CommerceApp
import EventLog
import NIOCore
import Synchronization

/// The newest events as Server-Sent Events messages, shared by every client of
/// `GET /events/stream`. One task follows the log's head and cuts what is new into a batch at most
/// once per `coalesce` (at once when the log is quiet, so a lone event is not held back): each
/// event is read and rendered once, and the followers of the head all get the same buffer in one
/// write per batch, whatever the rate of commits. The task runs only while clients are connected.
final class EventBroadcast: Sendable {
    /// The messages of the events after `after` through `end`, in log order.
    struct Batch: Sendable {
        let after: UInt64
        let end: UInt64
        let bytes: ByteBuffer
        /// Where each event's message starts in `bytes`, and its type.
        let offsets: [Int]
        let types: [String]

        /// The messages of this batch's events after `position` (which it holds), of the given
        /// types (all when nil). A slice of the shared buffer when every type is wanted.
        func messages(after position: UInt64, types wanted: Set<String>?) -> ByteBuffer {
            let first = Int(position - after)
            guard let wanted else {
                // The same storage: the clients following the head all write this batch's buffer.
                var rest = bytes
                rest.moveReaderIndex(forwardBy: offsets[first])
                return rest
            }
            var out = ByteBuffer()
            bytes.withUnsafeReadableBytes { all in
                for i in first..<offsets.count where wanted.contains(types[i]) {
                    let end = i + 1 < offsets.count ? offsets[i + 1] : all.count
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: all[offsets[i]..<end]))
                }
            }
            return out
        }
    }

    /// What `read(after:types:)` found for a client.
    enum Read {
        /// Messages through `through` (empty when none of them passed the type filter).
        case messages(ByteBuffer, through: UInt64)
        /// The client is behind the oldest batch held, which begins after `heldFrom`.
        case notHeld(heldFrom: UInt64)
        /// Nothing after the client's position has been cut yet.
        case nothing
    }

    private struct State {
        var batches: [Batch] = []  // contiguous, oldest first
        var held = 0  // events in `batches`
        /// Where the newest batch ends: the next one begins after it.
        var produced: UInt64 = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var clients = 0
        var running = false
        /// Whether `produced` has been set from the log since the task last started.
        var placed = false
        var settings = EventStreamSettings()
        /// Why the last attempt to read the log failed, until a batch is cut again: clients
        /// waiting at the head fail with it rather than wait on heartbeats.
        var failure: String?
    }

    private let state = Mutex(State())
    private let ledger: Ledger
    private let render: ViewRendering
    /// Events held in memory for clients a little behind the head (a slow reader, a reconnect).
    let capacity: Int

    init(ledger: Ledger, render: ViewRendering, capacity: Int = 16_384) {
        self.ledger = ledger
        self.render = render
        self.capacity = capacity
    }

    /// Clients of the stream now.
    var clients: Int { state.withLock { $0.clients } }

    /// A client's stream began: the first one starts the task that cuts batches. Counted until
    /// its stream has ended (`clientWent`), not just while its connection is open: a stream
    /// still waiting for a batch needs the task.
    func clientCame(settings: EventStreamSettings) {
        let start: Bool = state.withLock { s in
            s.clients += 1
            s.settings = settings
            guard !s.running else { return false }
            s.running = true
            s.placed = false
            return true
        }
        if start { Task { await cutBatches() } }
    }

    func clientWent() {
        state.withLock { $0.clients -= 1 }
    }

    /// One event as an SSE message: its position as `id`, its type as `event`, the JSON of
    /// `GET /events` as `data`.
    static func message(_ record: EventRecord, render: ViewRendering) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeString("id: \(record.position)\nevent: \(record.type)\ndata: ")
        bytes.writeString(render.event(record).render())
        bytes.writeString("\n\n")
        return bytes
    }

    /// Events as one buffer of messages, for a client that read them from the log itself.
    static func messages(_ records: [EventRecord], render: ViewRendering) -> ByteBuffer {
        var out = ByteBuffer()
        for record in records {
            var bytes = message(record, render: render)
            out.writeBuffer(&bytes)
        }
        return out
    }

    /// The messages after `position` that the batches hold, up to the end of the batch holding the
    /// first of them. Does not wait.
    func read(after position: UInt64, types: Set<String>?) throws -> Read {
        enum Found { case batch(Batch), other(Read), failed(String) }
        let found: Found = state.withLock { s in
            guard s.placed else { return .other(.nothing) }
            let heldFrom = s.batches.first?.after ?? s.produced
            guard position >= heldFrom else { return .other(.notHeld(heldFrom: heldFrom)) }
            guard position < s.produced else { return s.failure.map { .failed($0) } ?? .other(.nothing) }
            // The batch with after <= position < end: the first whose end passes position.
            var low = 0, high = s.batches.count - 1
            while low < high {
                let mid = (low + high) / 2
                if s.batches[mid].end > position { high = mid } else { low = mid + 1 }
            }
            return .batch(s.batches[low])
        }
        switch found {
        case .batch(let batch):
            // Sliced (or filtered, a copy) outside the lock that the task and the others take.
            return .messages(batch.messages(after: position, types: types), through: batch.end)
        case .other(let read):
            return read
        case .failed(let failure):
            throw LedgerError.storeFailure(failure)
        }
    }

    /// Returns once a batch ends beyond `position`, or at the task's next tick (at most a second),
    /// so that a waiting client can send its heartbeat or notice it should stop.
    func waitForBatch(after position: UInt64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // Only the task resumes waiters, and it runs while a client is counted: the caller is.
            let ready = state.withLock { s in
                if s.placed && s.produced > position { return true }
                s.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private func wakeWaiters() {
        let waiters = state.withLock { s in
            defer { s.waiters.removeAll(keepingCapacity: true) }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The batch-cutting task: runs until the last client has gone.
    private func cutBatches() async {
        var lastCut = ContinuousClock.now - .seconds(3600)
        var full = false
        while true {
            let now: (produced: UInt64, placed: Bool, settings: EventStreamSettings)? = state.withLock { s in
                if s.clients == 0 {
                    s.running = false
                    // Nobody to serve: what was held is let go (a later client starts afresh).
                    s.batches.removeAll()
                    s.held = 0
                    return nil
                }
                return (s.produced, s.placed, s.settings)
            }
            guard let now else {
                wakeWaiters()
                return
            }
            var produced = now.produced
            let settings = now.settings
            do {
                var head = try ledger.head()
                if !now.placed || head - Swift.min(head, produced) > UInt64(capacity) {
                    // Started afresh, or after a long pause without clients: batches begin at
                    // the head, and clients behind it read the log themselves until there.
                    produced = place(at: head)
                    wakeWaiters()
                }
                if head <= produced {
                    await ledger.waitForHead(above: produced, timeout: .seconds(1))
                    head = try ledger.head()
                    if head <= produced {
                        wakeWaiters()  // the tick: waiting clients check heartbeats and their connection
                        continue
                    }
                }
                // A full batch means the log is ahead: the next one is cut at once.
                if !full {
                    let wait = lastCut + settings.coalesce - .now
                    if wait > .zero { try? await Task.sleep(for: wait) }
                    head = try ledger.head()
                }
                let limit = settings.page
                let records = try ledger.events(after: produced, through: head, limit: limit)
                guard let last = records.last else { continue }
                // Positions are gapless (the log is checked when opened); a batch relies on it to
                // find an event by its position.
                guard last.position - produced == UInt64(records.count) else {
                    throw LedgerError.storeFailure("the log's positions after \(produced) are not contiguous")
                }
                full = records.count == limit
                lastCut = .now
                append(batch(after: produced, records, end: last.position))
                wakeWaiters()
                // Behind a busy log this loop need not wait: let the clients' writes run too.
                if full { await Task.yield() }
            } catch {
                // Clients waiting at the head end their streams with this (see `read`).
                state.withLock { $0.failure = "the event stream could not read the log: \(error)" }
                wakeWaiters()
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func place(at head: UInt64) -> UInt64 {
        state.withLock { s in
            s.batches.removeAll()
            s.held = 0
            s.produced = head
            s.placed = true
        }
        return head
    }

    private func batch(after: UInt64, _ records: [EventRecord], end: UInt64) -> Batch {
        let messages = records.map { Self.message($0, render: render) }
        var bytes = ByteBuffer()
        bytes.reserveCapacity(messages.reduce(0) { $0 + $1.readableBytes })
        var offsets: [Int] = []
        offsets.reserveCapacity(messages.count)
        for var message in messages {
            offsets.append(bytes.writerIndex)
            bytes.writeBuffer(&message)
        }
        return Batch(after: after, end: end, bytes: bytes, offsets: offsets, types: records.map(\.type))
    }

    private func append(_ batch: Batch) {
        state.withLock { s in
            s.batches.append(batch)
            s.held += batch.offsets.count
            s.produced = batch.end
            s.failure = nil
            var drop = 0
            while s.held - s.batches[drop].offsets.count >= capacity {
                s.held -= s.batches[drop].offsets.count
                drop += 1
            }
            if drop > 0 { s.batches.removeFirst(drop) }
        }
    }
}

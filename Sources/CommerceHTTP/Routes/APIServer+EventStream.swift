import CommerceApp
import EventLog
import Hummingbird
import LedgerJSON
import NIOCore
import ServiceLifecycle
import Synchronization

/// How `GET /events/stream` treats its clients.
public struct EventStreamSettings: Sendable {
    /// A comment line this often keeps idle connections (and proxies) open.
    public var heartbeat: Duration = .seconds(15)
    /// A client further behind the head than this is told where to resume and disconnected.
    public var maxLag: UInt64 = 10_000
    /// A client that takes longer than this to accept a write (it stopped reading) is disconnected.
    public var writeTimeout: Duration = .seconds(10)
    /// Clients at once; more are answered 503 with Retry-After.
    public var maxClients = 1_000
    /// Events cut into one batch at most, and read from the log at a time by a client behind
    /// what is held in memory.
    public var page = 1_024
    /// Batches of new events are cut at most this often, so that a busy log reaches clients in
    /// fewer, larger writes; a quiet log's events go out at once.
    public var coalesce: Duration = .milliseconds(50)

    public init() {}
}

extension APIServer {
    /// The log as Server-Sent Events. Each client moves at its own pace, asking for more only when
    /// its connection has taken the last write: followers of the head share the batches that
    /// `EventBroadcast` cuts, a client behind them reads the log itself. A slow client falls
    /// behind (and is cut off past `maxLag`), a stalled one is disconnected after `writeTimeout`;
    /// neither holds up the writer or other clients, nor grows the server's memory.
    func addEventStreamRoute(to router: Router<CommerceRequestContext>) {
        router.get("/events/stream") { request, context in
            var filter = EventLog.Filter()
            if let stream = request.uri.queryParameters.get("stream") { filter.stream = String(stream) }
            if let type = request.uri.queryParameters.get("type") { filter.types = [String(type)] }
            let head = try ledger.head()
            let start = try Self.streamStart(request) ?? head
            // A position the stream cannot serve is refused before the stream begins (a browser
            // stops reconnecting on an answer that is not 200): beyond the head (a log restored
            // from an older backup), or so far behind that it would be cut off at once.
            guard start <= head, head - start <= eventStream.maxLag else {
                var error = APIError(.conflict, "STREAM_POSITION_UNAVAILABLE",
                                     start > head ? "position \(start) is beyond the log's head \(head)"
                                                  : "position \(start) is more than \(eventStream.maxLag) events behind the head \(head): catch up with GET /events first")
                error.details = [("head", .int(Int64(head)))]
                throw error
            }
            guard broadcast.clients < eventStream.maxClients else {
                var error = APIError(.serviceUnavailable, "TOO_MANY_STREAMS", "\(eventStream.maxClients) event-stream clients are connected; try again later")
                error.headers[.retryAfter] = "5"
                throw error
            }
            let events = EventStream(ledger: ledger, render: render, broadcast: broadcast, settings: eventStream,
                                     channel: context.channel, start: start, filter: filter)
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                            body: ResponseBody(asyncSequence: events))
        }
    }

    /// `Last-Event-ID` (a browser reconnecting) wins over `after`; nil when neither is given.
    static func streamStart(_ request: Request) throws -> UInt64? {
        // An empty Last-Event-ID means none (as in the SSE specification).
        if let id = request.headers[.init("Last-Event-ID")!], !id.isEmpty {
            guard let position = RequestInput.position(id) else {
                throw APIError.invalid("Last-Event-ID must be a log position (a non-negative integer)")
            }
            return position
        }
        return try RequestInput.query(request, "after", in: 0...Int64.max).map(UInt64.init)
    }
}

/// One client's event stream: pulled by the HTTP server a chunk at a time, as the connection
/// takes them.
struct EventStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let ledger: Ledger
    let render: ViewRendering
    let broadcast: EventBroadcast
    let settings: EventStreamSettings
    let channel: any Channel
    let start: UInt64
    let filter: EventLog.Filter

    func makeAsyncIterator() -> Iterator {
        Iterator(stream: self)
    }

    struct Iterator: AsyncIteratorProtocol {
        let stream: EventStream
        var position: UInt64
        var lastWrite = ContinuousClock.now
        var started = false
        var finished = false
        let watchdog: Watchdog

        init(stream: EventStream) {
            self.stream = stream
            position = stream.start
            watchdog = Watchdog(channel: stream.channel, settings: stream.settings, clients: stream.broadcast)
        }

        mutating func next() async throws -> ByteBuffer? {
            watchdog.pulled()
            defer { watchdog.handedOver() }
            guard !finished else { return nil }
            if !started {
                started = true
                // Browsers reconnect after `retry` milliseconds, sending the last id they saw.
                return ByteBuffer(string: "retry: 1000\n: events after \(position)\n\n")
            }
            let settings = stream.settings
            // The server does not cancel a response when its client hangs up: a stream that was
            // waiting ends here (within the task's one-second tick) instead of at its next write.
            while !Task.isCancelled && !Task.isShuttingDownGracefully && stream.channel.isActive {
                let head = try stream.ledger.head()
                if head > position, head - position > settings.maxLag {
                    finished = true
                    return ByteBuffer(string: "event: resume\ndata: {\"after\":\(position)}\n\n")
                }
                let before = position
                if let out = try messages(through: head) {
                    lastWrite = .now
                    return out
                }
                // A stretch with nothing for this client's filter: look further before waiting.
                if position > before { continue }
                if ContinuousClock.now - lastWrite >= settings.heartbeat {
                    lastWrite = .now
                    return ByteBuffer(string: ": heartbeat\n\n")
                }
                if position < head, stream.filter.stream != nil {
                    // The stream index (a view) has not folded the newest events yet.
                    try? await Task.sleep(for: .milliseconds(10))
                } else {
                    await stream.broadcast.waitForBatch(after: position)
                }
            }
            finished = true
            return nil
        }

        /// The next messages up to `head` for this client (nil when none passes the filter, or
        /// when none is ready yet), moving `position` past what it looked at. Without a stream
        /// filter they come from the shared batches, or from the log for a client behind them; a
        /// stream's events are found through its index.
        private mutating func messages(through head: UInt64) throws -> ByteBuffer? {
            guard head > position else { return nil }
            var out = ByteBuffer()
            if stream.filter.stream == nil {
                switch try stream.broadcast.read(after: position, types: stream.filter.types) {
                case .messages(let bytes, let through):
                    position = through
                    out = bytes
                case .notHeld(let heldFrom):
                    let through = Swift.min(heldFrom, position + UInt64(stream.settings.page))
                    let records = try stream.ledger.events(after: position, through: through, limit: stream.settings.page, filter: stream.filter)
                    position = through
                    out = EventBroadcast.messages(records, render: stream.render)
                case .nothing:
                    return nil
                }
            } else {
                // The stream index is a view: it may not yet hold the log's newest positions.
                let reach = Swift.min(head, try stream.ledger.foldedPosition())
                guard reach > position else { return nil }
                let page = stream.settings.page
                let records = try stream.ledger.events(after: position, through: reach, limit: page, filter: stream.filter)
                // A short page reached `reach`; a full one may have more.
                position = records.count < page ? reach : records.last?.position ?? reach
                out = EventBroadcast.messages(records, render: stream.render)
            }
            return out.readableBytes > 0 ? out : nil
        }
    }

    /// Closes the connection when the server has held a chunk for longer than `timeout` without
    /// asking for the next: the client stopped reading. Counts the stream's client for as long as
    /// the stream lives (in `EventBroadcast`, which the client cap and `/metrics` read).
    final class Watchdog: Sendable {
        /// When the chunk being written was handed over (nil while the server is asking for the
        /// next one), and whether the stream is over.
        private final class Pulse: Sendable {
            let state = Mutex<(handedAt: ContinuousClock.Instant?, done: Bool)>((nil, false))
        }
        private let pulse = Pulse()
        private let task: Task<Void, Never>
        private let clients: EventBroadcast

        init(channel: any Channel, settings: EventStreamSettings, clients: EventBroadcast) {
            let timeout = settings.writeTimeout
            self.clients = clients
            clients.clientCame(settings: settings)
            task = Task { [pulse] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: Swift.min(timeout, Duration.seconds(1)))
                    let (stalled, done) = pulse.state.withLock { s in (s.handedAt.map { ContinuousClock.now - $0 > timeout } ?? false, s.done) }
                    if done { return }
                    if stalled {
                        channel.close(promise: nil)
                        return
                    }
                    // Gone on its own (the client closed, the server stopped): nothing to watch.
                    if !channel.isActive { return }
                }
            }
        }

        /// The server asks for the next chunk: the last one was written.
        func pulled() { pulse.state.withLock { $0.handedAt = nil } }
        /// A chunk was handed to the server to write.
        func handedOver() { pulse.state.withLock { $0.handedAt = .now } }

        deinit {
            pulse.state.withLock { $0.done = true }
            task.cancel()
            clients.clientWent()
        }
    }
}

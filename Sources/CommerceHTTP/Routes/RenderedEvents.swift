import CommerceApp
import EventLog
import NIOCore
import Synchronization

/// Recent events as SSE messages, shared by every client of `GET /events/stream`: an event is
/// read from the log and rendered once, not once per client. Holds the newest `capacity` events.
final class RenderedEvents: Sendable {
    struct Message: Sendable {
        let position: UInt64
        let type: String
        let bytes: ByteBuffer
    }

    private struct State {
        var messages: [UInt64: Message] = [:]
        var order: [UInt64] = []  // a ring of the positions held, oldest at `next`
        var next = 0
    }

    private let state = Mutex(State())

    /// Pages of every event, as clients of the unfiltered stream asked for them, by the position
    /// they follow: the followers of the head ask for the same ones (see `pageAlignment`).
    private struct Pages {
        var byStart: [UInt64: (end: UInt64, bytes: ByteBuffer)] = [:]
        var order: [UInt64] = []  // oldest first
    }

    private let pages = Mutex(Pages())
    static let pageAlignment: UInt64 = 64
    static let pagesKept = 256
    private let connected = Atomic<Int>(0)
    let capacity: Int

    /// Clients of the stream now.
    var clients: Int { connected.load(ordering: .relaxed) }
    func clientCame() { connected.add(1, ordering: .relaxed) }
    func clientWent() { connected.subtract(1, ordering: .relaxed) }

    init(capacity: Int = 16_384) {
        self.capacity = capacity
    }

    /// One event as an SSE message: its position as `id`, its type as `event`, the JSON of
    /// `GET /events` as `data`.
    static func message(_ record: EventRecord, render: ViewRendering) -> Message {
        var bytes = ByteBuffer()
        bytes.writeString("id: \(record.position)\nevent: \(record.type)\ndata: ")
        bytes.writeString(render.event(record).render())
        bytes.writeString("\n\n")
        return Message(position: record.position, type: record.type, bytes: bytes)
    }

    /// Every event after `after` through `through` (at most `limit` of them) as one buffer, and
    /// the position it ends at: shared with every client that asked for a page after `after`.
    func page(after: UInt64, through: UInt64, limit: Int, ledger: Ledger, render: ViewRendering) throws -> (end: UInt64, bytes: ByteBuffer)? {
        if let cached = pages.withLock({ $0.byStart[after] }), cached.end <= through { return cached }
        let messages = try messages(after: after, through: through, limit: limit, ledger: ledger, render: render)
        guard let last = messages.last else { return nil }
        var bytes = ByteBuffer()
        bytes.reserveCapacity(messages.reduce(0) { $0 + $1.bytes.readableBytes })
        for message in messages {
            var m = message.bytes
            bytes.writeBuffer(&m)
        }
        let page = (end: last.position, bytes: bytes)
        pages.withLock { p in
            if p.byStart.updateValue(page, forKey: after) == nil { p.order.append(after) }
            if p.order.count > Self.pagesKept {
                let dropped = p.order.count - Self.pagesKept
                for start in p.order.prefix(dropped) { p.byStart[start] = nil }
                p.order.removeFirst(dropped)
            }
        }
        return page
    }

    /// The messages of every event after `after` through `through` (at most `limit` of them), in
    /// log order, from memory where it has them and from the log otherwise.
    func messages(after: UInt64, through: UInt64, limit: Int, ledger: Ledger, render: ViewRendering) throws -> [Message] {
        let end = Swift.min(through, after + UInt64(limit))
        guard end > after else { return [] }
        var out: [Message] = []
        out.reserveCapacity(Int(end - after))
        var missingFrom: UInt64?
        state.withLock { s in
            for position in after + 1...end {
                guard let message = s.messages[position] else { missingFrom = position; return }
                out.append(message)
            }
        }
        guard let from = missingFrom else { return out }
        let records = try ledger.events(after: from - 1, through: end, limit: Int(end - from + 1))
        let rendered = records.map { Self.message($0, render: render) }
        state.withLock { s in
            // A client catching up far behind must not push the newest events out for the others.
            let oldest = s.order.count < capacity ? 0 : s.order[s.next]
            for message in rendered where s.messages[message.position] == nil && message.position > oldest {
                if s.order.count < capacity {
                    s.order.append(message.position)
                } else {
                    s.messages[s.order[s.next]] = nil
                    s.order[s.next] = message.position
                    s.next = (s.next + 1) % capacity
                }
                s.messages[message.position] = message
            }
        }
        return out + rendered
    }
}

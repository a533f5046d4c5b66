import BinaryCodec

public struct OrderProjection: Projection {
    public let name = "orders"
    public let tables: [ProjectionTable] = [.orders, .ordersByUser]
    public init() {}

    public func apply<S: ProjectionStore>(_ e: RecordedEvent, to store: S) throws {
        switch e.event {
        case let .orderCompleted(o):
            try store.put(.orders, Key.id(o.orderId), OrderRecord(completed: o, at: e.timestamp).encoded())
            try store.put(.ordersByUser, Key.ids(o.userId, o.orderId), [])
        case let .orderFailed(f):
            try store.put(.orders, Key.id(f.orderId), OrderRecord(failed: f, at: e.timestamp).encoded())
            try store.put(.ordersByUser, Key.ids(f.userId, f.orderId), [])
        case let .orderCompensated(c):
            guard let bytes = try store.get(.orders, Key.id(c.orderId)) else { return }
            var record = try OrderRecord.decode(bytes)
            record.status = .compensated
            record.compensatedAt = e.timestamp
            record.compensationReason = c.reason
            try store.put(.orders, Key.id(c.orderId), record.encoded())
        default: return
        }
    }
}

/// Units sold per product per local calendar day, net of compensations (taken back from the
/// day the order was placed). Best-sellers over any window are sums over these rows.
public struct DailySalesProjection: Projection {
    public let name = "daily-sales"
    public let tables: [ProjectionTable] = [.dailySales]
    public let calendar: DayCalendar

    public init(calendar: DayCalendar) { self.calendar = calendar }

    public func apply<S: ProjectionStore>(_ e: RecordedEvent, to store: S) throws {
        switch e.event {
        case let .orderCompleted(o):
            let day = calendar.day(of: e.timestamp)
            for line in o.lines { try add(line.quantity, product: line.productId, day: day, store) }
        case let .orderCompensated(c):
            let day = calendar.day(of: c.orderedAt)
            for item in c.items { try add(-item.quantity, product: item.productId, day: day, store) }
        default: return
        }
    }

    private func add<S: ProjectionStore>(_ quantity: Int64, product: Int64, day: Int64, _ store: S) throws {
        let key = Key.ids(day, product)
        let current = try store.get(.dailySales, key).map { try $0.decode { try $0.readVarInt() } } ?? 0
        let next = current + quantity
        if next == 0 {
            try store.delete(.dailySales, key)
        } else {
            var w = BinaryWriter(capacity: 10)
            w.write(varint: next)
            try store.put(.dailySales, key, w.bytes)
        }
    }
}

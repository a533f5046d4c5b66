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

    /// Units of one product an event adds to a day's sales (negative: takes back).
    public struct Sale: Sendable, Equatable {
        public let day: Int64
        public let productId: Int64
        public let quantity: Int64
    }

    /// The event types `sales(in:)` finds sales in: a reader of the log may skip the others undecoded.
    public static let eventTypes: Set<String> = [OrderCompleted.type, OrderCompensated.type]

    /// What `apply` adds up: for readers that keep sums of their own from the log.
    public func sales(in e: RecordedEvent) -> [Sale] {
        switch e.event {
        case let .orderCompleted(o):
            let day = calendar.day(of: e.timestamp)
            return o.lines.map { Sale(day: day, productId: $0.productId, quantity: $0.quantity) }
        case let .orderCompensated(c):
            let day = calendar.day(of: c.orderedAt)
            return c.items.map { Sale(day: day, productId: $0.productId, quantity: -$0.quantity) }
        default:
            return []
        }
    }

    public struct BestSeller: Sendable, Equatable {
        public let productId: Int64
        public let quantity: Int64
    }

    /// The best sellers of `unitsSold`: the `limit` largest positive totals, ties to the lower
    /// product id. One pass that keeps the best `limit` so far, not a sort of every product.
    public static func rank(_ unitsSold: [Int64: Int64], limit: Int) -> [BestSeller] {
        func before(_ a: BestSeller, _ b: BestSeller) -> Bool {
            a.quantity != b.quantity ? a.quantity > b.quantity : a.productId < b.productId
        }
        var best: [BestSeller] = []
        best.reserveCapacity(min(max(limit, 0), unitsSold.count) + 1)
        for (productId, quantity) in unitsSold where quantity > 0 {
            let seller = BestSeller(productId: productId, quantity: quantity)
            if best.count == limit, let last = best.last, !before(seller, last) { continue }
            let at = best.firstIndex { before(seller, $0) } ?? best.count
            best.insert(seller, at: at)
            if best.count > limit { best.removeLast() }
        }
        return best
    }

    public func apply<S: ProjectionStore>(_ e: RecordedEvent, to store: S) throws {
        for sale in sales(in: e) { try add(sale.quantity, product: sale.productId, day: sale.day, store) }
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

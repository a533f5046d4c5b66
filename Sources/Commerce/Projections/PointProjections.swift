import BinaryCodec

public struct PointBalanceProjection: Projection {
    public let name = "point-balances"
    public let tables: [ProjectionTable] = [.pointBalances]
    public init() {}

    public func apply<S: ProjectionStore>(_ e: RecordedEvent, to store: S) throws {
        let (user, balance): (Int64, Int64)
        switch e.event {
        case let .pointCharged(c): (user, balance) = (c.userId, c.balanceAfter)
        case let .pointUsed(u): (user, balance) = (u.movement.userId, u.movement.balanceAfter)
        case let .pointRefunded(r): (user, balance) = (r.movement.userId, r.movement.balanceAfter)
        default: return
        }
        var w = BinaryWriter(capacity: 10)
        w.write(varint: balance)
        try store.put(.pointBalances, Key.id(user), w.bytes)
    }
}

public struct PointHistoryProjection: Projection {
    public let name = "point-history"
    public let tables: [ProjectionTable] = [.pointHistory]
    public init() {}

    public func apply<S: ProjectionStore>(_ e: RecordedEvent, to store: S) throws {
        let (user, entry): (Int64, PointHistoryEntry)
        switch e.event {
        case let .pointCharged(c):
            (user, entry) = (c.userId, .init(position: e.position, type: .charge, amount: c.amount, balanceAfter: c.balanceAfter, orderId: nil, at: e.timestamp))
        case let .pointUsed(u):
            let m = u.movement
            (user, entry) = (m.userId, .init(position: e.position, type: .use, amount: m.amount, balanceAfter: m.balanceAfter, orderId: m.orderId, at: e.timestamp))
        case let .pointRefunded(r):
            let m = r.movement
            (user, entry) = (m.userId, .init(position: e.position, type: .refund, amount: m.amount, balanceAfter: m.balanceAfter, orderId: m.orderId, at: e.timestamp))
        default: return
        }
        try store.put(.pointHistory, Key.ids(user, e.position), entry.encoded())
    }
}

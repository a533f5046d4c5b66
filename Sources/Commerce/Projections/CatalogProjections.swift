public struct ProductProjection: Projection {
    public let name = "products"
    public let tables: [ProjectionTable] = [.products]
    public init() {}

    public func apply<S: ProjectionStore>(_ e: RecordedEvent, to store: S) throws {
        let change: StockChange
        switch e.event {
        case let .productRegistered(p):
            try store.put(.products, Key.id(p.productId), ProductRecord(registered: p).encoded())
            return
        case let .productRestocked(r): change = r.change
        case let .stockDeducted(d): change = d.change
        case let .stockRestored(r): change = r.change
        default: return
        }
        guard let bytes = try store.get(.products, Key.id(change.productId)) else { return }
        var record = try ProductRecord.decode(bytes)
        record.stock = change.stockAfter
        try store.put(.products, Key.id(change.productId), record.encoded())
    }
}

public struct CouponProjection: Projection {
    public let name = "coupons"
    public let tables: [ProjectionTable] = [.coupons]
    public init() {}

    public func apply<S: ProjectionStore>(_ e: RecordedEvent, to store: S) throws {
        switch e.event {
        case let .couponDefined(d):
            try store.put(.coupons, Key.id(d.couponId), CouponRecord(definition: d, issuedQuantity: 0).encoded())
        case let .couponIssued(i):
            guard let bytes = try store.get(.coupons, Key.id(i.couponId)) else { return }
            var record = try CouponRecord.decode(bytes)
            record.issuedQuantity += 1
            if record.remaining <= 0, record.soldOutAt == nil { record.soldOutAt = e.timestamp }
            try store.put(.coupons, Key.id(i.couponId), record.encoded())
        default: return
        }
    }
}

public struct UserCouponProjection: Projection {
    public let name = "user-coupons"
    public let tables: [ProjectionTable] = [.userCoupons]
    public init() {}

    public func apply<S: ProjectionStore>(_ e: RecordedEvent, to store: S) throws {
        switch e.event {
        case let .couponIssued(i):
            try store.put(.userCoupons, Key.ids(i.userId, i.couponId), UserCouponRecord(issued: i).encoded())
        case let .couponUsed(u):
            try update(u.use, store) { $0.used = true; $0.usedAt = e.timestamp; $0.orderId = u.use.orderId }
        case let .couponRestored(r):
            try update(r.use, store) { $0.used = false; $0.usedAt = nil; $0.orderId = nil }
        default: return
        }
    }

    private func update<S: ProjectionStore>(_ use: CouponUse, _ store: S, _ change: (inout UserCouponRecord) -> Void) throws {
        let key = Key.ids(use.userId, use.couponId)
        guard let bytes = try store.get(.userCoupons, key) else { return }
        var record = try UserCouponRecord.decode(bytes)
        change(&record)
        try store.put(.userCoupons, key, record.encoded())
    }
}

public struct CouponIssueRequestProjection: Projection {
    public let name = "coupon-issue-requests"
    public let tables: [ProjectionTable] = [.issueRequests]
    public init() {}

    public func apply<S: ProjectionStore>(_ e: RecordedEvent, to store: S) throws {
        switch e.event {
        case let .couponIssueRequested(r):
            try store.put(.issueRequests, Key.id(r.requestId), IssueRequestRecord(requested: r, at: e.timestamp).encoded())
        case let .couponIssued(i):
            guard let requestId = i.requestId else { return }
            try update(requestId, store) { $0.status = .issued; $0.userCouponId = i.userCouponId; $0.decidedAt = e.timestamp }
        case let .couponIssueRejected(r):
            try update(r.requestId, store) { $0.status = .rejected; $0.reason = r.reason; $0.decidedAt = e.timestamp }
        default: return
        }
    }

    private func update<S: ProjectionStore>(_ id: Int64, _ store: S, _ change: (inout IssueRequestRecord) -> Void) throws {
        guard let bytes = try store.get(.issueRequests, Key.id(id)) else { return }
        var record = try IssueRequestRecord.decode(bytes)
        change(&record)
        try store.put(.issueRequests, Key.id(id), record.encoded())
    }
}

/// The last id handed out per kind, so deciders can number new products, coupons, orders…
public struct SequenceProjection: Projection {
    public enum Kind: String, Sendable, CaseIterable {
        case product, coupon, userCoupon, order, issueRequest
    }

    public let name = "sequences"
    public let tables: [ProjectionTable] = [.sequences]
    public init() {}

    public func apply<S: ProjectionStore>(_ e: RecordedEvent, to store: S) throws {
        switch e.event {
        case let .productRegistered(p): try raise(.product, to: p.productId, store)
        case let .couponDefined(d): try raise(.coupon, to: d.couponId, store)
        case let .couponIssued(i): try raise(.userCoupon, to: i.userCouponId, store)
        case let .couponIssueRequested(r): try raise(.issueRequest, to: r.requestId, store)
        case let .orderCompleted(o): try raise(.order, to: o.orderId, store)
        case let .orderFailed(o): try raise(.order, to: o.orderId, store)
        default: return
        }
    }

    private func raise<S: ProjectionStore>(_ kind: Kind, to id: Int64, _ store: S) throws {
        let key = Array(kind.rawValue.utf8)
        let current = try store.get(.sequences, key).map { Key.read($0, at: 0) } ?? 0
        if id > current { try store.put(.sequences, key, Key.id(id)) }
    }
}

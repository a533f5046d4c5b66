import BinaryCodec

/// Loads the state each decider needs from the projection tables and calls it. Run inside the
/// writer's transaction, so the state includes every earlier command of the same batch.
public struct CommandHandler<S: ProjectionStore> {
    public let views: CommerceViews<S>
    public let rules: CommerceRules

    public init(store: S, rules: CommerceRules) {
        views = CommerceViews(store)
        self.rules = rules
    }

    public func decide(_ command: CommerceCommand, now: Timestamp) throws -> [CommerceEvent] {
        switch command {
        case let .chargePoints(user, amount):
            return try PointDecider.charge(userId: user, amount: amount, balance: try views.balance(of: user), rules: rules)
        case let .registerProduct(name, price, stock):
            return try ProductDecider.register(name: name, price: price, stock: stock, nextId: try views.nextId(.product), rules: rules)
        case let .restockProduct(product, quantity):
            return try ProductDecider.restock(productId: product, quantity: quantity, product: try views.product(product), rules: rules)
        case let .defineCoupon(definition):
            return try CouponDecider.define(definition, nextId: try views.nextId(.coupon), rules: rules)
        case let .issueCoupon(user, coupon):
            let issued = try CouponDecider.issue(
                userId: user, couponId: coupon, coupon: try views.coupon(coupon), held: try views.userCoupon(user: user, coupon: coupon),
                nextUserCouponId: try views.nextId(.userCoupon), requestId: nil, now: now)
            return [.couponIssued(issued)]
        case let .requestCouponIssue(user, coupon):
            return try CouponDecider.request(
                userId: user, couponId: coupon, coupon: try views.coupon(coupon), held: try views.userCoupon(user: user, coupon: coupon),
                nextRequestId: try views.nextId(.issueRequest), now: now)
        case let .placeOrder(user, items, couponId):
            try OrderDecider.validate(userId: user, items: items, couponId: couponId, rules: rules)
            var products: [Int64: ProductRecord] = [:]
            for item in items { products[item.productId] = try views.product(item.productId) }
            let state = OrderState(
                products: products, coupon: try couponId.flatMap { try views.coupon($0) },
                held: try couponId.flatMap { try views.userCoupon(user: user, coupon: $0) },
                balance: try views.balance(of: user), nextOrderId: try views.nextId(.order))
            return try OrderDecider.place(userId: user, items: items, couponId: couponId, state: state, now: now, rules: rules)
        case let .compensateOrder(orderId, reason):
            let order = orderId > 0 ? try views.order(orderId) : nil
            var products: [Int64: ProductRecord] = [:]
            var held: UserCouponRecord?
            var balance: Int64 = 0
            if let order {
                for line in order.lines { products[line.productId] = try views.product(line.productId) }
                held = try order.couponId.flatMap { try views.userCoupon(user: order.userId, coupon: $0) }
                balance = try views.balance(of: order.userId)
            }
            return try OrderDecider.compensate(orderId: orderId, reason: reason, order: order, products: products,
                                               held: held, balance: balance, now: now, rules: rules)
        }
    }

    /// The issuance processor's decision for one queued request.
    public func decide(request: CouponIssueRequested, now: Timestamp) throws -> CommerceEvent {
        CouponDecider.decide(
            request: request, coupon: try views.coupon(request.couponId),
            held: try views.userCoupon(user: request.userId, coupon: request.couponId),
            nextUserCouponId: try views.nextId(.userCoupon), now: now)
    }

    /// The caller's answer, made from the events the command recorded: a first answer and a
    /// replayed one are the same function of the same events, whatever the views held meanwhile.
    /// Views supply only what the events do not repeat and what never changes afterwards (a
    /// product's name and price; an order once compensated).
    public func answer(to events: [RecordedEvent]) throws -> CommandResult {
        for recorded in events.reversed() {
            switch recorded.event {
            case let .pointCharged(c): return .pointsCharged(userId: c.userId, balance: c.balanceAfter)
            case let .productRegistered(p): return .product(ProductRecord(registered: p))
            case let .productRestocked(p):
                guard var product = try views.product(p.change.productId) else { continue }
                product.stock = p.change.stockAfter
                return .product(product)
            case let .couponDefined(d): return .coupon(CouponRecord(definition: d, issuedQuantity: 0))
            case let .couponIssued(i): return .couponIssued(UserCouponRecord(issued: i))
            case let .couponIssueRequested(q): return .couponIssueRequested(IssueRequestRecord(requested: q, at: recorded.timestamp))
            case let .orderCompleted(o): return .orderCompleted(OrderRecord(completed: o, at: recorded.timestamp))
            case let .orderFailed(f): return .orderFailed(orderId: f.orderId, reason: f.reason, step: f.step, message: f.message)
            case let .orderCompensated(c): if let order = try views.order(c.orderId) { return .orderCompensated(order) }
            default: continue
            }
        }
        throw DecodingError("events \(events.map(\.event.typeName)) hold no answer")
    }
}

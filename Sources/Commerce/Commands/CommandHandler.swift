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
            return try CouponDecider.request(userId: user, couponId: coupon, coupon: try views.coupon(coupon), nextRequestId: try views.nextId(.issueRequest))
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

    /// The caller's answer, read from the views once the command's events are applied.
    public func result(of command: CommerceCommand, events: [CommerceEvent]) throws -> CommandResult {
        for event in events.reversed() {
            switch event {
            case let .pointCharged(c): return .pointsCharged(userId: c.userId, balance: c.balanceAfter)
            case let .productRegistered(p): if let r = try views.product(p.productId) { return .product(r) }
            case let .productRestocked(p): if let r = try views.product(p.change.productId) { return .product(r) }
            case let .couponDefined(d): if let r = try views.coupon(d.couponId) { return .coupon(r) }
            case let .couponIssued(i): if let r = try views.userCoupon(user: i.userId, coupon: i.couponId) { return .couponIssued(r) }
            case let .couponIssueRequested(q): if let r = try views.issueRequest(q.requestId) { return .couponIssueRequested(r) }
            case let .orderCompleted(o): if let r = try views.order(o.orderId) { return .orderCompleted(r) }
            case let .orderFailed(f): return .orderFailed(orderId: f.orderId, reason: f.reason, step: f.step, message: f.message)
            case let .orderCompensated(c): if let r = try views.order(c.orderId) { return .orderCompensated(r) }
            default: continue
            }
        }
        throw DecodingError("\(command.name) produced no result")
    }
}

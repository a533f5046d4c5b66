/// What an order is decided against: every product of its lines, the user's coupon, the balance.
public struct OrderState: Sendable {
    public var products: [Int64: ProductRecord]
    public var coupon: CouponRecord?
    public var held: UserCouponRecord?
    public var balance: Int64
    public var nextOrderId: Int64

    public init(products: [Int64: ProductRecord], coupon: CouponRecord?, held: UserCouponRecord?, balance: Int64, nextOrderId: Int64) {
        self.products = products
        self.coupon = coupon
        self.held = held
        self.balance = balance
        self.nextOrderId = nextOrderId
    }
}

public enum OrderDecider {
    /// Input the rules never accept: refused with no event.
    public static func validate(userId: Int64, items: [OrderItem], couponId: Int64?, rules: CommerceRules) throws {
        try Validate.id(userId, "userId")
        guard !items.isEmpty else { throw CommerceError.invalid("an order needs at least one item") }
        guard items.count <= rules.maxOrderLines else { throw CommerceError.invalid("an order takes at most \(rules.maxOrderLines) products") }
        var seen = Set<Int64>()
        for item in items {
            try Validate.id(item.productId, "productId")
            guard (1...rules.maxQuantityPerLine).contains(item.quantity) else {
                throw CommerceError.invalid("quantity must be between 1 and \(rules.maxQuantityPerLine), got \(item.quantity)")
            }
            guard seen.insert(item.productId).inserted else { throw CommerceError.invalid("product \(item.productId) appears twice") }
        }
        if let couponId { try Validate.id(couponId, "couponId") }
    }

    /// All steps of the seed's flow decided at once: either every deduction happens together with
    /// `OrderCompleted`, or a single `OrderFailed` records why and nothing else changes.
    public static func place(
        userId: Int64, items: [OrderItem], couponId: Int64?, state: OrderState, now: Timestamp, rules: CommerceRules
    ) throws -> [CommerceEvent] {
        try validate(userId: userId, items: items, couponId: couponId, rules: rules)
        var lines: [OrderLine] = []
        lines.reserveCapacity(items.count)
        for item in items {
            guard let product = state.products[item.productId] else {
                throw CommerceError(.productNotFound, "product \(item.productId) does not exist")
            }
            lines.append(OrderLine(productId: product.id, name: product.name, unitPrice: product.price, quantity: item.quantity))
        }
        let orderId = state.nextOrderId
        func failed(_ code: CommerceError.Code, _ step: OrderStep, _ message: String) -> [CommerceEvent] {
            [.orderFailed(OrderFailed(orderId: orderId, userId: userId, items: items, couponId: couponId, reason: code, step: step, message: message))]
        }

        for item in items {
            let stock = state.products[item.productId]?.stock ?? 0
            if stock < item.quantity {
                return failed(.insufficientStock, .stock, "product \(item.productId) has \(stock) in stock, \(item.quantity) ordered")
            }
        }

        var total: Int64 = 0
        for line in lines {
            let (amount, o1) = line.unitPrice.multipliedReportingOverflow(by: line.quantity)
            let (sum, o2) = total.addingReportingOverflow(amount)
            guard !o1, !o2 else { throw CommerceError.invalid("order total is too large") }
            total = sum
        }

        var discount: Int64 = 0
        if let couponId {
            guard let held = state.held, let coupon = state.coupon, held.status(at: now) == .available else {
                let why = state.held == nil ? "is not held" : (state.held?.used == true ? "is already used" : "has expired")
                return failed(.couponNotUsable, .coupon, "coupon \(couponId) \(why) by user \(userId)")
            }
            discount = coupon.definition.discount.amount(on: total)
        }
        let paid = total - discount

        guard state.balance >= paid else {
            return failed(.insufficientPoints, .points, "balance \(state.balance) does not cover \(paid) won")
        }

        var events: [CommerceEvent] = []
        events.reserveCapacity(lines.count + 3)
        for item in items {
            let stock = state.products[item.productId]?.stock ?? 0
            events.append(.stockDeducted(StockDeducted(StockChange(productId: item.productId, quantity: item.quantity, stockAfter: stock - item.quantity, orderId: orderId))))
        }
        if let couponId {
            events.append(.couponUsed(CouponUsed(CouponUse(couponId: couponId, userId: userId, orderId: orderId))))
        }
        if paid > 0 {
            events.append(.pointUsed(PointUsed(PointMovement(userId: userId, amount: paid, balanceAfter: state.balance - paid, orderId: orderId))))
        }
        events.append(.orderCompleted(OrderCompleted(orderId: orderId, userId: userId, lines: lines, couponId: couponId,
                                                     totalAmount: total, discountAmount: discount, paidAmount: paid)))
        return events
    }

    /// Cancel and refund a completed order. The coupon comes back only while it is still valid;
    /// the refund may lift a balance above the charge limit, which caps charges, not money owed back.
    public static func compensate(
        orderId: Int64, reason: String, order: OrderRecord?, products: [Int64: ProductRecord],
        held: UserCouponRecord?, balance: Int64, now: Timestamp, rules: CommerceRules
    ) throws -> [CommerceEvent] {
        try Validate.id(orderId, "orderId")
        try Validate.name(reason, "reason", max: rules.maxNameLength)
        guard let order else { throw CommerceError(.orderNotFound, "order \(orderId) does not exist") }
        guard order.status == .completed else {
            throw CommerceError(.orderNotCompensable, "order \(orderId) is \(order.status.rawValue), only a COMPLETED order can be compensated")
        }
        // A refund (or a restock) past Int64 cannot be written down: refused, never trapped. Only a
        // ledger whose balance limit is near Int64.max can get there.
        let (balanceAfter, balanceOverflow) = balance.addingReportingOverflow(order.paidAmount)
        guard !balanceOverflow else {
            throw CommerceError(.balanceLimitExceeded, "refunding \(order.paidAmount) won to a balance of \(balance) would overflow it")
        }
        var events: [CommerceEvent] = []
        for line in order.lines {
            let (stockAfter, stockOverflow) = (products[line.productId]?.stock ?? 0).addingReportingOverflow(line.quantity)
            guard !stockOverflow else { throw CommerceError(.stockLimitExceeded, "restoring \(line.quantity) of product \(line.productId) would overflow its stock") }
            events.append(.stockRestored(StockRestored(StockChange(productId: line.productId, quantity: line.quantity, stockAfter: stockAfter, orderId: orderId))))
        }
        var couponRestored = false
        if let couponId = order.couponId, let held, held.used, held.orderId == orderId, now < held.expiresAt {
            events.append(.couponRestored(CouponRestored(CouponUse(couponId: couponId, userId: order.userId, orderId: orderId))))
            couponRestored = true
        }
        if order.paidAmount > 0 {
            events.append(.pointRefunded(PointRefunded(PointMovement(userId: order.userId, amount: order.paidAmount, balanceAfter: balanceAfter, orderId: orderId))))
        }
        events.append(.orderCompensated(OrderCompensated(
            orderId: orderId, userId: order.userId, reason: reason, orderedAt: order.createdAt,
            items: order.lines.map { OrderItem(productId: $0.productId, quantity: $0.quantity) },
            refundedAmount: order.paidAmount, couponRestored: couponRestored)))
        return events
    }
}

/// Rows as an event first makes them. Projections store these, and a command's answer is built
/// from them, so the first answer and a replayed one cannot drift apart.
extension ProductRecord {
    init(registered p: ProductRegistered) {
        self.init(id: p.productId, name: p.name, price: p.price, stock: p.stock)
    }
}

extension UserCouponRecord {
    init(issued i: CouponIssued) {
        self.init(userCouponId: i.userCouponId, couponId: i.couponId, userId: i.userId, issuedAt: i.issuedAt,
                  expiresAt: i.expiresAt, used: false, usedAt: nil, orderId: nil)
    }
}

extension IssueRequestRecord {
    init(requested r: CouponIssueRequested, at time: Timestamp) {
        self.init(requestId: r.requestId, couponId: r.couponId, userId: r.userId, requestedAt: time,
                  status: .pending, reason: nil, userCouponId: nil, decidedAt: nil)
    }
}

extension OrderRecord {
    init(completed o: OrderCompleted, at time: Timestamp) {
        self.init(orderId: o.orderId, userId: o.userId, status: .completed, lines: o.lines, couponId: o.couponId,
                  totalAmount: o.totalAmount, discountAmount: o.discountAmount, paidAmount: o.paidAmount, createdAt: time)
    }

    /// A failed order keeps what is known of its lines (no names or prices were decided).
    init(failed f: OrderFailed, at time: Timestamp) {
        let lines = f.items.map { OrderLine(productId: $0.productId, name: "", unitPrice: 0, quantity: $0.quantity) }
        self.init(orderId: f.orderId, userId: f.userId, status: .failed, lines: lines, couponId: f.couponId,
                  totalAmount: 0, discountAmount: 0, paidAmount: 0, createdAt: time,
                  failureReason: f.reason.rawValue, failureStep: f.step.rawValue)
    }
}

public enum CouponDecider {
    public static func define(_ d: CouponDefinition, nextId: Int64, rules: CommerceRules) throws -> [CommerceEvent] {
        try Validate.name(d.name, "name", max: rules.maxNameLength)
        try d.discount.validate()
        guard (1...rules.maxCouponQuantity).contains(d.totalQuantity) else {
            throw CommerceError.invalid("totalQuantity must be between 1 and \(rules.maxCouponQuantity)")
        }
        guard d.issueStartsAt < d.issueEndsAt else { throw CommerceError.invalid("issueStartsAt must be before issueEndsAt") }
        switch d.validity {
        case let .days(days):
            guard (1...3650).contains(days) else { throw CommerceError.invalid("validDays must be between 1 and 3650") }
        case let .until(t):
            // Otherwise the end of the issue window would hand out coupons already expired, each
            // taking one of the limited quantity.
            guard t >= d.issueEndsAt else { throw CommerceError.invalid("validUntil must not be before issueEndsAt") }
        }
        return [.couponDefined(CouponDefined(couponId: nextId, name: d.name, discount: d.discount, totalQuantity: d.totalQuantity,
                                             issueStartsAt: d.issueStartsAt, issueEndsAt: d.issueEndsAt, validity: d.validity))]
    }

    /// First come, first served, against the state the single writer holds, so no lock or queue
    /// is needed. The checks run in the order of the seed's final design (2-1-3: issue period,
    /// already issued, quantity), with 2-1-1's expiry check beside the period: a coupon valid
    /// until a fixed moment is not issued after it.
    public static func issue(
        userId: Int64, couponId: Int64, coupon: CouponRecord?, held: UserCouponRecord?,
        nextUserCouponId: Int64, requestId: Int64?, now: Timestamp
    ) throws -> CouponIssued {
        let d = try check(userId: userId, couponId: couponId, coupon: coupon, held: held, now: now, beforeTheWindow: false)
        return CouponIssued(couponId: couponId, userId: userId, userCouponId: nextUserCouponId, issuedAt: now,
                            expiresAt: d.validity.expiry(issuedAt: now), requestId: requestId)
    }

    /// Queues a request (the seed's 2-1-2), refusing at once what the processor could only refuse
    /// later: a window that has ended, a validity that has passed, a coupon the user holds, one
    /// sold out. Each of these stays true once it is, so refusing now changes no outcome; only a
    /// window not yet open is left to the processor, which decides when the request's turn comes.
    public static func request(
        userId: Int64, couponId: Int64, coupon: CouponRecord?, held: UserCouponRecord?, nextRequestId: Int64, now: Timestamp
    ) throws -> [CommerceEvent] {
        _ = try check(userId: userId, couponId: couponId, coupon: coupon, held: held, now: now, beforeTheWindow: true)
        return [.couponIssueRequested(CouponIssueRequested(requestId: nextRequestId, couponId: couponId, userId: userId))]
    }

    /// The checks of an issue, in order; `beforeTheWindow` lets a moment before the window opens pass.
    private static func check(
        userId: Int64, couponId: Int64, coupon: CouponRecord?, held: UserCouponRecord?, now: Timestamp, beforeTheWindow: Bool
    ) throws -> CouponDefined {
        try Validate.id(userId, "userId")
        try Validate.id(couponId, "couponId")
        guard let coupon else { throw CommerceError(.couponNotFound, "coupon \(couponId) does not exist") }
        let d = coupon.definition
        guard beforeTheWindow || now >= d.issueStartsAt, now < d.issueEndsAt else {
            throw CommerceError(.couponNotActive, "coupon \(couponId) is issued only from \(ISO8601.format(d.issueStartsAt)) until \(ISO8601.format(d.issueEndsAt))")
        }
        if case let .until(t) = d.validity, now >= t {
            throw CommerceError(.couponExpired, "coupon \(couponId) expired at \(ISO8601.format(t))")
        }
        guard held == nil else { throw CommerceError(.couponAlreadyIssued, "user \(userId) already holds coupon \(couponId)") }
        guard coupon.issuedQuantity < d.totalQuantity else {
            throw CommerceError(.couponSoldOut, "all \(d.totalQuantity) of coupon \(couponId) are issued")
        }
        return d
    }

    /// The issuance processor's decision on a queued request: the same rules as a direct issue,
    /// with a refusal recorded as an event instead of thrown.
    public static func decide(
        request r: CouponIssueRequested, coupon: CouponRecord?, held: UserCouponRecord?, nextUserCouponId: Int64, now: Timestamp
    ) -> CommerceEvent {
        do {
            return .couponIssued(try issue(userId: r.userId, couponId: r.couponId, coupon: coupon, held: held,
                                           nextUserCouponId: nextUserCouponId, requestId: r.requestId, now: now))
        } catch let error as CommerceError {
            return .couponIssueRejected(CouponIssueRejected(requestId: r.requestId, couponId: r.couponId, userId: r.userId, reason: error.code.rawValue))
        } catch {
            return .couponIssueRejected(CouponIssueRejected(requestId: r.requestId, couponId: r.couponId, userId: r.userId, reason: "\(error)"))
        }
    }
}

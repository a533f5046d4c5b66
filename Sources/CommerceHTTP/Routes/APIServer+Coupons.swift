import Commerce
import Hummingbird
import LedgerJSON

extension APIServer {
    func addCouponRoutes(to router: Router<CommerceRequestContext>) {
        router.post("/admin/coupons") { request, context in
            try requireAdmin(request, context)
            let body = try await RequestInput.object(request, context: context)
            return try await answer(.defineCoupon(try Self.couponDefinition(body, maxNameLength: ledger.configuration.rules.maxNameLength)), request)
        }

        router.get("/coupons") { request, _ in
            let limit = try RequestInput.limit(request)
            let after = try RequestInput.query(request, "after", in: 0...Int64.max) ?? 0
            let page = try ledger.coupons(after: after, limit: limit)
            return JSONResponse.make(.ok, .object([("items", .array(page.items.map(render.coupon))), ("next", .optional(page.next))]))
        }

        router.get("/coupons/:couponId") { _, context in
            let id = try RequestInput.id(context, "couponId")
            guard let coupon = try ledger.coupon(id) else { throw CommerceError(.couponNotFound, "coupon \(id) does not exist") }
            return JSONResponse.make(.ok, render.coupon(coupon))
        }

        router.post("/coupons/:couponId/issue") { request, context in
            let coupon = try RequestInput.id(context, "couponId")
            let body = try await RequestInput.object(request, context: context)
            return try await answer(.issueCoupon(userId: try body.int("userId"), couponId: coupon), request)
        }

        router.post("/coupons/:couponId/issue-requests") { request, context in
            let coupon = try RequestInput.id(context, "couponId")
            let body = try await RequestInput.object(request, context: context)
            return try await answer(.requestCouponIssue(userId: try body.int("userId"), couponId: coupon), request)
        }

        router.get("/coupon-issue-requests/:requestId") { _, context in
            let id = try RequestInput.id(context, "requestId")
            guard let r = try ledger.issueRequest(id) else { throw CommerceError(.requestNotFound, "coupon issue request \(id) does not exist") }
            return JSONResponse.make(.ok, render.request(r))
        }

        router.get("/users/:userId/coupons") { request, context in
            let user = try RequestInput.id(context, "userId")
            var status: UserCouponStatus?
            if let text = request.uri.queryParameters.get("status") {
                guard let s = UserCouponStatus(rawValue: String(text)) else { throw APIError.invalid("status must be AVAILABLE, USED or EXPIRED") }
                status = s
            }
            let items = try ledger.userCoupons(of: user, status: status)
            return JSONResponse.make(.ok, .object([("items", .array(items.map { render.userCoupon($0.record, coupon: $0.coupon, status: $0.status) }))]))
        }
    }

    static func couponDefinition(_ body: JSONObject, maxNameLength: Int) throws -> CouponDefinition {
        let d = try body.object("discount")
        let discount: Discount
        switch try d.string("type") {
        case "FIXED": discount = .fixed(amount: try d.int("amount"))
        case "PERCENT": discount = .percent(try d.int("percent"), maxAmount: try d.optionalInt("maxAmount"))
        default: throw APIError.invalid("discount.type must be FIXED or PERCENT")
        }
        let validity: CouponValidity
        switch (try body.optionalInt("validDays"), try body.optionalString("validUntil")) {
        case let (days?, nil): validity = .days(days)
        case (nil, _?): validity = .until(try body.time("validUntil"))
        default: throw APIError.invalid("give exactly one of validDays or validUntil")
        }
        return CouponDefinition(name: try body.text("name", maxLength: maxNameLength), discount: discount, totalQuantity: try body.int("totalQuantity"),
                                issueStartsAt: try body.time("issueStartsAt"), issueEndsAt: try body.time("issueEndsAt"), validity: validity)
    }
}

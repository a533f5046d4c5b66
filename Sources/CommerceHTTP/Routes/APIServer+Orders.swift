import Commerce
import Hummingbird
import LedgerJSON

extension APIServer {
    func addOrderRoutes(to router: Router<CommerceRequestContext>) {
        router.post("/orders") { request, context in
            let body = try await RequestInput.object(request, context: context)
            let items = try body.array("items").enumerated().map { index, value -> OrderItem in
                guard case let .object(fields) = value else { throw APIError.invalid("items[\(index)] must be an object") }
                let item = JSONObject(fields: fields, path: "items[\(index)]")
                return OrderItem(productId: try item.int("productId"), quantity: try item.int("quantity"))
            }
            let command = CommerceCommand.placeOrder(userId: try body.int("userId"), items: items, couponId: try body.optionalInt("couponId"))
            return try await answer(command, request)
        }

        router.post("/orders/:orderId/compensate") { request, context in
            let order = try RequestInput.id(context, "orderId")
            let body = try await RequestInput.object(request, context: context)
            return try await answer(.compensateOrder(orderId: order, reason: try body.text("reason", maxLength: ledger.configuration.rules.maxNameLength)), request)
        }

        router.get("/orders/:orderId") { _, context in
            let id = try RequestInput.id(context, "orderId")
            guard let order = try ledger.order(id) else { throw CommerceError(.orderNotFound, "order \(id) does not exist") }
            return JSONResponse.make(.ok, render.order(order))
        }

        router.get("/users/:userId/orders") { request, context in
            let user = try RequestInput.id(context, "userId")
            let limit = try RequestInput.limit(request)
            let before = try RequestInput.query(request, "before", in: 1...Int64.max)
            let page = try ledger.orders(of: user, before: before, limit: limit)
            return JSONResponse.make(.ok, .object([("items", .array(page.items.map(render.order))), ("next", .optional(page.next))]))
        }
    }
}

import Commerce
import Hummingbird
import LedgerJSON

extension APIServer {
    func addProductRoutes(to router: Router<CommerceRequestContext>) {
        router.post("/admin/products") { request, context in
            try requireAdmin(request, context)
            let body = try await RequestInput.object(request, context: context)
            let command = CommerceCommand.registerProduct(name: try body.text("name", maxLength: ledger.configuration.rules.maxNameLength), price: try body.int("price"), stock: try body.int("stock"))
            return try await answer(command, request)
        }

        router.post("/admin/products/:productId/restock") { request, context in
            try requireAdmin(request, context)
            let product = try RequestInput.id(context, "productId")
            let body = try await RequestInput.object(request, context: context)
            return try await answer(.restockProduct(productId: product, quantity: try body.int("quantity")), request)
        }

        router.get("/products") { request, _ in
            let limit = try RequestInput.limit(request)
            let after = try RequestInput.query(request, "after", in: 0...Int64.max) ?? 0
            let page = try ledger.products(after: after, limit: limit)
            return JSONResponse.make(.ok, .object([("items", .array(page.items.map(render.product))), ("next", .optional(page.next))]))
        }

        router.get("/products/top") { request, _ in
            let rules = ledger.configuration.rules
            let days = try RequestInput.query(request, "days", in: 1...Int64(rules.bestSellerMaxDays)).map(Int.init)
            let limit = try RequestInput.query(request, "limit", in: 1...Int64(rules.bestSellerMaxLimit)).map(Int.init)
            var lastDay: Int64?
            if let asOf = request.uri.queryParameters.get("asOf") {
                guard let day = ISO8601.parseDay(String(asOf)) else { throw APIError.invalid("asOf must be a date like 2026-11-24") }
                lastDay = day
            }
            let top = try ledger.bestSellers(lastDay: lastDay, days: days, limit: limit)
            return JSONResponse.make(.ok, .object([
                ("from", .string(ISO8601.formatDay(top.firstDay))), ("to", .string(ISO8601.formatDay(top.lastDay))),
                ("items", .array(top.items.map { e in
                    .object([("rank", .int(Int64(e.rank))), ("productId", .int(e.product.id)), ("name", .string(e.product.name)),
                             ("price", .int(e.product.price)), ("quantity", .int(e.quantity))])
                })),
            ]))
        }

        router.get("/products/:productId") { _, context in
            let id = try RequestInput.id(context, "productId")
            guard let product = try ledger.product(id) else { throw CommerceError(.productNotFound, "product \(id) does not exist") }
            return JSONResponse.make(.ok, render.product(product))
        }
    }
}

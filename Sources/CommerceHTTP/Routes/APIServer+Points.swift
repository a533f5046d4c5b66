import Commerce
import Hummingbird
import LedgerJSON

extension APIServer {
    func addPointRoutes(to router: Router<CommerceRequestContext>) {
        router.post("/users/:userId/points/charge") { request, context in
            let user = try RequestInput.id(context, "userId")
            let body = try await RequestInput.object(request, context: context)
            return try await answer(.chargePoints(userId: user, amount: try body.int("amount")), request)
        }

        router.get("/users/:userId/points") { _, context in
            let user = try RequestInput.id(context, "userId")
            return JSONResponse.make(.ok, .object([("userId", .int(user)), ("balance", .int(try ledger.balance(of: user)))]))
        }

        router.get("/users/:userId/points/history") { request, context in
            let user = try RequestInput.id(context, "userId")
            let limit = try RequestInput.limit(request)
            let before = try RequestInput.query(request, "before", in: 1...Int64.max).map { UInt64($0) }
            let page = try ledger.pointHistory(of: user, before: before, limit: limit)
            return JSONResponse.make(.ok, .object([
                ("items", .array(page.items.map(render.history))),
                ("next", page.next.map { .int(Int64($0)) } ?? .null),
            ]))
        }
    }
}

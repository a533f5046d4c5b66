import EventLog
import Hummingbird
import LedgerJSON

extension APIServer {
    func addEventRoutes(to router: Router<CommerceRequestContext>) {
        router.get("/events") { request, _ in
            let after = UInt64(try RequestInput.query(request, "after", in: 0...Int64.max) ?? 0)
            let limit = try RequestInput.limit(request, default: 100, max: 1_000)
            var filter = EventLog.Filter()
            if let stream = request.uri.queryParameters.get("stream") { filter.stream = String(stream) }
            if let type = request.uri.queryParameters.get("type") { filter.types = [String(type)] }
            // A filtered page looks at a bounded stretch of the log; `next` is where the following
            // page starts, past what was looked at even when nothing matched.
            let page = try ledger.eventPage(after: after, limit: limit, filter: filter)
            return JSONResponse.make(.ok, .object([
                ("items", .array(page.records.map(render.event))),
                ("next", .int(Int64(page.scannedThrough))),
            ]))
        }
    }
}

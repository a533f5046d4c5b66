@testable import CommerceHTTP
import Hummingbird
import LedgerJSON
import Testing

@Suite struct ProductRoutesTests {
    @Test func adminRoutesNeedTheToken() async throws {
        try await APIHarness().run { c in
            let none = try await c.post("/admin/products", #"{"name":"Mug","price":1000,"stock":1}"#)
            #expect(none.status == .unauthorized && none.errorCode == "UNAUTHORIZED")
            let wrong = try await c.call(.post, "/admin/products", #"{"name":"Mug","price":1000,"stock":1}"#, headers: [.authorization: "Bearer nope"])
            #expect(wrong.status == .unauthorized)
            #expect(try await c.post("/admin/coupons", "{}").status == .unauthorized)
            #expect(try await c.post("/admin/products/1/restock", #"{"quantity":1}"#).status == .unauthorized)
            // The scheme is case-insensitive, the token is not.
            let lower = try await c.call(.post, "/admin/products", #"{"name":"Mug","price":1000,"stock":1}"#, headers: [.authorization: "bearer secret"])
            #expect(lower.status == .created)
            #expect(try await c.call(.post, "/admin/products", #"{"name":"Mug","price":1000,"stock":1}"#, headers: [.authorization: "BEARER Secret"]).status == .unauthorized)
            #expect(try await c.call(.post, "/admin/products", #"{"name":"Mug","price":1000,"stock":1}"#, headers: [.authorization: "Bearer"]).status == .unauthorized)
            #expect(try await c.call(.post, "/admin/products", #"{"name":"Mug","price":1000,"stock":1}"#, headers: [.authorization: "Basic secret"]).status == .unauthorized)
        }
    }

    /// A server bound to `::` sees an IPv4 loopback caller as ::ffff:127.0.0.1.
    @Test func loopbackIsRecognisedInEveryFormAPeerAddressTakes() {
        for address in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "::FFFF:127.0.0.2"] { #expect(APIServer.isLoopback(address), "\(address)") }
        for address in ["10.0.0.1", "::ffff:10.0.0.1", "::2", "128.0.0.1", "fe80::1", "1127.0.0.1"] { #expect(!APIServer.isLoopback(address), "\(address)") }
    }

    @Test func withoutATokenOnlyLoopbackIsAdmitted() async throws {
        try await APIHarness(adminToken: nil).run(.live) { c in
            let created = try await c.post("/admin/products", #"{"name":"Mug","price":1000,"stock":1}"#)
            #expect(created.status == .created)
        }
    }

    @Test func registerRestockListAndShow() async throws {
        try await APIHarness().run { c in
            let created = try await c.post("/admin/products", #"{"name":"Mug","price":12000,"stock":100}"#, admin: true)
            #expect(created.status == .created)
            #expect(created.json == .object([("id", .int(1)), ("name", .string("Mug")), ("price", .int(12000)), ("stock", .int(100)), ("position", .int(1))]))
            try await c.post("/admin/products", #"{"name":"Pen","price":1500,"stock":5}"#, admin: true)
            let restocked = try await c.post("/admin/products/1/restock", #"{"quantity":10}"#, admin: true)
            #expect(restocked.status == .ok && restocked.json["stock"] == .int(110))
            #expect(try await c.post("/admin/products/9/restock", #"{"quantity":10}"#, admin: true).errorCode == "PRODUCT_NOT_FOUND")
            #expect(try await c.post("/admin/products", #"{"name":"","price":1,"stock":1}"#, admin: true).status == .badRequest)
            #expect(try await c.post("/admin/products", #"{"name":"X","price":0,"stock":1}"#, admin: true).status == .badRequest)
            let page = try await c.get("/products?limit=1")
            #expect(page.json["items"]?.arrayValue?.count == 1 && page.json["next"] == .int(1))
            let rest = try await c.get("/products?after=1")
            #expect(rest.json["items"]?.arrayValue?.first?["name"] == .string("Pen") && rest.json["next"] == .null)
            #expect(try await c.get("/products/2").json["stock"] == .int(5))
            let missing = try await c.get("/products/77")
            #expect(missing.status == .notFound && missing.errorCode == "PRODUCT_NOT_FOUND")
        }
    }

    @Test func topProducts() async throws {
        try await APIHarness().run { c in
            try await c.seedShop()
            try await c.post("/users/1/points/charge", #"{"amount":1000000}"#)
            try await c.post("/orders", #"{"userId":1,"items":[{"productId":2,"quantity":5},{"productId":1,"quantity":1}]}"#)
            try await c.post("/orders", #"{"userId":1,"items":[{"productId":1,"quantity":2}]}"#)
            let top = try await c.get("/products/top")
            #expect(top.status == .ok)
            #expect(top.json["from"] == .string("2026-11-23") && top.json["to"] == .string("2026-11-25"))
            let items = try #require(top.json["items"]?.arrayValue)
            #expect(items.compactMap { $0["productId"]?.intValue } == [2, 1])
            #expect(items.compactMap { $0["quantity"]?.intValue } == [5, 3])
            #expect(items.first?["rank"] == .int(1) && items.first?["name"] == .string("Pen") && items.first?["price"] == .int(1500))
            let old = try await c.get("/products/top?days=1&limit=1&asOf=2026-11-20")
            #expect(old.json["items"]?.arrayValue?.isEmpty == true && old.json["from"] == .string("2026-11-20"))
            #expect(try await c.get("/products/top?limit=1").json["items"]?.arrayValue?.count == 1)
            for bad in ["days=0", "days=31", "limit=0", "limit=101", "asOf=2026-13-01", "asOf=yesterday"] {
                #expect(try await c.get("/products/top?\(bad)").status == .badRequest, "\(bad)")
            }
        }
    }
}

@Suite struct CouponRoutesTests {
    @Test func defineShowAndIssue() async throws {
        try await APIHarness().run { c in
            try await c.seedShop()
            let coupon = try await c.get("/coupons/1")
            #expect(coupon.json["totalQuantity"] == .int(2) && coupon.json["remaining"] == .int(2) && coupon.json["validDays"] == .int(7))
            #expect(coupon.json["discount"] == .object([("type", .string("FIXED")), ("amount", .int(3000))]))
            #expect(try await c.get("/coupons/2").json["discount"]?["percent"] == .int(10))
            let issued = try await c.post("/coupons/1/issue", #"{"userId":1}"#)
            #expect(issued.status == .created)
            #expect(issued.json["status"] == .string("AVAILABLE") && issued.json["userId"] == .int(1) && issued.json["couponId"] == .int(1))
            #expect(issued.json["expiresAt"] == .string("2026-12-02T10:00:00.000+09:00"))
            #expect(try await c.post("/coupons/1/issue", #"{"userId":1}"#).errorCode == "COUPON_ALREADY_ISSUED")
            try await c.post("/coupons/1/issue", #"{"userId":2}"#)
            let soldOut = try await c.post("/coupons/1/issue", #"{"userId":3}"#)
            #expect(soldOut.status == .conflict && soldOut.errorCode == "COUPON_SOLD_OUT")
            #expect(try await c.get("/coupons/1").json["issuedQuantity"] == .int(2))
            #expect(try await c.post("/coupons/9/issue", #"{"userId":3}"#).status == .notFound)
            #expect(try await c.get("/coupons/9").errorCode == "COUPON_NOT_FOUND")
            let mine = try await c.get("/users/1/coupons?status=AVAILABLE")
            #expect(mine.json["items"]?.arrayValue?.first?["name"] == .string("Welcome"))
            #expect(try await c.get("/users/1/coupons?status=USED").json["items"]?.arrayValue?.isEmpty == true)
            #expect(try await c.get("/users/1/coupons?status=LOST").status == .badRequest)
        }
    }

    @Test func issueWindowIsEnforced() async throws {
        let h = try APIHarness()
        try await h.run { c in
            try await c.post("/admin/coupons", #"{"name":"Later","discount":{"type":"FIXED","amount":1000},"totalQuantity":5,"issueStartsAt":"2026-12-01T00:00:00+09:00","issueEndsAt":"2026-12-02T00:00:00+09:00","validDays":1}"#, admin: true)
            let early = try await c.post("/coupons/1/issue", #"{"userId":1}"#)
            #expect(early.status == .conflict && early.errorCode == "COUPON_NOT_ACTIVE")
        }
    }

    @Test func invalidDefinitionsAre400() async throws {
        try await APIHarness().run { c in
            let base = #""totalQuantity":5,"issueStartsAt":"2026-11-20T00:00:00+09:00","issueEndsAt":"2026-12-20T00:00:00+09:00""#
            for body in [
                #"{"name":"A","discount":{"type":"HALF"},\#(base),"validDays":1}"#,
                #"{"name":"A","discount":{"type":"PERCENT","percent":150},\#(base),"validDays":1}"#,
                #"{"name":"A","discount":{"type":"FIXED","amount":1000},\#(base)}"#,
                #"{"name":"A","discount":{"type":"FIXED","amount":1000},\#(base),"validDays":1,"validUntil":"2027-01-01T00:00:00Z"}"#,
                #"{"name":"A","discount":{"type":"FIXED","amount":1000},"totalQuantity":5,"issueStartsAt":"tomorrow","issueEndsAt":"2026-12-20T00:00:00+09:00","validDays":1}"#,
            ] {
                let r = try await c.post("/admin/coupons", body, admin: true)
                #expect(r.status == .badRequest, "\(body)")
            }
        }
    }

    @Test func asyncRequestsAreDecidedByTheProcessor() async throws {
        let h = try APIHarness()
        try await h.run { c in
            try await c.seedShop()
            var ids: [String] = []
            for user in 1...3 {
                let r = try await c.post("/coupons/1/issue-requests", #"{"userId":\#(user)}"#)
                #expect(r.status == .accepted && r.json["status"] == .string("PENDING"))
                ids.append(try #require(r.json["requestId"]?.stringValue))
            }
            #expect(try await c.post("/coupons/9/issue-requests", #"{"userId":1}"#).status == .notFound)
            #expect(try await c.get("/coupon-issue-requests/\(ids[0])").json["status"] == .string("PENDING"))
            try await h.writer.processIssueRequests(through: try h.ledger.head())
            let statuses = try await ids.asyncMap { try await c.get("/coupon-issue-requests/\($0)").json }
            #expect(statuses.map { $0["status"] } == [.string("ISSUED"), .string("ISSUED"), .string("REJECTED")])
            #expect(statuses[2]["reason"] == .string("COUPON_SOLD_OUT"))
            #expect(try await c.get("/coupon-issue-requests/999").errorCode == "REQUEST_NOT_FOUND")
        }
    }
}

extension Array {
    func asyncMap<T>(_ body: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await body(e)) }
        return out
    }
}

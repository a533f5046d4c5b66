import Hummingbird
import HummingbirdTesting
import LedgerJSON
import Testing

@Suite struct DashboardRouteTests {
    @Test func thePageAndItsAssetsAreServedAndTheTokenIsChecked() async throws {
        let h = try APIHarness()
        try await h.run { c in
            let root = try await c.get("/")
            #expect(root.status == .found && root.headers[.location] == "/dashboard")
            let page = try await c.get("/dashboard")
            #expect(page.status == .ok && page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.json.stringValue?.contains("/dashboard/dashboard.js") == true)
            #expect(try await c.get("/dashboard/dashboard.js").headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(try await c.get("/dashboard/dashboard.css").status == .ok)
            // No CDN, no download at run time: every script and style the page names is ours.
            let html = page.json.stringValue ?? ""
            #expect(!html.contains("http://") && !html.contains("https://"))
            #expect(try await c.get("/admin/session").status == .unauthorized)
            #expect(try await c.call(.get, "/admin/session", admin: true).status == .noContent)
        }
    }

    @Test func withoutATokenThePageIsForLoopbackOnly() async throws {
        let h = try APIHarness(adminToken: nil)
        // The router test client has no peer address: not loopback.
        try await h.run(.router) { c in
            let page = try await c.get("/dashboard")
            #expect(page.status == .unauthorized)
        }
        try await h.run(.live) { c in
            let page = try await c.get("/dashboard")
            let session = try await c.get("/admin/session")
            #expect(page.status == .ok && session.status == .noContent)
        }
    }

    @Test func couponsAreListedWithWhenTheySoldOut() async throws {
        let h = try APIHarness()
        try await h.run { c in
            try await c.seedShop()
            for user in 1...2 { #expect(try await c.post("/coupons/1/issue", #"{"userId":\#(user)}"#).status == .created) }
            let list = try await c.get("/coupons?limit=1")
            #expect(list.json["items"]?.arrayValue?.count == 1 && list.json["next"] == .int(1))
            let first = try #require(list.json["items"]?.arrayValue?.first)
            #expect(first["remaining"] == .int(0) && first["soldOutAt"]?.stringValue != nil)
            let rest = try await c.get("/coupons?after=1")
            #expect(rest.json["items"]?.arrayValue?.first?["soldOutAt"] == .null && rest.json["next"] == .null)
            #expect(try await c.get("/health").json["timeZone"] == .string("Asia/Seoul"))
        }
    }
}

import CommerceHTTP
import Foundation
import Hummingbird
import LedgerJSON
import Testing

@Suite struct OrderRoutesTests {
    @Test func placeFailCompensateAndList() async throws {
        try await APIHarness().run { c in
            try await c.seedShop()
            try await c.post("/coupons/2/issue", #"{"userId":1}"#)
            try await c.post("/users/1/points/charge", #"{"amount":100000}"#)
            let placed = try await c.post("/orders", #"{"userId":1,"items":[{"productId":1,"quantity":2},{"productId":2,"quantity":4}],"couponId":2}"#)
            #expect(placed.status == .created)
            #expect(placed.json["status"] == .string("COMPLETED"))
            #expect(placed.json["totalAmount"] == .int(30_000) && placed.json["discountAmount"] == .int(3_000) && placed.json["paidAmount"] == .int(27_000))
            #expect(placed.json["items"]?.arrayValue?.first == .object([("productId", .int(1)), ("name", .string("Mug")), ("unitPrice", .int(12_000)), ("quantity", .int(2)), ("amount", .int(24_000))]))
            #expect(placed.json["couponId"] == .int(2) && placed.json["createdAt"] == .string("2026-11-25T10:00:00.000+09:00"))
            let orderId = try #require(placed.json["orderId"]?.intValue)
            #expect(try await c.get("/users/1/points").json["balance"] == .int(73_000))
            #expect(try await c.get("/products/1").json["stock"] == .int(8))
            #expect(try await c.get("/users/1/coupons").json["items"]?.arrayValue?.first?["status"] == .string("USED"))

            let failed = try await c.post("/orders", #"{"userId":1,"items":[{"productId":1,"quantity":50}]}"#)
            #expect(failed.status == .conflict && failed.errorCode == "INSUFFICIENT_STOCK")
            let failedId = try #require(failed.json["error"]?["orderId"]?.intValue)
            #expect(failed.json["error"]?["step"] == .string("STOCK"))
            #expect(try await c.get("/orders/\(failedId)").json["status"] == .string("FAILED"))
            #expect(try await c.post("/orders", #"{"userId":2,"items":[{"productId":2,"quantity":1}]}"#).errorCode == "INSUFFICIENT_POINTS")
            #expect(try await c.post("/orders", #"{"userId":1,"items":[{"productId":2,"quantity":1}],"couponId":1}"#).errorCode == "COUPON_NOT_USABLE")

            let compensated = try await c.post("/orders/\(orderId)/compensate", #"{"reason":"customer cancel"}"#)
            #expect(compensated.status == .ok && compensated.json["status"] == .string("COMPENSATED"))
            #expect(compensated.json["compensationReason"] == .string("customer cancel"))
            #expect(try await c.get("/users/1/points").json["balance"] == .int(100_000))
            let again = try await c.post("/orders/\(orderId)/compensate", #"{"reason":"again"}"#)
            #expect(again.status == .conflict && again.errorCode == "ORDER_NOT_COMPENSABLE")
            #expect(try await c.post("/orders/999/compensate", #"{"reason":"x"}"#).errorCode == "ORDER_NOT_FOUND")
            #expect(try await c.get("/orders/999").status == .notFound)
            #expect(try await c.get("/orders/\(orderId)").json["status"] == .string("COMPENSATED"))

            let list = try await c.get("/users/1/orders?limit=2")
            let ids = list.json["items"]?.arrayValue?.compactMap { $0["orderId"]?.intValue } ?? []
            #expect(ids.count == 2 && ids[0] > ids[1])
            let rest = try await c.get("/users/1/orders?limit=2&before=\(try #require(list.json["next"]?.intValue))")
            #expect(rest.json["items"]?.arrayValue?.isEmpty == false)
        }
    }

    @Test func invalidOrdersAre400Or404() async throws {
        try await APIHarness().run { c in
            try await c.seedShop()
            for body in [
                #"{"userId":1,"items":[]}"#, #"{"userId":1}"#, #"{"userId":1,"items":[{"productId":1,"quantity":0}]}"#,
                #"{"userId":1,"items":[{"productId":1}]}"#, #"{"userId":1,"items":[1]}"#, #"{"userId":0,"items":[{"productId":1,"quantity":1}]}"#,
                #"{"userId":1,"items":[{"productId":1,"quantity":1},{"productId":1,"quantity":2}]}"#,
            ] {
                let r = try await c.post("/orders", body)
                #expect(r.status == .badRequest, "\(body)")
            }
            #expect(try await c.post("/orders", #"{"userId":1,"items":[{"productId":42,"quantity":1}]}"#).errorCode == "PRODUCT_NOT_FOUND")
            #expect(try await c.post("/orders/1/compensate", #"{"reason":""}"#).status == .badRequest)
        }
    }

    @Test func idempotentOrderRetry() async throws {
        let h = try APIHarness()
        try await h.run { c in
            try await c.seedShop()
            try await c.post("/users/1/points/charge", #"{"amount":100000}"#)
            let body = #"{"userId":1,"items":[{"productId":1,"quantity":1}]}"#
            let first = try await c.post("/orders", body, key: "order-1")
            let retry = try await c.post("/orders", body, key: "order-1")
            #expect(first.status == .created && retry.status == .created && retry.json == first.json)
            #expect(try await c.get("/products/1").json["stock"] == .int(9))
            let failFirst = try await c.post("/orders", #"{"userId":1,"items":[{"productId":1,"quantity":99}]}"#, key: "order-2")
            let failRetry = try await c.post("/orders", #"{"userId":1,"items":[{"productId":1,"quantity":99}]}"#, key: "order-2")
            #expect(failFirst.status == .conflict && failRetry.json == failFirst.json)
        }
    }
}

@Suite struct SystemRoutesTests {
    @Test func healthEventsAndUnknownRoutes() async throws {
        try await APIHarness().run { c in
            try await c.post("/users/1/points/charge", #"{"amount":10000}"#)
            try await c.post("/users/2/points/charge", #"{"amount":10000}"#)
            let health = try await c.get("/health")
            #expect(health.status == .ok && health.json["head"] == .int(2))
            let events = try await c.get("/events?after=0&limit=1")
            let first = try #require(events.json["items"]?.arrayValue?.first)
            #expect(first["position"] == .int(1) && first["type"] == .string("PointCharged") && first["stream"] == .string("user-1"))
            #expect(first["data"]?["amount"] == .int(10_000) && first["version"] == .int(1))
            #expect(events.json["next"] == .int(1))
            #expect(try await c.get("/events?stream=user-2").json["items"]?.arrayValue?.count == 1)
            // Nothing matched, and the page says it looked through the head: no need to look again.
            let none = try await c.get("/events?type=OrderCompleted").json
            #expect(none["items"]?.arrayValue?.isEmpty == true && none["next"] == .int(2))
            #expect(try await c.get("/events?after=5&type=OrderCompleted").json["next"] == .int(5))
            #expect(try await c.get("/events?after=-1").status == .badRequest)
            let missing = try await c.get("/nowhere")
            #expect(missing.status == .notFound && missing.errorCode == "NOT_FOUND")
            // A route that exists, with a method it does not take: 405 naming the ones it does.
            for method in [HTTPRequest.Method.delete, .put, .init("TRACE")!] {
                let wrong = try await c.call(method, "/users/1/points")
                #expect(wrong.status == .methodNotAllowed && wrong.errorCode == "METHOD_NOT_ALLOWED" && wrong.headers[.allow] == "GET, HEAD", "\(method)")
            }
            let notPost = try await c.call(.get, "/users/1/points/charge")
            #expect(notPost.status == .methodNotAllowed && notPost.headers[.allow] == "POST")
            // HEAD wherever GET: the same status and length, no body.
            let head = try await c.call(.head, "/users/1/points")
            let get = try await c.get("/users/1/points")
            #expect(head.status == .ok && head.json == .null && head.headers[.contentLength] == get.headers[.contentLength])
        }
    }

    @Test func metricsCountCommandsAndBatches() async throws {
        try await APIHarness().run { c in
            try await c.post("/users/1/points/charge", #"{"amount":10000}"#)
            try await c.post("/users/1/points/charge", #"{"amount":1}"#)
            let response = try await c.call(.get, "/metrics")
            guard case let .string(text) = response.json else { Issue.record("not text"); return }
            #expect(text.contains(#"ledger_commands_total{type="ChargePoints",outcome="OK"} 1"#))
            #expect(text.contains(#"ledger_commands_total{type="ChargePoints",outcome="MIN_CHARGE_AMOUNT"} 1"#))
            #expect(text.contains("ledger_group_commit_batch_size_count"))
            #expect(text.contains("ledger_group_commit_seconds_bucket"))
            #expect(text.contains("ledger_log_head_position 1"))
            #expect(text.contains(#"ledger_http_requests_total{route="/users/{userId}/points/charge",status="400"} 1"#))
        }
    }

    @Test func aFullStoreAnswers503WithRetryAfter() async throws {
        try await APIHarness(maxMapSize: 256 << 10, mapSize: 256 << 10).run { c in
            var last: APIResponse?
            for user in 1...5_000 {
                last = try await c.post("/users/\(user)/points/charge", #"{"amount":10000}"#)
                if last?.status != .ok { break }
            }
            #expect(last?.status == .serviceUnavailable && last?.errorCode == "STORAGE_FULL")
            #expect(last?.headers[.retryAfter] == "5")
            // Nothing about LMDB or Swift leaks to the client.
            let message = last?.json["error"]?["message"]?.stringValue ?? ""
            #expect(!message.contains("mdb") && !message.contains("MDB") && !message.contains("Error"))
            #expect(try await c.get("/users/1/points").json["balance"] == .int(10_000))
        }
    }

    @Test func openAPIDocumentListsExactlyTheRoutes() async throws {
        let h = try APIHarness()
        let router = h.api.makeRouter()
        let served = Set(router.routes.map { route -> String in
            let path = route.path.description.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            return "\(route.method.rawValue.lowercased()) /\(path)"
        })
        let document = try #require(APIServer.openAPIDocument)
        var documented = Set<String>()
        var currentPath: String?
        var inPaths = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") { currentPath = String(line.dropFirst(2).dropLast()); continue }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("    "), !line.hasPrefix("     "), ["get:", "post:", "put:", "delete:", "patch:"].contains(trimmed), let currentPath {
                documented.insert("\(trimmed.dropLast()) \(currentPath)")
            }
        }
        #expect(served.count == 29)
        #expect(documented == served)
        try await h.run { c in
            let r = try await c.call(.get, "/openapi.yaml")
            #expect(r.status == .ok && r.headers[.contentType] == "application/yaml")
        }
    }
}

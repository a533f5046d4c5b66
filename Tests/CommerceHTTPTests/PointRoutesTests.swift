import Hummingbird
import LedgerJSON
import Testing

@Suite struct PointRoutesTests {
    @Test func chargeBalanceAndHistory() async throws {
        try await APIHarness().run { c in
            let unknown = try await c.get("/users/5/points")
            #expect(unknown.status == .ok && unknown.json == .object([("userId", .int(5)), ("balance", .int(0))]))
            let charged = try await c.post("/users/5/points/charge", #"{"amount":10000}"#)
            #expect(charged.status == .ok)
            #expect(charged.json == .object([("userId", .int(5)), ("balance", .int(10000)), ("position", .int(1))]))
            for amount in [20_000, 30_000] { try await c.post("/users/5/points/charge", #"{"amount":\#(amount)}"#) }
            #expect(try await c.get("/users/5/points").json["balance"] == .int(60_000))
            let page1 = try await c.get("/users/5/points/history?limit=2")
            #expect(page1.json["items"]?.arrayValue?.compactMap { $0["amount"]?.intValue } == [30_000, 20_000])
            #expect(page1.json["items"]?.arrayValue?.first?["type"] == .string("CHARGE"))
            #expect(page1.json["items"]?.arrayValue?.first?["at"] == .string("2026-11-25T10:00:00.000+09:00"))
            let next = try #require(page1.json["next"]?.intValue)
            let page2 = try await c.get("/users/5/points/history?limit=2&before=\(next)")
            #expect(page2.json["items"]?.arrayValue?.compactMap { $0["balanceAfter"]?.intValue } == [10_000])
            #expect(page2.json["next"] == .null)
        }
    }

    @Test func chargeRulesAndBadInput() async throws {
        try await APIHarness().run { c in
            let small = try await c.post("/users/1/points/charge", #"{"amount":9999}"#)
            #expect(small.status == .badRequest && small.errorCode == "MIN_CHARGE_AMOUNT")
            try await c.post("/users/1/points/charge", #"{"amount":10000000}"#)
            let over = try await c.post("/users/1/points/charge", #"{"amount":10000}"#)
            #expect(over.status == .conflict && over.errorCode == "BALANCE_LIMIT_EXCEEDED")
            #expect(over.json["error"]?["message"]?.stringValue?.isEmpty == false)
            for (body, code) in [
                (#"{"amount":"10000"}"#, "INVALID_INPUT"), (#"{"amount":10000.5}"#, "INVALID_INPUT"), ("{}", "INVALID_INPUT"),
                (#"{"amount":-5}"#, "INVALID_INPUT"), ("{amount:1}", "MALFORMED_JSON"), ("[1]", "MALFORMED_JSON"), ("", "MALFORMED_JSON"),
            ] {
                let r = try await c.call(.post, "/users/2/points/charge", body)
                #expect(r.status == .badRequest, "\(body)")
                #expect(r.errorCode == code, "\(body)")
            }
            for path in ["/users/0/points", "/users/-1/points", "/users/abc/points", "/users/99999999999999999999/points"] {
                let r = try await c.get(path)
                #expect(r.status == .badRequest && r.errorCode == "INVALID_INPUT", "\(path)")
            }
            let badLimit = try await c.get("/users/1/points/history?limit=0")
            #expect(badLimit.status == .badRequest)
            #expect(try await c.get("/users/1/points/history?limit=101").status == .badRequest)
            #expect(try await c.get("/users/2/points").json["balance"] == .int(0))
        }
    }

    @Test func oversizedBodyIs413() async throws {
        try await APIHarness().run { c in
            let big = #"{"amount":10000,"pad":""# + String(repeating: "x", count: 70_000) + #""}"#
            let r = try await c.post("/users/1/points/charge", big)
            #expect(r.status == .contentTooLarge && r.errorCode == "PAYLOAD_TOO_LARGE")
            #expect(try await c.get("/users/1/points").json["balance"] == .int(0))
        }
    }

    @Test func idempotentRetriesReturnTheStoredResponse() async throws {
        let h = try APIHarness()
        try await h.run { c in
            let first = try await c.post("/users/1/points/charge", #"{"amount":10000}"#, key: "retry-1")
            try await c.post("/users/1/points/charge", #"{"amount":20000}"#)
            let retry = try await c.post("/users/1/points/charge", #"{"amount":10000}"#, key: "retry-1")
            #expect(retry.status == first.status && retry.json == first.json)
            #expect(try await c.get("/users/1/points").json["balance"] == .int(30_000))
            let reused = try await c.post("/users/1/points/charge", #"{"amount":50000}"#, key: "retry-1")
            #expect(reused.status == .unprocessableContent && reused.errorCode == "IDEMPOTENCY_KEY_REUSED")
            let badKey = try await c.post("/users/1/points/charge", #"{"amount":10000}"#, key: String(repeating: "k", count: 300))
            #expect(badKey.status == .badRequest)
        }
        #expect(try h.ledger.events(after: 0, limit: 100).count == 2)
    }
}

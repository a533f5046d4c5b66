import Foundation
import Hummingbird
import HummingbirdTesting
import LedgerJSON
import NIOCore
import Testing

/// One hostile request and the answer the OpenAPI document promises for it.
struct HostileCase: CustomStringConvertible, Sendable {
    let name: String
    let method: HTTPRequest.Method
    let path: String
    let body: [UInt8]?
    let headers: HTTPFields
    let status: HTTPResponse.Status
    let code: String
    let allow: String?

    init(_ name: String, _ method: HTTPRequest.Method, _ path: String, _ body: [UInt8]? = nil, headers: HTTPFields = [.contentType: "application/json"],
         _ status: HTTPResponse.Status, _ code: String, allow: String? = nil) {
        self.name = name
        self.method = method
        self.path = path
        self.body = body
        self.headers = headers
        self.status = status
        self.code = code
        self.allow = allow
    }

    init(_ name: String, _ method: HTTPRequest.Method, _ path: String, _ status: HTTPResponse.Status, _ code: String, allow: String? = nil) {
        self.init(name, method, path, nil, headers: [:], status, code, allow: allow)
    }

    init(_ name: String, _ method: HTTPRequest.Method, _ path: String, json: String, headers: HTTPFields = [.contentType: "application/json"],
         _ status: HTTPResponse.Status, _ code: String, allow: String? = nil) {
        self.init(name, method, path, Array(json.utf8), headers: headers, status, code, allow: allow)
    }

    var description: String { name }
}

private let admin: HTTPFields = [.contentType: "application/json", .authorization: "Bearer secret"]
private let noContentType: HTTPFields = [:]
private func bytes(_ parts: [UInt8]...) -> [UInt8] { parts.flatMap { $0 } }
private func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }
private let coupon = #""discount":{"type":"FIXED","amount":1000},"totalQuantity":5,"issueEndsAt":"2026-12-20T00:00:00+09:00","validDays":7"#

/// Every case is a request a client could send to a shop that has products, coupons and users;
/// each gets its documented 4xx and error code, and none of them appends anything to the log.
let hostileCases: [HostileCase] = [
    // JSON the strict parser refuses.
    HostileCase("duplicate keys", .post, "/users/1/points/charge", json: #"{"amount":10000,"amount":20000}"#, .badRequest, "MALFORMED_JSON"),
    HostileCase("duplicate nested keys", .post, "/orders", json: #"{"userId":1,"items":[{"productId":1,"productId":2,"quantity":1}]}"#, .badRequest, "MALFORMED_JSON"),
    HostileCase("trailing garbage", .post, "/users/1/points/charge", json: #"{"amount":10000}x"#, .badRequest, "MALFORMED_JSON"),
    HostileCase("two objects", .post, "/users/1/points/charge", json: #"{"amount":10000}{"amount":10000}"#, .badRequest, "MALFORMED_JSON"),
    HostileCase("byte order mark", .post, "/users/1/points/charge", bytes([0xEF, 0xBB, 0xBF], utf8(#"{"amount":10000}"#)), .badRequest, "MALFORMED_JSON"),
    HostileCase("top-level array", .post, "/users/1/points/charge", json: #"[{"amount":10000}]"#, .badRequest, "MALFORMED_JSON"),
    HostileCase("top-level number", .post, "/users/1/points/charge", json: "10000", .badRequest, "MALFORMED_JSON"),
    HostileCase("nested 65 deep", .post, "/users/1/points/charge",
                json: #"{"amount":10000,"x":"# + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "}", .badRequest, "MALFORMED_JSON"),
    HostileCase("single quotes", .post, "/users/1/points/charge", json: "{'amount':10000}", .badRequest, "MALFORMED_JSON"),
    HostileCase("NaN", .post, "/users/1/points/charge", json: #"{"amount":NaN}"#, .badRequest, "MALFORMED_JSON"),
    HostileCase("leading plus", .post, "/users/1/points/charge", json: #"{"amount":+10000}"#, .badRequest, "MALFORMED_JSON"),
    HostileCase("leading zero", .post, "/users/1/points/charge", json: #"{"amount":010000}"#, .badRequest, "MALFORMED_JSON"),
    HostileCase("empty body", .post, "/users/1/points/charge", [], .badRequest, "MALFORMED_JSON"),
    // Numbers that are not the integers asked for.
    HostileCase("1e400", .post, "/users/1/points/charge", json: #"{"amount":1e400}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("-1e400", .post, "/admin/products", json: #"{"name":"Mug","price":-1e400,"stock":1}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("Int64.max + 1", .post, "/users/1/points/charge", json: #"{"amount":9223372036854775808}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("Int64.min - 1", .post, "/coupons/1/issue", json: #"{"userId":-9223372036854775809}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("1.5 for an integer", .post, "/admin/products", json: #"{"name":"Mug","price":1.5,"stock":1}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("1.0 for an integer", .post, "/admin/products/1/restock", json: #"{"quantity":1.0}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("1e4 for an integer", .post, "/users/1/points/charge", json: #"{"amount":1e4}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("digits in a string", .post, "/users/1/points/charge", json: #"{"amount":"10000"}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("-0 amount", .post, "/users/1/points/charge", json: #"{"amount":-0}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("-0 userId", .post, "/coupons/1/issue", json: #"{"userId":-0}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("-0 productId", .post, "/orders", json: #"{"userId":1,"items":[{"productId":-0,"quantity":1}]}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("Int64.max quantity", .post, "/orders", json: #"{"userId":1,"items":[{"productId":1,"quantity":9223372036854775807}]}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("restock past Int64", .post, "/admin/products/1/restock", json: #"{"quantity":9223372036854775807}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("a product twice", .post, "/orders", json: #"{"userId":1,"items":[{"productId":1,"quantity":1},{"productId":1,"quantity":2}]}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("101 items", .post, "/orders",
                json: #"{"userId":1,"items":["# + (1...101).map { #"{"productId":\#($0),"quantity":1}"# }.joined(separator: ",") + "]}", .badRequest, "INVALID_INPUT"),
    HostileCase("no items", .post, "/orders", json: #"{"userId":1,"items":[]}"#, .badRequest, "INVALID_INPUT"),
    // Names: NUL, controls, invalid UTF-8, blank, too long.
    HostileCase("escaped NUL in a name", .post, "/admin/products", json: #"{"name":"Mu\u0000g","price":1,"stock":1}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("raw NUL in a name", .post, "/admin/products", bytes(utf8(#"{"name":"Mu"#), [0], utf8(#"g","price":1,"stock":1}"#)), headers: admin, .badRequest, "MALFORMED_JSON"),
    HostileCase("escaped ESC in a name", .post, "/admin/products", json: #"{"name":"\u001b[2J","price":1,"stock":1}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("C1 control in a reason", .post, "/orders/1/compensate", json: #"{"reason":"late\u0085"}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("newline in a coupon name", .post, "/admin/coupons", json: #"{"name":"Ten\nOff",\#(coupon),"issueStartsAt":"2026-11-20T00:00:00+09:00"}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("invalid UTF-8 in a name", .post, "/admin/products", bytes(utf8(#"{"name":"Mu"#), [0xFF, 0xFE], utf8(#"g","price":1,"stock":1}"#)), headers: admin, .badRequest, "MALFORMED_JSON"),
    HostileCase("overlong UTF-8 in a name", .post, "/admin/products", bytes(utf8(#"{"name":"Mu"#), [0xC0, 0x80], utf8(#"g","price":1,"stock":1}"#)), headers: admin, .badRequest, "MALFORMED_JSON"),
    HostileCase("UTF-8 surrogate in a name", .post, "/admin/products", bytes(utf8(#"{"name":"Mu"#), [0xED, 0xA0, 0x80], utf8(#"g","price":1,"stock":1}"#)), headers: admin, .badRequest, "MALFORMED_JSON"),
    HostileCase("truncated UTF-8 in a name", .post, "/admin/products", bytes(utf8(#"{"name":"Mu"#), [0xE2, 0x82], utf8(#"","price":1,"stock":1}"#)), headers: admin, .badRequest, "MALFORMED_JSON"),
    HostileCase("lone surrogate escape", .post, "/admin/products", json: #"{"name":"\ud800","price":1,"stock":1}"#, headers: admin, .badRequest, "MALFORMED_JSON"),
    HostileCase("lone low surrogate escape", .post, "/admin/products", json: #"{"name":"\udc00x","price":1,"stock":1}"#, headers: admin, .badRequest, "MALFORMED_JSON"),
    HostileCase("blank name", .post, "/admin/products", json: #"{"name":" \u00a0\u3000\u200b","price":1,"stock":1}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("empty reason", .post, "/orders/1/compensate", json: #"{"reason":""}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("201-character name", .post, "/admin/products", json: #"{"name":"\#(String(repeating: "a", count: 201))","price":1,"stock":1}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("202 scalars in 101 characters", .post, "/admin/products", json: #"{"name":"\#(String(repeating: "e\u{301}", count: 101))","price":1,"stock":1}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    // Times and days.
    HostileCase("time without an offset", .post, "/admin/coupons", json: #"{"name":"Ten",\#(coupon),"issueStartsAt":"2026-11-20T00:00:00"}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("signed month and day", .post, "/admin/coupons", json: #"{"name":"Ten",\#(coupon),"issueStartsAt":"2026-+1-+1T00:00:00Z"}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("February 30th", .post, "/admin/coupons", json: #"{"name":"Ten",\#(coupon),"issueStartsAt":"2026-02-30T00:00:00Z"}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("hour 24", .post, "/admin/coupons", json: #"{"name":"Ten",\#(coupon),"issueStartsAt":"2026-11-20T24:00:00Z"}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("before 1970", .post, "/admin/coupons", json: #"{"name":"Ten",\#(coupon),"issueStartsAt":"1969-12-31T23:59:59Z"}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("validDays and validUntil", .post, "/admin/coupons",
                json: #"{"name":"Ten",\#(coupon),"issueStartsAt":"2026-11-20T00:00:00+09:00","validUntil":"2027-01-01T00:00:00Z"}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("discount of another type", .post, "/admin/coupons",
                json: #"{"name":"Ten","discount":{"type":"fixed","amount":1000},"totalQuantity":5,"issueStartsAt":"2026-11-20T00:00:00+09:00","issueEndsAt":"2026-12-20T00:00:00+09:00","validDays":7}"#,
                headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("signed asOf", .get, "/products/top?asOf=2026-+1-+1", .badRequest, "INVALID_INPUT"),
    // Ids in paths.
    HostileCase("id 0", .post, "/users/0/points/charge", json: #"{"amount":10000}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("id -1", .post, "/admin/products/-1/restock", json: #"{"quantity":1}"#, headers: admin, .badRequest, "INVALID_INPUT"),
    HostileCase("id -0", .post, "/orders/-0/compensate", json: #"{"reason":"late"}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("id past Int64", .post, "/coupons/99999999999999999999/issue", json: #"{"userId":1}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("id abc", .post, "/coupons/abc/issue-requests", json: #"{"userId":1}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("id with a plus sign", .post, "/users/+1/points/charge", json: #"{"amount":10000}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("limit with a plus sign", .get, "/products?limit=%2B1", .badRequest, "INVALID_INPUT"),
    HostileCase("atLeast with a plus sign", .get, "/products?atLeast=%2B0", .badRequest, "INVALID_INPUT"),
    HostileCase("id 1.0", .get, "/products/1.0", .badRequest, "INVALID_INPUT"),
    HostileCase("id 1e3", .get, "/orders/1e3", .badRequest, "INVALID_INPUT"),
    HostileCase("id with a space", .get, "/coupons/%201", .badRequest, "INVALID_INPUT"),
    HostileCase("id 0 of a request", .get, "/coupon-issue-requests/0", .badRequest, "INVALID_INPUT"),
    HostileCase("id past Int64 of a user", .get, "/users/99999999999999999999/points/history", .badRequest, "INVALID_INPUT"),
    // Query parameters.
    HostileCase("limit 0", .get, "/products?limit=0", .badRequest, "INVALID_INPUT"),
    HostileCase("limit past Int64", .get, "/events?limit=99999999999999999999", .badRequest, "INVALID_INPUT"),
    HostileCase("after -1", .get, "/events?after=-1", .badRequest, "INVALID_INPUT"),
    HostileCase("before 0", .get, "/users/1/orders?before=0", .badRequest, "INVALID_INPUT"),
    HostileCase("before abc", .get, "/users/1/points/history?before=abc", .badRequest, "INVALID_INPUT"),
    HostileCase("broken percent escape", .get, "/products?limit=%zz", .badRequest, "INVALID_INPUT"),
    HostileCase("unknown status", .get, "/users/1/coupons?status=available", .badRequest, "INVALID_INPUT"),
    // Headers.
    HostileCase("Idempotency-Key of 256", .post, "/users/1/points/charge", json: #"{"amount":10000}"#,
                headers: [.contentType: "application/json", .init("Idempotency-Key")!: String(repeating: "k", count: 256)], .badRequest, "INVALID_INPUT"),
    HostileCase("Idempotency-Key with a space", .post, "/users/1/points/charge", json: #"{"amount":10000}"#,
                headers: [.contentType: "application/json", .init("Idempotency-Key")!: "a b"], .badRequest, "INVALID_INPUT"),
    HostileCase("Idempotency-Key not ASCII", .post, "/users/1/points/charge", json: #"{"amount":10000}"#,
                headers: [.contentType: "application/json", .init("Idempotency-Key")!: "clé"], .badRequest, "INVALID_INPUT"),
    HostileCase("wrong admin token", .post, "/admin/products", json: #"{"name":"Mug","price":1,"stock":1}"#,
                headers: [.contentType: "application/json", .authorization: "Bearer secreT"], .unauthorized, "UNAUTHORIZED"),
    // Bodies too large: refused before they are parsed.
    HostileCase("70 KB body", .post, "/users/1/points/charge", utf8(#"{"amount":10000,"pad":""# + String(repeating: "x", count: 70_000) + #""}"#), .contentTooLarge, "PAYLOAD_TOO_LARGE"),
    HostileCase("10 MB body", .post, "/admin/products", utf8(#"{"name":"Mug","price":1,"stock":1,"pad":""# + String(repeating: "x", count: 10 << 20) + #""}"#),
                headers: admin, .contentTooLarge, "PAYLOAD_TOO_LARGE"),
    // Methods a route does not take.
    HostileCase("DELETE a charge", .delete, "/users/1/points/charge", .methodNotAllowed, "METHOD_NOT_ALLOWED", allow: "POST"),
    HostileCase("GET a charge", .get, "/users/1/points/charge", .methodNotAllowed, "METHOD_NOT_ALLOWED", allow: "POST"),
    HostileCase("PUT a product", .put, "/admin/products", json: #"{"name":"Mug","price":1,"stock":1}"#, headers: admin, .methodNotAllowed, "METHOD_NOT_ALLOWED", allow: "POST"),
    HostileCase("POST a query", .post, "/products/1", json: #"{"stock":5}"#, .methodNotAllowed, "METHOD_NOT_ALLOWED", allow: "GET, HEAD"),
    HostileCase("PATCH an order", .patch, "/orders/1", json: #"{"status":"COMPENSATED"}"#, .methodNotAllowed, "METHOD_NOT_ALLOWED", allow: "GET, HEAD"),
    HostileCase("OPTIONS the orders", .options, "/orders", .methodNotAllowed, "METHOD_NOT_ALLOWED", allow: "POST"),
    HostileCase("TRACE the events", .init("TRACE")!, "/events", .methodNotAllowed, "METHOD_NOT_ALLOWED", allow: "GET, HEAD"),
    // Long paths.
    HostileCase("8 KB path", .get, "/" + String(repeating: "a", count: 8192), .notFound, "NOT_FOUND"),
    HostileCase("8 KB id", .post, "/users/" + String(repeating: "9", count: 8192) + "/points/charge", json: #"{"amount":10000}"#, .badRequest, "INVALID_INPUT"),
    HostileCase("8 KB of segments", .get, String(repeating: "/products", count: 910), .notFound, "NOT_FOUND"),
    // No Content-Type (bodies are JSON whatever it says): a broken body is still refused as JSON.
    HostileCase("no Content-Type, form body", .post, "/users/1/points/charge", utf8("amount=10000"), headers: noContentType, .badRequest, "MALFORMED_JSON"),
    HostileCase("no Content-Type, no body", .post, "/orders", nil, headers: noContentType, .badRequest, "MALFORMED_JSON"),
    HostileCase("text/plain, bad JSON", .post, "/coupons/1/issue", utf8(#"{"userId":1"#), headers: [.contentType: "text/plain"], .badRequest, "MALFORMED_JSON"),
    HostileCase("form Content-Type, bad input", .post, "/users/1/points/charge", utf8(#"{"amount":"ten"}"#),
                headers: [.contentType: "application/x-www-form-urlencoded"], .badRequest, "INVALID_INPUT"),
]

@Suite struct HostileInputTests {
    @Test func everyHostileRequestGetsItsDocumented4xxAndWritesNothing() async throws {
        let h = try APIHarness()
        try await h.run { c in
            try await c.seedShop()
            try await c.post("/users/1/points/charge", #"{"amount":100000}"#)
            let order = try await c.post("/orders", #"{"userId":1,"items":[{"productId":2,"quantity":1}]}"#)
            #expect(order.status == .created)
            let head = try h.ledger.head()
            #expect(head > 0)
            for hostile in hostileCases {
                let r = try await c.raw(hostile.method, hostile.path, hostile.body, headers: hostile.headers)
                #expect(r.status == hostile.status, "\(hostile): \(r.status) \(r.json)")
                #expect(r.errorCode == hostile.code, "\(hostile): \(r.json)")
                #expect(r.json["error"]?["message"]?.stringValue?.isEmpty == false, "\(hostile)")
                #expect(r.headers[.contentType] == "application/json; charset=utf-8", "\(hostile)")
                if let allow = hostile.allow { #expect(r.headers[.allow] == allow, "\(hostile)") }
                if hostile.status == .contentTooLarge { #expect(r.headers[.connection] == "close", "\(hostile)") }
                #expect(try h.ledger.head() == head, "\(hostile) wrote to the log")
            }
            // The shop still answers as before.
            #expect(try await c.get("/users/1/points").json["balance"] == .int(100_000 - 1_500))
            #expect(try await c.get("/products/1").json["name"] == .string("Mug"))
        }
    }

    @Test func aBodyIsJSONWhateverItsContentTypeSays() async throws {
        let h = try APIHarness()
        try await h.run { c in
            let none = try await c.raw(.post, "/users/1/points/charge", Array(#"{"amount":10000}"#.utf8), headers: [:])
            #expect(none.status == .ok && none.json["balance"] == .int(10_000))
            let text = try await c.raw(.post, "/users/1/points/charge", Array(#"{"amount":10000}"#.utf8), headers: [.contentType: "text/plain"])
            #expect(text.status == .ok && text.json["balance"] == .int(20_000))
            let form = try await c.raw(.post, "/admin/products", Array(#"{"name":"Mug","price":1,"stock":1}"#.utf8),
                                       headers: [.contentType: "application/x-www-form-urlencoded", .authorization: "Bearer secret"])
            #expect(form.status == .created)
            #expect(try h.ledger.head() == 3)
        }
    }

    @Test func theEdgesOfTheDocumentedRangesAreTaken() async throws {
        let h = try APIHarness()
        try await h.run { c in
            let longest = String(repeating: "e\u{301}", count: 100)
            #expect(try await c.post("/admin/products", #"{"name":"\#(longest)","price":1000000000,"stock":0}"#, admin: true).status == .created)
            #expect(try await c.post("/admin/products/1/restock", #"{"quantity":1000000000}"#, admin: true).status == .ok)
            #expect(try await c.post("/admin/products/1/restock", #"{"quantity":1}"#, admin: true).errorCode == "STOCK_LIMIT_EXCEEDED")
            #expect(try await c.post("/admin/products", #"{"name":" x\u00a0","price":1,"stock":1000000000}"#, admin: true).status == .created)
            let epoch = try await c.post("/admin/coupons", #"{"name":"Old","discount":{"type":"PERCENT","percent":100,"maxAmount":null},"totalQuantity":100000000,"issueStartsAt":"1970-01-01T00:00:00Z","issueEndsAt":"9999-12-30T23:59:59.999999999Z","validUntil":"9999-12-31 08:59:59.999+09:00"}"#, admin: true)
            #expect(epoch.status == .created, "\(epoch.json)")
            // A validity ending before the issue window does would issue coupons already expired.
            let deadOnArrival = try await c.post("/admin/coupons", #"{"name":"Dead","discount":{"type":"FIXED","amount":1000},"totalQuantity":2,"issueStartsAt":"1970-01-01T00:00:00Z","issueEndsAt":"9999-12-30T23:59:59Z","validUntil":"1970-01-01 09:00:00.5+09:00"}"#, admin: true)
            #expect(deadOnArrival.status == .badRequest && deadOnArrival.errorCode == "INVALID_INPUT", "\(deadOnArrival.json)")
            #expect(try await c.get("/products?after=9223372036854775807").json["items"]?.arrayValue?.isEmpty == true)
            #expect(try await c.get("/users/9223372036854775807/orders?before=9223372036854775807").status == .ok)
            #expect(try await c.get("/users/9223372036854775807/points/history?before=1").status == .ok)
            #expect(try await c.get("/events?after=9223372036854775807&limit=1000").json["items"]?.arrayValue?.isEmpty == true)
            #expect(try await c.get("/products/top?asOf=0000-02-29&days=30&limit=100").json["from"] == .string("0000-01-31"))
            #expect(try await c.get("/products/top?asOf=0000-01-30&days=30").json["from"] == .string("0000-01-01"))
            #expect(try await c.get("/products/top?asOf=0000-01-29&days=30").json["from"] == .string("0000-01-01"))
            #expect(try await c.get("/products/top?asOf=0000-01-01&days=3").json["from"] == .string("0000-01-01"))
            #expect(try await c.get("/products/top?asOf=9999-12-31&days=30").status == .ok)
            #expect(try await c.get("/orders/9223372036854775807").errorCode == "ORDER_NOT_FOUND")
            let key = String(repeating: "~", count: 255)
            #expect(try await c.post("/users/9223372036854775807/points/charge", #"{"amount":10000}"#, key: key).status == .ok)
        }
    }
}

extension APIHarness.Client {
    /// Sends exactly these bytes and headers (no Content-Type added).
    func raw(_ method: HTTPRequest.Method, _ uri: String, _ body: [UInt8]?, headers: HTTPFields) async throws -> APIResponse {
        try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) }) { response in
            let text = String(buffer: response.body)
            let json = text.isEmpty ? JSONValue.null : ((try? JSONParser.parse(text)) ?? .string(text))
            return APIResponse(status: response.status, headers: response.headers, json: json)
        }
    }
}

import Commerce
import CommerceApp
import CommerceHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import LedgerJSON
import NIOCore

let apiEpoch: Timestamp = ISO8601.parse("2026-11-25T01:00:00Z")!

final class APITestDirectory: @unchecked Sendable {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("api-test-\(UUID().uuidString)").path
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

struct APIResponse {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let json: JSONValue

    var errorCode: String? { json["error"]?["code"]?.stringValue }
}

/// A real ledger in a temp dir behind the real router; `call` sends requests through HummingbirdTesting.
struct APIHarness {
    let dir = APITestDirectory()
    let clock = ManualClock(apiEpoch)
    let ledger: Ledger
    let writer: LedgerWriter
    let api: APIServer

    init(adminToken: String? = "secret", maxMapSize: Int = 1 << 30, mapSize: Int = 8 << 20,
         role: ServerRole = .leader(relay: nil), positionWait: Duration = .seconds(2)) throws {
        ledger = try Ledger(configuration: LedgerConfiguration(dataDirectory: dir.path, environment: .init(mapSize: mapSize, maxMapSize: maxMapSize)), clock: clock)
        writer = LedgerWriter(ledger: ledger)
        var api = APIServer(ledger: ledger, writer: role.isReplica ? nil : writer, adminToken: adminToken)
        api.role = role
        api.positionWait = positionWait
        self.api = api
    }

    func run(_ mode: TestingSetup = .router, _ body: @escaping @Sendable (Client) async throws -> Void) async throws {
        writer.start()
        defer { writer.stop() }
        let app = Application(responder: api.makeResponder(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(mode) { client in try await body(Client(client: client)) }
    }

    struct Client: Sendable {
        let client: any TestClientProtocol

        @discardableResult
        func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, headers: HTTPFields = [:], admin: Bool = false) async throws -> APIResponse {
            var headers = headers
            if admin { headers[.authorization] = "Bearer secret" }
            if body != nil { headers[.contentType] = "application/json" }
            return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
                let text = String(buffer: response.body)
                let json = text.isEmpty ? JSONValue.null : ((try? JSONParser.parse(text)) ?? .string(text))
                return APIResponse(status: response.status, headers: response.headers, json: json)
            }
        }

        @discardableResult
        func post(_ uri: String, _ body: String, admin: Bool = false, key: String? = nil) async throws -> APIResponse {
            var headers: HTTPFields = [:]
            if let key { headers[.init("Idempotency-Key")!] = key }
            return try await call(.post, uri, body, headers: headers, admin: admin)
        }

        func get(_ uri: String) async throws -> APIResponse { try await call(.get, uri) }

        /// Two products, a FIXED 3,000 coupon (id 1) and a 10% coupon (id 2).
        func seedShop() async throws {
            _ = try await post("/admin/products", #"{"name":"Mug","price":12000,"stock":10}"#, admin: true)
            _ = try await post("/admin/products", #"{"name":"Pen","price":1500,"stock":100}"#, admin: true)
            _ = try await post("/admin/coupons", #"{"name":"Welcome","discount":{"type":"FIXED","amount":3000},"totalQuantity":2,"issueStartsAt":"2026-11-20T00:00:00+09:00","issueEndsAt":"2026-12-20T00:00:00+09:00","validDays":7}"#, admin: true)
            _ = try await post("/admin/coupons", #"{"name":"Ten","discount":{"type":"PERCENT","percent":10,"maxAmount":5000},"totalQuantity":100,"issueStartsAt":"2026-11-20T00:00:00+09:00","issueEndsAt":"2026-12-20T00:00:00+09:00","validUntil":"2027-01-01T00:00:00+09:00"}"#, admin: true)
        }
    }
}

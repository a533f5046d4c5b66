import Foundation
import LedgerJSON
import Testing

/// The CLI and the HTTP API answer the same commands with the same codes and the same JSON.
@Suite struct AdapterParityTests {
    /// One command, as the CLI takes it and as the API takes it.
    struct Step {
        let cli: [String]
        let method: String
        let path: String
        let body: String
        var admin = false
    }

    static let window = (starts: "2020-01-01T00:00:00Z", ends: "2099-01-01T00:00:00Z")

    static let steps: [Step] = [
        Step(cli: ["charge", "--user", "1", "--amount", "0"], method: "POST", path: "/users/1/points/charge", body: #"{"amount":0}"#),
        Step(cli: ["charge", "--user", "1", "--amount", "5"], method: "POST", path: "/users/1/points/charge", body: #"{"amount":5}"#),
        Step(cli: ["charge", "--user", "1", "--amount", "50000"], method: "POST", path: "/users/1/points/charge", body: #"{"amount":50000}"#),
        Step(cli: ["charge", "--user", "1", "--amount", "99999999"], method: "POST", path: "/users/1/points/charge", body: #"{"amount":99999999}"#),
        Step(cli: ["product", "add", "--name", "Mug", "--price", "12000", "--stock", "3"], method: "POST", path: "/admin/products", body: #"{"name":"Mug","price":12000,"stock":3}"#, admin: true),
        Step(cli: ["product", "add", "--name", " ", "--price", "1", "--stock", "1"], method: "POST", path: "/admin/products", body: #"{"name":" ","price":1,"stock":1}"#, admin: true),
        Step(cli: ["product", "restock", "--id", "1", "--quantity", "2"], method: "POST", path: "/admin/products/1/restock", body: #"{"quantity":2}"#, admin: true),
        Step(cli: ["product", "restock", "--id", "9", "--quantity", "2"], method: "POST", path: "/admin/products/9/restock", body: #"{"quantity":2}"#, admin: true),
        Step(cli: ["coupon", "define", "--name", "Fix", "--amount", "2000", "--total", "1", "--starts", window.starts, "--ends", window.ends, "--valid-days", "3"],
             method: "POST", path: "/admin/coupons",
             body: #"{"name":"Fix","discount":{"type":"FIXED","amount":2000},"totalQuantity":1,"issueStartsAt":"\#(window.starts)","issueEndsAt":"\#(window.ends)","validDays":3}"#, admin: true),
        Step(cli: ["issue-coupon", "--user", "1", "--coupon", "1"], method: "POST", path: "/coupons/1/issue", body: #"{"userId":1}"#),
        Step(cli: ["issue-coupon", "--user", "2", "--coupon", "1"], method: "POST", path: "/coupons/1/issue", body: #"{"userId":2}"#),
        Step(cli: ["issue-coupon", "--user", "2", "--coupon", "7"], method: "POST", path: "/coupons/7/issue", body: #"{"userId":2}"#),
        Step(cli: ["request-coupon", "--user", "3", "--coupon", "1"], method: "POST", path: "/coupons/1/issue-requests", body: #"{"userId":3}"#),
        Step(cli: ["order", "--user", "1", "--item", "1:2", "--coupon", "1"], method: "POST", path: "/orders", body: #"{"userId":1,"items":[{"productId":1,"quantity":2}],"couponId":1}"#),
        Step(cli: ["order", "--user", "1", "--item", "1:9"], method: "POST", path: "/orders", body: #"{"userId":1,"items":[{"productId":1,"quantity":9}]}"#),
        Step(cli: ["order", "--user", "4", "--item", "1:1"], method: "POST", path: "/orders", body: #"{"userId":4,"items":[{"productId":1,"quantity":1}]}"#),
        Step(cli: ["compensate", "--order", "1", "--reason", "changed mind"], method: "POST", path: "/orders/1/compensate", body: #"{"reason":"changed mind"}"#),
        Step(cli: ["compensate", "--order", "1", "--reason", "again"], method: "POST", path: "/orders/1/compensate", body: #"{"reason":"again"}"#),
    ]

    /// Times are made by each side's own clock, and log positions by its own log (the server's
    /// issuance processor appends on its own schedule); everything else must be equal.
    static func withoutTimes(_ value: JSONValue) -> JSONValue {
        switch value {
        case let .object(fields):
            return .object(fields.filter { !$0.0.hasSuffix("At") && $0.0 != "position" }.map { ($0.0, withoutTimes($0.1)) })
        case let .array(items):
            return .array(items.map(withoutTimes))
        default:
            return value
        }
    }

    @Test func theCLIAndTheAPIGiveTheSameAnswers() async throws {
        let cliDir = ScratchDirectory()
        let apiDir = ScratchDirectory()
        let server = try ServerProcess(data: apiDir.path)
        defer { server.stop() }
        for (n, step) in Self.steps.enumerated() {
            let cli = try await runInBackground("commerce", step.cli + ["--data", cliDir.path])
            let api = try await server.call(step.method, step.path, step.body, admin: step.admin)
            if api.status < 300 {
                #expect(cli.status == 0, "step \(n) \(step.cli): CLI failed (\(cli.stderr)) where the API answered \(api.status)")
                #expect(cli.json.map(Self.withoutTimes) == Self.withoutTimes(api.json), "step \(n) \(step.cli)")
            } else {
                let code = try #require(api.json["error"]?["code"]?.stringValue, "step \(n)")
                #expect(cli.status != 0 && cli.stderr.hasPrefix("error: \(code):"), "step \(n) \(step.cli): API \(code), CLI \(cli.stderr)")
            }
        }
    }
}

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LedgerJSON
import Testing

/// The real `commerce serve` process on a free port, walked through the seed's flows over HTTP.
@Suite(.serialized) struct EndToEndTests {
    @Test func seedFlowsSurviveARestart() async throws {
        let dir = ScratchDirectory()
        let platform = dir.path + "-platform.jsonl"
        defer { try? FileManager.default.removeItem(atPath: platform) }
        var server = try ServerProcess(data: dir.path, extra: ["--data-platform-file", platform])
        // Admin: products and coupons.
        #expect(try await server.call("POST", "/admin/products", #"{"name":"Mug","price":12000,"stock":10}"#, admin: true).status == 201)
        #expect(try await server.call("POST", "/admin/products", #"{"name":"Pen","price":1500,"stock":100}"#, admin: true).status == 201)
        #expect(try await server.call("POST", "/admin/products", #"{"name":"Pen","price":1500,"stock":100}"#).status == 401)
        let starts = "2020-01-01T00:00:00+09:00", ends = "2099-01-01T00:00:00+09:00"
        #expect(try await server.call("POST", "/admin/coupons", #"{"name":"Ten","discount":{"type":"PERCENT","percent":10,"maxAmount":5000},"totalQuantity":100,"issueStartsAt":"\#(starts)","issueEndsAt":"\#(ends)","validDays":30}"#, admin: true).status == 201)
        #expect(try await server.call("POST", "/admin/coupons", #"{"name":"Fix","discount":{"type":"FIXED","amount":2000},"totalQuantity":1,"issueStartsAt":"\#(starts)","issueEndsAt":"\#(ends)","validDays":30}"#, admin: true).status == 201)
        // Points.
        #expect(try await server.call("POST", "/users/1/points/charge", #"{"amount":100000}"#).json["balance"] == .int(100_000))
        #expect(try await server.call("POST", "/users/1/points/charge", #"{"amount":100}"#).status == 400)
        // Coupons: sync issue, async request decided by the processor.
        #expect(try await server.call("POST", "/coupons/1/issue", #"{"userId":1}"#).status == 201)
        let request = try await server.call("POST", "/coupons/2/issue-requests", #"{"userId":1}"#)
        #expect(request.status == 202)
        let requestId = try #require(request.json["requestId"]?.stringValue)
        var status = JSONValue.null
        for _ in 0..<200 {
            status = try await server.call("GET", "/coupon-issue-requests/\(requestId)").json["status"] ?? .null
            if status != .string("PENDING") { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(status == .string("ISSUED"))
        // Orders: with a coupon, a failing one, a compensation.
        let order = try await server.call("POST", "/orders", #"{"userId":1,"items":[{"productId":1,"quantity":2},{"productId":2,"quantity":2}],"couponId":1}"#)
        #expect(order.status == 201 && order.json["paidAmount"] == .int(24_300))
        let orderId = try #require(order.json["orderId"]?.intValue)
        let failing = try await server.call("POST", "/orders", #"{"userId":1,"items":[{"productId":1,"quantity":99}]}"#)
        #expect(failing.status == 409 && failing.json["error"]?["code"] == .string("INSUFFICIENT_STOCK"))
        let second = try await server.call("POST", "/orders", #"{"userId":1,"items":[{"productId":2,"quantity":3}],"couponId":2}"#)
        #expect(second.status == 201)
        #expect(try await server.call("POST", "/orders/\(orderId)/compensate", #"{"reason":"customer cancel"}"#).json["status"] == .string("COMPENSATED"))
        let top = try await server.call("GET", "/products/top").json
        #expect(top["items"]?.arrayValue?.first?["productId"] == .int(2))
        #expect(top["items"]?.arrayValue?.first?["quantity"] == .int(3))
        let history = try await server.call("GET", "/users/1/points/history").json
        #expect(history["items"]?.arrayValue?.compactMap { $0["type"]?.stringValue } == ["REFUND", "USE", "USE", "CHARGE"])

        // The outbox relay handed both orders and the compensation to the data platform.
        func platformLines() -> [JSONValue] {
            ((try? String(contentsOfFile: platform, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
        }
        for _ in 0..<200 where platformLines().count < 3 { try await Task.sleep(for: .milliseconds(25)) }
        #expect(platformLines().compactMap { $0["type"]?.stringValue } == ["OrderCompleted", "OrderCompleted", "OrderCompensated"])

        // Everything as it was after SIGTERM and a restart, and nothing relayed twice.
        let snapshot = try await snapshotOf(server)
        #expect(server.stop() == 0)
        server = try ServerProcess(data: dir.path, extra: ["--data-platform-file", platform])
        #expect(try await snapshotOf(server) == snapshot)
        try await Task.sleep(for: .milliseconds(300))
        #expect(platformLines().count == 3)
        server.stop()
    }

    func snapshotOf(_ server: ServerProcess) async throws -> [JSONValue] {
        var out: [JSONValue] = []
        for path in ["/users/1/points", "/users/1/points/history", "/products", "/products/top", "/coupons/1", "/coupons/2",
                     "/users/1/coupons", "/users/1/orders", "/events?limit=1000", "/health"] {
            out.append(try await server.call("GET", path).json)
        }
        return out
    }

    @Test func twoThousandConcurrentHTTPIssuesForAHundredCoupons() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path)
        defer { server.stop() }
        #expect(try await server.call("POST", "/admin/coupons", #"{"name":"Storm","discount":{"type":"FIXED","amount":1000},"totalQuantity":100,"issueStartsAt":"2020-01-01T00:00:00Z","issueEndsAt":"2099-01-01T00:00:00Z","validDays":1}"#, admin: true).status == 201)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for user in 1...2_000 {
                group.addTask { try await server.call("POST", "/coupons/1/issue", #"{"userId":\#(user)}"#).status }
            }
            return try await group.reduce(into: [Int: Int]()) { $0[$1, default: 0] += 1 }
        }
        #expect(statuses == [201: 100, 409: 1_900])
        #expect(try await server.call("GET", "/coupons/1").json["issuedQuantity"] == .int(100))
    }

    @Test func sigtermAnswersInFlightCommands() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path)
        let signalled = Locked<ContinuousClock.Instant?>(nil)
        typealias Answer = (user: Int64, status: Int, at: ContinuousClock.Instant)
        // 32 clients send charges back to back, so requests are always on their way; the signal
        // comes once 100 were answered.
        let nextUser = Locked<Int64>(0)
        let acknowledgedSoFar = Locked(0)
        let answers: [Answer] = try await withThrowingTaskGroup(of: [Answer].self) { group in
            for _ in 0..<32 {
                group.addTask {
                    var mine: [Answer] = []
                    while true {
                        let user = nextUser.withLock { $0 += 1; return $0 }
                        guard user <= 20_000, let r = try? await server.call("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#) else { return mine }
                        mine.append((user, r.status, .now))
                        guard r.status == 200 else { return mine }
                        acknowledgedSoFar.withLock { $0 += 1 }
                    }
                }
            }
            group.addTask {
                while acknowledgedSoFar.withLock({ $0 }) < 100 { try await Task.sleep(for: .milliseconds(2)) }
                signalled.withLock { $0 = .now }
                // Stopping waits for the process: off the tasks' threads.
                _ = try await onThread { server.stop() }
                return []
            }
            return try await group.reduce(into: [Answer]()) { $0 += $1 }
        }
        let signal = try #require(signalled.withLock { $0 })
        let acknowledged = answers.filter { $0.status == 200 }
        // Work was in flight at the signal, and the server answered it before it went.
        #expect(acknowledged.contains { $0.at < signal }, "nothing was answered before the signal")
        #expect(acknowledged.contains { $0.at > signal }, "nothing in flight at the signal was answered after it")
        #expect(answers.allSatisfy { $0.status == 200 || $0.status == 503 }, "\(Set(answers.map(\.status)))")
        // Every acknowledged charge is durable.
        for answer in acknowledged {
            let balance = try run("commerce", ["balance", "--data", dir.path, "--user", "\(answer.user)"])
            #expect(balance.json?["balance"] == .int(10_000), "user \(answer.user)")
        }
    }

    /// The server's log: one line per entry, with its time, level, label, metadata and source.
    @Test func theServerLogsOneLinePerEntry() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path)
        defer { server.stop() }
        let serving = #"(^|\n)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4} info commerce: data=\S+ \[commerce\] commerce serving\n"#
        var found = false
        for _ in 0..<250 where !found {
            found = server.output_.range(of: serving, options: .regularExpression) != nil
            if !found { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(found, "\(server.output_)")
        #expect(server.output_.contains(#"info commerce: [commerce] log checked: 0 records"#), "\(server.output_)")
    }

    /// Standard error whose reader has gone (a log pipe that died) costs log lines, not the server.
    @Test func aServerOutlivesTheReaderOfItsLog() async throws {
        let dir = ScratchDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("commerce"))
        process.arguments = ["serve", "--data", dir.path, "--port", "0"]
        let output = Pipe(), log = Pipe()
        process.standardOutput = output
        process.standardError = log
        try log.fileHandleForReading.close()
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var printed = ""
        let deadline = Date().addingTimeInterval(30)
        while !printed.contains("listening on"), process.isRunning, Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { usleep(10_000) } else { printed += String(decoding: chunk, as: UTF8.self) }
        }
        let port = try #require(printed.firstMatch(of: /127\.0\.0\.1:(\d+)/).map { String($0.1) }, "exited \(process.isRunning ? "no" : "with \(process.terminationStatus)"): \(printed)")
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200, "\(String(decoding: data, as: UTF8.self))")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }
}

import Foundation
import LedgerJSON
import Testing

@Suite struct CLITests {
    @Test func localCommandsPrintJSON() throws {
        let dir = ScratchDirectory()
        let d = ["--data", dir.path]
        #expect(try run("commerce", ["charge", "--user", "1", "--amount", "50000"] + d).json == .object([("userId", .int(1)), ("balance", .int(50_000)), ("position", .int(1))]))
        #expect(try run("commerce", ["balance", "--user", "1"] + d).json?["balance"] == .int(50_000))
        #expect(try run("commerce", ["product", "add", "--name", "Mug", "--price", "12000", "--stock", "5"] + d).json?["id"] == .int(1))
        #expect(try run("commerce", ["product", "restock", "--id", "1", "--quantity", "5"] + d).json?["stock"] == .int(10))
        #expect(try run("commerce", ["coupon", "define", "--name", "Fix", "--amount", "2000", "--total", "10",
                                     "--starts", "2020-01-01T00:00:00Z", "--ends", "2099-01-01T00:00:00Z", "--valid-days", "3"] + d).status == 0)
        #expect(try run("commerce", ["issue-coupon", "--user", "1", "--coupon", "1"] + d).json?["status"] == .string("AVAILABLE"))
        let order = try run("commerce", ["order", "--user", "1", "--item", "1:2", "--coupon", "1"] + d)
        #expect(order.status == 0 && order.json?["paidAmount"] == .int(22_000))
        #expect(try run("commerce", ["products"] + d).json?["items"]?.arrayValue?.count == 1)
        #expect(try run("commerce", ["top"] + d).json?["items"]?.arrayValue?.first?["quantity"] == .int(2))
        #expect(try run("commerce", ["compensate", "--order", "1", "--reason", "test"] + d).json?["status"] == .string("COMPENSATED"))
        #expect(try run("commerce", ["history", "--user", "1"] + d).json?["items"]?.arrayValue?.count == 3)
        #expect(try run("commerce", ["request-coupon", "--user", "2", "--coupon", "1"] + d).json?["status"] == .string("PENDING"))
        #expect(try run("commerce", ["process-requests"] + d).json?["decided"] == .int(1))
        #expect(try run("commerce", ["request-status", "--id", "1"] + d).json?["status"] == .string("ISSUED"))
    }

    @Test func failuresExitNonZeroWithOneLine() throws {
        let dir = ScratchDirectory()
        let d = ["--data", dir.path]
        let small = try run("commerce", ["charge", "--user", "1", "--amount", "10"] + d)
        #expect(small.status == 1 && small.stdout.isEmpty)
        #expect(small.stderrLines.count == 1 && small.stderr.hasPrefix("error: MIN_CHARGE_AMOUNT"))
        let missing = try run("commerce", ["order", "--user", "1", "--item", "5:1"] + d)
        #expect(missing.status == 1 && missing.stderr.contains("PRODUCT_NOT_FOUND"))
        let badItem = try run("commerce", ["order", "--user", "1", "--item", "five"] + d)
        #expect(badItem.status == 2 && badItem.stderrLines.count == 1)
        let usage = try run("commerce", ["charge", "--user", "x", "--amount", "1"] + d)
        #expect(usage.status != 0 && !usage.stderr.isEmpty)
        let noDir = try run("commerce", ["balance", "--user", "1", "--data", "/proc/no/such/dir"])
        #expect(noDir.status == 3 && noDir.stderrLines.count == 1 && noDir.stderr.contains("no data directory"))
        let failedOrder = try run("commerce", ["product", "add", "--name", "A", "--price", "100", "--stock", "1"] + d)
        #expect(failedOrder.status == 0)
        let poor = try run("commerce", ["order", "--user", "9", "--item", "1:1"] + d)
        #expect(poor.status == 1 && poor.stderr.contains("INSUFFICIENT_POINTS") && poor.stderr.contains("order 1"))
    }

    /// The charge limits are the ledger's: a command run beside the server without flags obeys
    /// the server's limits, and a limit set by any process applies to the running server too.
    @Test func chargeLimitsBelongToTheLedgerNotToAProcess() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path, extra: ["--max-balance", "20000", "--min-charge", "5000"])
        defer { _ = server.stop() }
        #expect(try await server.call("POST", "/users/1/points/charge", #"{"amount":20000}"#).status == 200)
        let over = try await runInBackground("commerce", ["charge", "--data", dir.path, "--user", "1", "--amount", "10000"])
        #expect(over.status == 1 && over.stderr.hasPrefix("error: BALANCE_LIMIT_EXCEEDED"), "\(over.stderr)")
        let small = try await runInBackground("commerce", ["charge", "--data", dir.path, "--user", "2", "--amount", "5000"])
        #expect(small.status == 0 && small.json?["balance"] == .int(5_000), "\(small.stderr)")
        // Raised by a command-line process: the running server's next charge obeys it.
        let raised = try await runInBackground("commerce", ["charge", "--data", dir.path, "--max-balance", "50000", "--user", "1", "--amount", "10000"])
        #expect(raised.status == 0 && raised.json?["balance"] == .int(30_000), "\(raised.stderr)")
        #expect(try await server.call("POST", "/users/1/points/charge", #"{"amount":20000}"#).json["balance"] == .int(50_000))
        #expect(try await server.call("POST", "/users/1/points/charge", #"{"amount":5000}"#).json["error"]?["code"] == .string("BALANCE_LIMIT_EXCEEDED"))
        // A limit that contradicts the recorded other one is refused with one line, nothing changed.
        let contradicting = try await runInBackground("commerce", ["balance", "--data", dir.path, "--user", "1", "--min-charge", "60000"])
        #expect(contradicting.status != 0 && contradicting.stderrLines.count == 1 && contradicting.stderr.contains("largest balance (50000 won)"), "\(contradicting.stderr)")
        #expect(try await server.call("POST", "/users/3/points/charge", #"{"amount":5000}"#).json["balance"] == .int(5_000))
    }

    /// Paging cursors at the ends of Int64 and ids that are not ids: a clear answer, never a trap.
    @Test func cursorsAndIdsAtTheEdgesAreAnsweredNotTrapped() throws {
        let dir = ScratchDirectory()
        let d = ["--data", dir.path]
        #expect(try run("commerce", ["product", "add", "--name", "Mug", "--price", "1000", "--stock", "5"] + d).status == 0)
        for after in ["9223372036854775807", "-9223372036854775808", "-1"] {
            let page = try run("commerce", ["products", "--after=\(after)"] + d)
            #expect(page.status == 0, "\(after): \(page.stderr)")
            #expect(page.json?["items"]?.arrayValue?.count == (after.hasPrefix("-") ? 1 : 0), "\(after)")
        }
        for before in ["-9223372036854775808", "0", "1", "9223372036854775807"] {
            let page = try run("commerce", ["orders", "--user", "1", "--before=\(before)"] + d)
            #expect(page.status == 0 && page.json?["items"]?.arrayValue?.isEmpty == true, "\(before): \(page.stderr)")
        }
        #expect(try run("commerce", ["charge", "--user", "1", "--amount", "10000"] + d).status == 0)
        for before in ["0", "1"] {
            let page = try run("commerce", ["history", "--user", "1", "--before", before] + d)
            #expect(page.status == 0 && page.json?["items"]?.arrayValue?.isEmpty == true, "history before \(before): \(page.stdout)")
        }
        for user in ["0", "-5"] {
            let balance = try run("commerce", ["balance", "--user=\(user)"] + d)
            #expect(balance.status == 64 && balance.stderrLines.first?.contains("--user must be a whole number from 1") == true, "\(user): \(balance.stderr)")
        }
    }

    /// Numbers out of range, and garbage where the environment should hold a number, are usage
    /// errors (64, the first line says what): never a silent default, a wrapped port or a crash.
    /// A read command on a directory that holds no ledger says so instead of making one.
    @Test func settingsOutOfRangeOrGarbledAreRefused() throws {
        let dir = ScratchDirectory()
        let d = ["--data", dir.path + "/ledger"]
        let cases: [(arguments: [String], environment: [String: String], says: String)] = [
            (["serve", "--port", "70000"], [:], "--port must be from 0 to 65535"),
            (["serve", "--port", "0", "--io-threads", "100000"], [:], "--io-threads must be from 0"),
            (["serve"], ["COMMERCE_PORT": "abc"], "COMMERCE_PORT=abc is not a whole number"),
            (["serve", "--port", "0"], ["COMMERCE_READ_TIMEOUT": "soon"], "COMMERCE_READ_TIMEOUT=soon is not a number"),
            (["balance", "--user", "1"], ["COMMERCE_MAX_BALANCE": "lots"], "COMMERCE_MAX_BALANCE=lots is not a whole number"),
            (["balance", "--user", "1", "--map-size-mb", "17592186044416"], [:], "--map-size-mb and --max-map-size-mb must be at most"),
        ]
        for c in cases {
            let result = try run("commerce", c.arguments + d, timeout: 20, environment: c.environment)
            #expect(result.status == 64 && result.stderrLines.first?.contains(c.says) == true, "\(c.arguments) \(c.environment): \(result.status) \(result.stderr)")
        }
        let missing = try run("commerce", ["balance", "--user", "1"] + d)
        #expect(missing.status == 3 && missing.stderr.contains("no data directory"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/ledger"))
    }

    @Test func twoProcessesAppendingAtOnceKeepALogConsistent() throws {
        let dir = ScratchDirectory()
        // Two shells, each charging in a loop, so two commerce processes write the same environment at once.
        let script = { (user: Int) in
            "for i in $(seq 1 25); do \(Binaries.path("commerce")) charge --data \(dir.path) --user \(user) --amount 10000 >/dev/null || exit 1; " +
            "\(Binaries.path("commerce")) charge --data \(dir.path) --user 3 --amount 10000 >/dev/null || exit 1; done"
        }
        let shells = try [1, 2].map { user -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", script(user)]
            try p.run()
            return p
        }
        let deadline = Date().addingTimeInterval(120)
        while shells.contains(where: \.isRunning) && Date() < deadline { usleep(20_000) }
        for p in shells where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in shells {
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        #expect(try run("commerce", ["balance", "--data", dir.path, "--user", "1"]).json?["balance"] == .int(250_000))
        #expect(try run("commerce", ["balance", "--data", dir.path, "--user", "2"]).json?["balance"] == .int(250_000))
        // User 3 got charges from both processes: every balanceAfter is distinct and the history adds up.
        let history = try run("commerce", ["history", "--data", dir.path, "--user", "3", "--limit", "100"]).json
        let after = history?["items"]?.arrayValue?.compactMap { $0["balanceAfter"]?.intValue } ?? []
        #expect(after == stride(from: 500_000, to: 0, by: -10_000).map { Int64($0) })
        // Each process caught the views up with the other's appends before deciding: the log and
        // the views agree with a fold from scratch.
        #expect(try run("commerce-log", ["verify", "--data", dir.path]).status == 0)
        #expect(try run("commerce-rebuild", ["--data", dir.path, "--verify"]).status == 0)
    }
}

import BinaryCodec
import Commerce
import CommerceApp
import Foundation
import LedgerJSON
import LMDB
import Testing

/// A data directory with a little of everything, made through the real `commerce` CLI.
func seededLedger() throws -> ScratchDirectory {
    let dir = ScratchDirectory()
    let d = ["--data", dir.path]
    for (name, price) in [("Mug", 12_000), ("Pen", 1_500)] {
        _ = try run("commerce", ["product", "add", "--name", name, "--price", "\(price)", "--stock", "50"] + d)
    }
    _ = try run("commerce", ["coupon", "define", "--name", "Ten", "--percent", "10", "--total", "5",
                             "--starts", "2020-01-01T00:00:00Z", "--ends", "2099-01-01T00:00:00Z", "--valid-days", "7"] + d)
    for user in 1...3 {
        _ = try run("commerce", ["charge", "--user", "\(user)", "--amount", "100000"] + d)
        _ = try run("commerce", ["issue-coupon", "--user", "\(user)", "--coupon", "1"] + d)
        _ = try run("commerce", ["order", "--user", "\(user)", "--item", "1:1", "--item", "2:2", "--coupon", "1"] + d)
    }
    _ = try run("commerce", ["request-coupon", "--user", "9", "--coupon", "1"] + d)
    _ = try run("commerce", ["process-requests"] + d)
    _ = try run("commerce", ["compensate", "--order", "2", "--reason", "cancel"] + d)
    return dir
}

@Suite struct RebuildToolTests {
    @Test func rebuildAndVerify() throws {
        let dir = try seededLedger()
        let rebuilt = try run("commerce-rebuild", ["--data", dir.path, "--json"])
        #expect(rebuilt.status == 0)
        let summary = try #require(rebuilt.json)
        #expect(summary["events"]?.intValue ?? 0 > 20)
        #expect(summary["projections"]?.arrayValue?.count == 11)  // 9 projections, the stream and idempotency indexes
        #expect(summary["tables"]?.arrayValue?.first { $0["table"] == .string("proj.products") }?["rows"] == .int(2))
        #expect(!rebuilt.stderr.isEmpty)  // progress lines
        let named = try run("commerce-rebuild", ["--data", dir.path, "--projection", "products", "--json"])
        #expect(named.json?["projections"] == .array([.string("products")]))
        #expect(try run("commerce-rebuild", ["--data", dir.path, "--verify"]).status == 0)
        #expect(try run("commerce", ["balance", "--data", dir.path, "--user", "2"]).json?["balance"] == .int(100_000))
        let unknown = try run("commerce-rebuild", ["--data", dir.path, "--projection", "nope"])
        #expect(unknown.status != 0 && unknown.stderrLines.count == 1)
    }

    @Test func verifyNamesTheFirstDifference() throws {
        let dir = try seededLedger()
        do {
            // The views, changed behind the ledger's back (no process has them open now).
            let env = try Environment.open(path: dir.path + "/views", configuration: .init(durable: false, writeMap: true))
            let products = try env.openDatabase("proj.products")
            try env.write { try $0.put(products, Keys.uint64(1), [9, 9]) }
        }
        let verify = try run("commerce-rebuild", ["--data", dir.path, "--verify"])
        #expect(verify.status == 1)
        #expect(verify.stderr.contains("products") && verify.stderr.contains("0000000000000001") && verify.stderr.contains("0909"))
        #expect(try run("commerce-rebuild", ["--data", dir.path]).status == 0)
        #expect(try run("commerce-rebuild", ["--data", dir.path, "--verify"]).status == 0)
    }

    @Test func timeTravelIntoASeparateDirectory() throws {
        let dir = try seededLedger()
        let head = try #require(try run("commerce-log", ["stats", "--data", dir.path, "--json"]).json?["head"]?.intValue)
        let before = try run("commerce", ["balance", "--data", dir.path, "--user", "1"]).json?["balance"]
        _ = try run("commerce", ["charge", "--data", dir.path, "--user", "1", "--amount", "50000"])
        let out = ScratchDirectory()
        let snap = try run("commerce-rebuild", ["--data", dir.path, "--until", "\(head)", "--output", out.path + "/then"])
        #expect(snap.status == 0)
        #expect(try run("commerce", ["balance", "--read-only", "--data", out.path + "/then", "--user", "1"]).json?["balance"] == before)
        #expect(try run("commerce", ["balance", "--data", dir.path, "--user", "1"]).json?["balance"] != before)
        let refused = try run("commerce", ["charge", "--read-only", "--data", out.path + "/then", "--user", "1", "--amount", "10000"])
        #expect(refused.status == 3 && refused.stderr.contains("read-only"))
        // By time: before everything there is nothing.
        let empty = try run("commerce-rebuild", ["--data", dir.path, "--until", "2000-01-01T00:00:00Z", "--output", out.path + "/empty"])
        #expect(empty.status == 0)
        #expect(try run("commerce", ["balance", "--read-only", "--data", out.path + "/empty", "--user", "1"]).json?["balance"] == .int(0))
        #expect(try run("commerce-rebuild", ["--data", dir.path, "--until", "\(head)"]).status != 0)
    }

    @Test func rebuildWhileTheServerWrites() async throws {
        let dir = try seededLedger()
        let server = try ServerProcess(data: dir.path)
        defer { server.stop() }
        let load = Task {
            var ok = 0
            for user in 100..<400 {
                if try await server.call("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#).status == 200 { ok += 1 }
            }
            return ok
        }
        let rebuild = try run("commerce-rebuild", ["--data", dir.path, "--chunk-ms", "1"])
        #expect(rebuild.status == 0)
        #expect(try await load.value == 300)
        for user in [100, 250, 399] {
            #expect(try await server.call("GET", "/users/\(user)/points").json["balance"] == .int(10_000))
        }
        #expect(try run("commerce-rebuild", ["--data", dir.path, "--verify"]).status == 0)
    }
}

extension RebuildToolTests {
    /// Each rebuild beside a server makes new tables live, which the server must open: it used to
    /// open new names every time and ran out of LMDB handles (128) after about a dozen, answering
    /// 500 to everything until restarted.
    @Test func aServerOutlivesManyRebuildsBesideIt() async throws {
        let dir = try seededLedger()
        let server = try ServerProcess(data: dir.path)
        defer { server.stop() }
        for round in 1...20 {
            let rebuild = try await runInBackground("commerce-rebuild", ["--data", dir.path, "--chunk-ms", "1"])
            #expect(rebuild.status == 0, "round \(round): \(rebuild.stderr)")
            let charged = try await server.call("POST", "/users/1000/points/charge", #"{"amount":10000}"#)
            #expect(charged.status == 200, "round \(round): \(charged.json)")
            #expect(try await server.call("GET", "/users/1000/points").json["balance"] == .int(Int64(round) * 10_000), "round \(round)")
        }
        #expect(try run("commerce-rebuild", ["--data", dir.path, "--verify"]).status == 0)
    }

    /// A log record whose key was damaged (one flipped bit on disk) stops a rebuild with one
    /// line naming the position, as it stops verify and serve: the rebuild used to go round for
    /// ever, and its last step read past the gap, folding every event but the damaged one.
    @Test func aRebuildStopsAtADamagedLogKeyInsteadOfLoopingForEver() async throws {
        let dir = ScratchDirectory()
        let server = try ServerProcess(data: dir.path)
        for user in 1...1_200 {
            _ = try await server.call("POST", "/users/\(user % 50 + 1)/points/charge", #"{"amount":10000}"#)
        }
        #expect(server.stop() == 0)
        let path = dir.path + "/log/data.mdb"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // A node: its key size (8, little-endian) just before the big-endian key 1000. Every copy
        // (a branch page may hold one too; sequential reads go by pages, not by branch keys).
        let key: [UInt8] = [8, 0] + withUnsafeBytes(of: UInt64(1_000).bigEndian, Array.init)
        let copies = (0...(bytes.count - key.count)).filter { bytes[$0] == 8 && bytes[$0..<($0 + key.count)].elementsEqual(key) }
        #expect(!copies.isEmpty)
        for at in copies { bytes[at + 2] ^= 0x01 }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let rebuild = try await runInBackground("commerce-rebuild", ["--data", dir.path], timeout: 120)
        #expect(rebuild.status != 0 && rebuild.stderrLines.last?.contains("position 1000 is corrupt") == true, "\(rebuild.stderr.suffix(400))")
    }

    /// Two rebuilds of the same ledger at once, beside a writing server: one waits for nothing and
    /// runs, the other either runs after it or is refused with one line; never do they swap each
    /// other's tables away, and the views end equal to a fold from scratch.
    @Test func twoRebuildsAndAWriterAtOnce() async throws {
        let dir = try seededLedger()
        let server = try ServerProcess(data: dir.path)
        defer { server.stop() }
        let load = Task {
            var ok = 0
            for user in 100..<300 {
                if try await server.call("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#).status == 200 { ok += 1 }
            }
            return ok
        }
        let rebuilds = [Task { try await runInBackground("commerce-rebuild", ["--data", dir.path, "--chunk-ms", "1"]) },
                        Task { try await runInBackground("commerce-rebuild", ["--data", dir.path, "--chunk-ms", "1"]) }]
        var succeeded = 0
        for rebuild in rebuilds {
            let result = try await rebuild.value
            if result.status == 0 {
                succeeded += 1
            } else {
                #expect(result.stderrLines.count == 1 && result.stderr.contains("another rebuild"), "\(result.stderr)")
            }
        }
        #expect(succeeded >= 1)
        #expect(try await load.value == 200)
        for user in [100, 199, 299] {
            #expect(try await server.call("GET", "/users/\(user)/points").json["balance"] == .int(10_000))
        }
        #expect(try run("commerce-rebuild", ["--data", dir.path, "--verify"]).status == 0)
    }
}

@Suite struct LogToolTests {
    @Test func tailShowStreamAndFilters() throws {
        let dir = try seededLedger()
        let d = ["--data", dir.path]
        let tail = try run("commerce-log", ["tail", "-n", "3", "--json"] + d)
        let lines = tail.stdout.split(separator: "\n")
        #expect(tail.status == 0 && lines.count == 3)
        #expect((try? JSONParser.parse(Array(lines[2].utf8)))?["type"] == .string("OrderCompensated"))
        let table = try run("commerce-log", ["tail", "-n", "2"] + d)
        #expect(table.stdout.hasPrefix("POSITION") && !table.stdout.contains("\u{1B}["))
        let show = try run("commerce-log", ["show", "1", "--json"] + d)
        #expect(show.json?["type"] == .string("ProductRegistered") && show.json?["position"] == .int(1))
        #expect(try run("commerce-log", ["show", "9999"] + d).status != 0)
        let stream = try run("commerce-log", ["stream", "user-1", "--json"] + d).stdout.split(separator: "\n").compactMap { try? JSONParser.parse(Array($0.utf8)) }
        #expect(stream.compactMap { $0["version"]?.intValue } == [1, 2])
        #expect(stream.allSatisfy { $0["stream"] == .string("user-1") })
        let orders = try run("commerce-log", ["tail", "-n", "100", "--type", "OrderCompleted", "--json"] + d).stdout.split(separator: "\n")
        #expect(orders.count == 3)
        let after = try run("commerce-log", ["tail", "-n", "100", "--after", "20", "--json"] + d).stdout.split(separator: "\n")
        #expect(after.compactMap { (try? JSONParser.parse(Array($0.utf8)))?["position"]?.intValue }.allSatisfy { $0 > 20 })
        let order = try #require(try JSONParser.parse(Array(orders[0].utf8))["commandId"]?.stringValue)
        let correlated = try run("commerce-log", ["tail", "-n", "100", "--correlation", order, "--json"] + d).stdout.split(separator: "\n")
        #expect(correlated.count == 5)  // 2 stock deductions, coupon use, points use, completion
        #expect(try run("commerce-log", ["tail", "--since", "2099-01-01T00:00:00Z", "--json"] + d).stdout.isEmpty)
        #expect(try run("commerce-log", ["tail", "--until", "2000-01-01T00:00:00Z", "--json"] + d).stdout.isEmpty)
        #expect(try run("commerce-log", ["tail", "--since", "yesterday"] + d).status == 2)
    }

    @Test func tailOfARareTypeShowsEachEventOnce() throws {
        // More than one page (10,000 events) of log, with an order every 3,000 events.
        let dir = ScratchDirectory()
        var orders: [Int64] = []
        do {
            let ledger = try Ledger(configuration: LedgerConfiguration(dataDirectory: dir.path))
            _ = try ledger.execute(.registerProduct(name: "Mug", price: 1_000, stock: 100))
            for start in stride(from: 1, through: 24_000, by: 3_000) {
                _ = try ledger.execute(batch: (start..<start + 2_999).map { .chargePoints(userId: Int64($0), amount: 10_000) })
                let outcome = try ledger.execute(.placeOrder(userId: Int64(start), items: [.init(productId: 1, quantity: 1)], couponId: nil))
                if case let .orderCompleted(o) = outcome.result { orders.append(o.orderId) }
            }
        }
        let tail = try run("commerce-log", ["tail", "-n", "100", "--type", "OrderCompleted", "--json", "--data", dir.path])
        let shown = tail.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(Array($0.utf8)) }
        #expect(shown.compactMap { $0["data"]?["orderId"]?.intValue } == orders)
        let positions = shown.compactMap { $0["position"]?.intValue }
        #expect(Set(positions).count == positions.count && positions == positions.sorted())
        let last = try run("commerce-log", ["tail", "-n", "3", "--type", "OrderCompleted", "--json", "--data", dir.path])
        #expect(last.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(Array($0.utf8))["data"]?["orderId"]?.intValue } == Array(orders.suffix(3)))
    }

    @Test func tailFollowsNewAppends() throws {
        let dir = try seededLedger()
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: Binaries.path("commerce-log"))
        follower.arguments = ["tail", "-f", "-n", "0", "--json", "--data", dir.path]
        let out = Pipe()
        follower.standardOutput = out
        try follower.run()
        defer { kill(follower.processIdentifier, SIGTERM); follower.waitUntilExit() }
        usleep(300_000)
        _ = try run("commerce", ["charge", "--data", dir.path, "--user", "77", "--amount", "10000"])
        var seen = ""
        let deadline = Date().addingTimeInterval(10)
        while !seen.contains("user-77") && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            seen += String(decoding: chunk, as: UTF8.self)
        }
        #expect(seen.contains(#""stream":"user-77""#))
    }

    @Test func statsShowsLagAndFlagsACheckpointAheadOfTheHead() throws {
        let dir = try seededLedger()
        let stats = try #require(try run("commerce-log", ["stats", "--json", "--data", dir.path]).json)
        let head = try #require(stats["head"]?.intValue)
        #expect(stats["eventsByType"]?["OrderCompleted"] == .int(3))
        #expect(stats["eventsByDay"].map { if case let .object(f) = $0 { return f.count } else { return 0 } } == 1)
        #expect(stats["log"]?["mapUsedBytes"]?.intValue ?? 0 > 0 && stats["log"]?["bytesOnDisk"]?.intValue ?? 0 > 0)
        #expect(stats["views"]?["mapUsedBytes"]?.intValue ?? 0 > 0)
        #expect(stats["projections"]?.arrayValue?.allSatisfy { $0["lagEvents"] == .int(0) } == true)
        let issuer = stats["subscribers"]?.arrayValue?.first { $0["name"] == .string("coupon-issuer") }
        #expect(issuer?["aheadOfHead"] == .bool(false))
        // A checkpoint past the head, as after restoring an older backup.
        do {
            let env = try Environment.open(path: dir.path + "/views", configuration: .init(durable: false, writeMap: true))
            let checkpoints = try env.openDatabase("views.checkpoints")
            try env.write { try $0.put(checkpoints, Array("outbox-relay".utf8), Keys.uint64(UInt64(head) + 10)) }
        }
        let flagged = try run("commerce-log", ["stats", "--data", dir.path])
        #expect(flagged.stdout.contains("outbox-relay") && flagged.stdout.contains("AHEAD OF HEAD"))
    }

    @Test func verifyFindsTheFirstBadRecord() throws {
        let dir = try seededLedger()
        #expect(try run("commerce-log", ["verify", "--data", dir.path]).status == 0)
        do {
            let env = try Environment.open(path: dir.path + "/log")
            let events = try env.openDatabase("log.events")
            try env.write { txn in
                var raw = try #require(try txn.get(events, Keys.uint64(7)))
                raw[raw.count - 1] ^= 0x55
                try txn.put(events, Keys.uint64(7), raw)
            }
        }
        let bad = try run("commerce-log", ["verify", "--data", dir.path])
        #expect(bad.status == 1 && bad.stderrLines.count == 1 && bad.stderr.contains("position 7"))
        // The server refuses to serve it, with one line saying where.
        let serve = try run("commerce", ["serve", "--data", dir.path, "--port", "0"], timeout: 30)
        let errors = serve.stderrLines.filter { $0.hasPrefix("error:") }
        #expect(serve.status == 3 && errors.count == 1 && errors.first?.contains("position 7") == true, "\(serve.stderr)")
        #expect(!serve.stdout.contains("listening"))
    }

    @Test func exportImportReproducesTheProjections() throws {
        let dir = try seededLedger()
        let file = dir.path + "/../export-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try run("commerce-log", ["export", "--data", dir.path, "--output", file]).status == 0)
        let target = ScratchDirectory()
        let imported = try run("commerce-log", ["import", file, "--data", target.path + "/copy"])
        #expect(imported.status == 0)
        #expect(try run("commerce-rebuild", ["--data", target.path + "/copy", "--verify"]).status == 0)
        let a = try run("commerce-rebuild", ["--data", dir.path, "--json"]).json?["tables"]
        let b = try run("commerce-rebuild", ["--data", target.path + "/copy", "--json"]).json?["tables"]
        #expect(a != nil && a == b)
        let again = try run("commerce-log", ["import", file, "--data", target.path + "/copy"])
        #expect(again.status == 2 && again.stderr.contains("empty"))
        let original = try run("commerce-log", ["export", "--data", dir.path]).stdout
        let copy = try run("commerce-log", ["export", "--data", target.path + "/copy"]).stdout
        #expect(original == copy)
        // Through a symlink: the link stays, its target gets the export.
        let link = target.path + "/link.jsonl", linked = target.path + "/linked.jsonl"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: linked)
        #expect(try run("commerce-log", ["export", "--data", dir.path, "--output", link]).status == 0)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == linked)
        #expect(try String(contentsOfFile: linked, encoding: .utf8) == original)
        // A device that refuses every byte: one line and a failure, never a crash, and the
        // device is still a device.
        let full = try run("commerce-log", ["export", "--data", dir.path, "--output", "/dev/full"])
        #expect(full.status != 0 && full.status != 132 && full.stderrLines.count == 1 && full.stderr.contains("cannot write /dev/full"), "\(full.status) \(full.stderr)")
        #expect((try FileManager.default.attributesOfItem(atPath: "/dev/full")[.type] as? FileAttributeType) == .typeCharacterSpecial)
    }

    @Test func hotBackupOpensVerifiesAndServes() async throws {
        let dir = try seededLedger()
        let server = try ServerProcess(data: dir.path)
        let writes = Task {
            for user in 500..<600 { _ = try await server.call("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#) }
        }
        let backupDir = ScratchDirectory()
        let backup = try run("commerce-log", ["backup", backupDir.path + "/bk", "--data", dir.path])
        #expect(backup.status == 0 && backup.stdout.contains("verified"))
        try await writes.value
        server.stop()
        #expect(try run("commerce-log", ["verify", "--data", backupDir.path + "/bk"]).status == 0)
        let copy = try ServerProcess(data: backupDir.path + "/bk")
        defer { copy.stop() }
        #expect(try await copy.call("GET", "/users/1/points").json["balance"] != .null)
        #expect(try await copy.call("GET", "/products/1").json["name"] == .string("Mug"))
    }

    @Test func errorsAreOneLine() throws {
        let missing = try run("commerce-log", ["stats", "--data", "/no/such/ledger"])
        #expect(missing.status == 3 && missing.stderrLines.count == 1 && missing.stderr.contains("no data directory"))
        let notLedger = ScratchDirectory()
        let empty = try run("commerce-log", ["tail", "--data", notLedger.path])
        #expect(empty.status == 3 && empty.stderr.contains("not a ledger"))
        try FileManager.default.createDirectory(atPath: notLedger.path + "/log", withIntermediateDirectories: true)
        try Data(repeating: 0xAB, count: 64 * 1024).write(to: URL(fileURLWithPath: notLedger.path + "/log/data.mdb"))
        let corrupt = try run("commerce-log", ["verify", "--data", notLedger.path])
        #expect(corrupt.status == 3 && corrupt.stderrLines.count == 1)
        // The same garbage where a ledger of the single-environment layout would keep its data.
        let legacy = ScratchDirectory()
        try Data(repeating: 0xAB, count: 64 * 1024).write(to: URL(fileURLWithPath: legacy.path + "/data.mdb"))
        let old = try run("commerce-log", ["verify", "--data", legacy.path])
        #expect(old.status == 3 && old.stderrLines.count == 1 && old.stderr.contains("single-environment layout"))
        #expect(try run("commerce-rebuild", ["--data", "/no/such/ledger"]).status == 3)
    }
}

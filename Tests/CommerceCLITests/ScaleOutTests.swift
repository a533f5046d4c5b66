import Foundation
import LedgerJSON
import Redis
import RedisTestSupport
import SeededRandom
import Testing

/// One leader relaying to a real redis-server, read replicas following it, and the data
/// platform's consumer group: real processes on loopback, crashes by SIGKILL.
@Suite(.serialized) struct ScaleOutTests {
    static let window = (starts: "2020-01-01T00:00:00Z", ends: "2099-01-01T00:00:00Z")
    static let users = 1...60

    /// Products, a coupon, then `count` mixed commands from `callers` concurrent clients.
    func load(_ leader: ServerProcess, count: Int, callers: Int = 16, seed: UInt64) async throws {
        let products = try await setUpCatalog(leader)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    var random = SplitMix64(seed: seed &+ UInt64(caller))
                    for _ in 0..<(count / callers) {
                        let user = Int(random.next() % UInt64(Self.users.count)) + 1
                        switch random.next() % 10 {
                        case 0...3:
                            _ = try await leader.call("POST", "/users/\(user)/points/charge", #"{"amount":\#((random.next() % 50 + 1) * 10_000)}"#)
                        case 4:
                            _ = try await leader.call("POST", "/coupons/1/issue", #"{"userId":\#(user)}"#)
                        case 5:
                            let orders = try await leader.call("GET", "/users/\(user)/orders?limit=1").json["items"]?.arrayValue ?? []
                            if let id = orders.first?["orderId"]?.intValue {
                                _ = try await leader.call("POST", "/orders/\(id)/compensate", #"{"reason":"returned"}"#)
                            }
                        default:
                            let product = products[Int(random.next() % UInt64(products.count))]
                            let coupon = random.next() % 3 == 0 ? #","couponId":1"# : ""
                            _ = try await leader.call("POST", "/orders", #"{"userId":\#(user),"items":[{"productId":\#(product),"quantity":\#(random.next() % 3 + 1)}]\#(coupon)}"#)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    func setUpCatalog(_ leader: ServerProcess) async throws -> [Int64] {
        let existing = try await leader.call("GET", "/products?limit=100").json["items"]?.arrayValue ?? []
        if !existing.isEmpty { return existing.compactMap { $0["id"]?.intValue } }
        var ids: [Int64] = []
        for i in 0..<6 {
            let made = try await leader.call("POST", "/admin/products", #"{"name":"P\#(i)","price":\#((i + 1) * 1_000),"stock":100000}"#, admin: true)
            ids.append(try #require(made.json["id"]?.intValue))
        }
        _ = try await leader.call("POST", "/admin/coupons",
                                  #"{"name":"Ten","discount":{"type":"FIXED","amount":500},"totalQuantity":40,"issueStartsAt":"\#(Self.window.starts)","issueEndsAt":"\#(Self.window.ends)","validDays":30}"#,
                                  admin: true)
        return ids
    }

    func head(_ server: ServerProcess) async throws -> Int64 {
        try #require(try await server.call("GET", "/health").json["head"]?.intValue)
    }

    /// Waits (bounded) until `replica` has folded everything the leader holds. The log head it
    /// reports runs ahead of its views while a batch is being folded, so the wait is on the views
    /// (`atLeast`), not on `/health`'s head.
    func converge(_ replica: ServerProcess, to leader: ServerProcess, within seconds: Double = 60) async throws {
        let target = try await head(leader)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await replica.call("GET", "/users/1/points?atLeast=\(target)").status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the replica stayed at \(try await head(replica)) of \(target): \(replica.output_.suffix(2_000))")
    }

    /// Every query route, for every user and record, byte for byte.
    func queryPaths(_ leader: ServerProcess) async throws -> [String] {
        var paths = ["/products?limit=100", "/products/top", "/products/top?days=1", "/coupons", "/coupons/1", "/events?limit=1000",
                     "/events?after=5000&limit=1000", "/events?type=OrderCompleted&limit=1000", "/events?stream=coupon-1&limit=1000"]
        for user in Self.users {
            paths += ["/users/\(user)/points", "/users/\(user)/points/history?limit=100", "/users/\(user)/coupons", "/users/\(user)/orders?limit=100"]
        }
        for p in 1...6 { paths.append("/products/\(p)") }
        let orders = try await leader.call("GET", "/events?type=OrderCompleted&limit=50").json["items"]?.arrayValue ?? []
        for order in orders { if let id = order["data"]?["orderId"]?.intValue { paths.append("/orders/\(id)") } }
        return paths
    }

    func expectSameAnswers(_ replicas: [ServerProcess], as leader: ServerProcess) async throws {
        let paths = try await queryPaths(leader)
        var differing: [String] = []
        for path in paths {
            let expected = try await leader.get(path)
            #expect(expected.status == 200, "\(path)")
            for replica in replicas where try await replica.get(path) != expected { differing.append(path) }
        }
        #expect(differing.isEmpty, "answers differ on \(differing.prefix(10))")
    }

    /// The stream's entry ids: every position from the first kept one to the head, once, in order.
    func streamPositions(_ redis: RedisServer) throws -> [UInt64] {
        let connection = try RedisConnection(redis.url)
        let entries = try connection.command(["XRANGE", "commerce:events", "-", "+"]).checked().array ?? []
        return entries.compactMap { $0.array?.first?.text }.compactMap { UInt64($0.dropLast(2)) }
    }

    @Test func replicasAnswerLikeTheLeaderThroughCrashesOfTheLeaderRedisAndAReplica() async throws {
        let redis = try RedisServer(appendOnly: true)
        let leaderDir = ScratchDirectory(), firstDir = ScratchDirectory(), secondDir = ScratchDirectory()
        let bus = ["--redis", "redis://127.0.0.1:\(redis.port)"]
        var leader = try ServerProcess(data: leaderDir.path, extra: bus)
        let first = try ServerProcess(command: "replica", data: firstDir.path, extra: bus + ["--leader", "http://127.0.0.1:\(leader.port)"])
        var second = try ServerProcess(command: "replica", data: secondDir.path, extra: bus)
        defer { leader.stop(); first.stop(); second.stop() }

        try await load(leader, count: 2_500, seed: 1)
        // The leader dies mid-relay and comes back on its data.
        leader.kill9()
        leader = try ServerProcess(data: leaderDir.path, extra: bus)
        try await load(leader, count: 2_500, seed: 2)
        // Redis dies (its AOF synced every second) and comes back while the leader writes.
        let writingLeader = leader
        async let writing: Void = load(writingLeader, count: 2_500, seed: 3)
        try await Task.sleep(for: .milliseconds(300))
        redis.kill()
        try await Task.sleep(for: .milliseconds(300))
        try redis.start()
        try await writing
        // A replica dies and comes back on its data.
        second.kill9()
        try await load(leader, count: 1_250, seed: 4)
        second = try ServerProcess(command: "replica", data: secondDir.path, extra: bus)
        try await load(leader, count: 1_250, seed: 5)

        try await converge(first, to: leader)
        try await converge(second, to: leader)
        let head = try await head(leader)
        #expect(head > 10_000)
        try await expectSameAnswers([first, second], as: leader)
        // The stream holds every event once, in position order.
        let deadline = Date().addingTimeInterval(30)
        var positions = try streamPositions(redis)
        while positions.last != UInt64(head), Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
            positions = try streamPositions(redis)
        }
        #expect(positions == Array(1...UInt64(head)))
        let health = try await second.call("GET", "/health").json
        #expect(health["role"]?.stringValue == "replica")
        #expect(health["replication"]?["lagEvents"]?.intValue == 0)
    }

    @Test func aReplicaReadsTheLeadersWriteWithAtLeast() async throws {
        let redis = try RedisServer()
        let leaderDir = ScratchDirectory(), replicaDir = ScratchDirectory()
        let bus = ["--redis", "redis://127.0.0.1:\(redis.port)"]
        let leader = try ServerProcess(data: leaderDir.path, extra: bus)
        let replica = try ServerProcess(command: "replica", data: replicaDir.path, extra: bus + ["--leader", "http://127.0.0.1:\(leader.port)"])
        defer { leader.stop(); replica.stop() }
        for round in 1...100 {
            let charged = try await leader.call("POST", "/users/7/points/charge", #"{"amount":10000}"#)
            let position = try #require(charged.json["position"]?.intValue)
            let read = try await replica.call("GET", "/users/7/points?atLeast=\(position)")
            #expect(read.status == 200)
            #expect(read.json["balance"]?.intValue == Int64(round) * 10_000, "round \(round)")
        }
        // A position the leader never reached is refused after the wait, with Retry-After.
        let far = try await replica.call("GET", "/users/7/points?atLeast=999999")
        #expect(far.status == 503)
        #expect(far.json["error"]?["code"]?.stringValue == "POSITION_NOT_REACHED")
    }

    @Test func theDataPlatformGroupWritesEveryOrderOnceThoughAMemberDies() async throws {
        let redis = try RedisServer()
        let leaderDir = ScratchDirectory(), out = ScratchDirectory()
        let leader = try ServerProcess(data: leaderDir.path, extra: ["--redis", "redis://127.0.0.1:\(redis.port)"])
        defer { leader.stop() }
        try await load(leader, count: 1_500, seed: 9)
        let url = "redis://127.0.0.1:\(redis.port)"
        // One member dies after writing its second batch and before acknowledging it.
        let dying = try await runInBackground("commerce-log", ["consume", "--redis", url, "--consumer", "a", "--batch", "50",
                                                               "--output", out.path + "/a.jsonl", "--crash-before-ack-after-batches", "2"])
        #expect(dying.status != 0)
        let survivor = try await runInBackground("commerce-log", ["consume", "--redis", url, "--consumer", "b", "--batch", "50", "--claim-idle", "0.2",
                                                                  "--output", out.path + "/b.jsonl", "--exit-when-idle", "2"])
        #expect(survivor.status == 0, "\(survivor.stderr)")
        var lines: [JSONValue] = []
        var byMember: [[Int64]] = []
        for file in ["a.jsonl", "b.jsonl"] {
            let text = (try? String(contentsOfFile: out.path + "/" + file, encoding: .utf8)) ?? ""
            let parsed = try text.split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
            lines += parsed
            byMember.append(parsed.compactMap { $0["position"]?.intValue })
        }
        let written = byMember.flatMap { $0 }
        // Each member writes a line once; only the batch the dead member wrote and never
        // acknowledged (at most 50 entries) is written again, by the member that claimed it.
        #expect(byMember.allSatisfy { $0.count == Set($0).count })
        #expect(written.count - Set(written).count <= 50)
        #expect(!byMember[0].isEmpty)
        var expected: [Int64] = []
        for type in ["OrderCompleted", "OrderCompensated"] {
            var after: Int64 = 0
            while true {
                let page = try await leader.call("GET", "/events?type=\(type)&after=\(after)&limit=1000").json
                expected += (page["items"]?.arrayValue ?? []).compactMap { $0["position"]?.intValue }
                guard let next = page["next"]?.intValue, next != after else { break }
                after = next
            }
        }
        #expect(!expected.isEmpty)
        #expect(Set(written) == Set(expected))
        #expect(lines.allSatisfy { ["OrderCompleted", "OrderCompensated"].contains($0["type"]?.stringValue ?? "") })
        let pending = try RedisConnection(redis.url).command(["XPENDING", "commerce:events", "data-platform"]).checked().array?.first?.integer
        #expect(pending == 0)
    }

    @Test func aTrimmedStreamMakesAReplicaReportTheGapUntilItIsRestoredFromABackup() async throws {
        let redis = try RedisServer()
        let leaderDir = ScratchDirectory(), replicaDir = ScratchDirectory(), restored = ScratchDirectory()
        let bus = ["--redis", "redis://127.0.0.1:\(redis.port)"]
        let leader = try ServerProcess(data: leaderDir.path, extra: bus)
        defer { leader.stop() }
        try await load(leader, count: 300, seed: 11)
        var replica = try ServerProcess(command: "replica", data: replicaDir.path, extra: bus)
        try await converge(replica, to: leader)
        replica.stop()
        try await load(leader, count: 300, seed: 12)
        let leaderHead = try await head(leader)
        let deadline = Date().addingTimeInterval(20)
        while try streamPositions(redis).last != UInt64(leaderHead), Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        _ = try RedisConnection(redis.url).command(["XTRIM", "commerce:events", "MAXLEN", "10"]).checked()

        replica = try ServerProcess(command: "replica", data: replicaDir.path, extra: bus)
        defer { replica.stop() }
        var health = try await replica.call("GET", "/health")
        let waitUntil = Date().addingTimeInterval(20)
        while health.status != 503, Date() < waitUntil {
            try await Task.sleep(for: .milliseconds(50))
            health = try await replica.call("GET", "/health")
        }
        #expect(health.status == 503)
        #expect(health.json["status"]?.stringValue == "gap")
        #expect(health.json["replication"]?["gap"]?.stringValue?.contains("backup") == true)
        let query = try await replica.call("GET", "/users/1/points")
        #expect(query.status == 503)
        #expect(query.json["error"]?["code"]?.stringValue == "REPLICA_GAP")
        let stats = try await runInBackground("commerce-log", ["stats", "--data", replicaDir.path])
        #expect(stats.stdout.contains("GAP"))

        // The documented way back: a backup of the leader, served as the replica's data.
        let backup = try await runInBackground("commerce-log", ["backup", "--data", leaderDir.path, restored.path + "/copy"])
        #expect(backup.status == 0, "\(backup.stderr)")
        try await load(leader, count: 100, seed: 13)
        let fresh = try ServerProcess(command: "replica", data: restored.path + "/copy", extra: bus)
        defer { fresh.stop() }
        try await converge(fresh, to: leader)
        try await expectSameAnswers([fresh], as: leader)
    }

    @Test func aReplicaPromotedToLeaderContinuesTheStreamAndTheOtherReplicaFollowsIt() async throws {
        let redis = try RedisServer()
        let leaderDir = ScratchDirectory(), standbyDir = ScratchDirectory(), otherDir = ScratchDirectory()
        let bus = ["--redis", "redis://127.0.0.1:\(redis.port)"]
        let leader = try ServerProcess(data: leaderDir.path, extra: bus)
        var standby = try ServerProcess(command: "replica", data: standbyDir.path, extra: bus)
        let other = try ServerProcess(command: "replica", data: otherDir.path, extra: bus)
        defer { leader.stop(); standby.stop(); other.stop() }
        try await load(leader, count: 400, seed: 21)
        try await converge(standby, to: leader)
        let before = try await head(leader)
        leader.stop()
        // Failover: the standby's copy is served as the leader's log (docs/scale-out.md).
        standby.stop()
        standby = try ServerProcess(data: standbyDir.path, extra: bus)
        #expect(try await head(standby) == before)
        try await load(standby, count: 400, seed: 22)
        try await converge(other, to: standby)
        try await expectSameAnswers([other], as: standby)
        let after = try await head(standby)
        let deadline = Date().addingTimeInterval(20)
        while try streamPositions(redis).last != UInt64(after), Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try streamPositions(redis) == Array(1...UInt64(after)))
        // The old leader, restarted on its own (now older) log, refuses to relay into the new history.
        let stale = try ServerProcess(data: leaderDir.path, extra: bus)
        defer { stale.stop() }
        var relay = try await stale.call("GET", "/health").json["relay"]
        let until = Date().addingTimeInterval(10)
        while relay?["lastError"]?.stringValue == nil, Date() < until {
            try await Task.sleep(for: .milliseconds(50))
            relay = try await stale.call("GET", "/health").json["relay"]
        }
        #expect(relay?["lastError"]?.stringValue?.contains("beyond this log's head") == true)
        #expect(try streamPositions(redis) == Array(1...UInt64(after)))
    }
}

import Commerce
import CommerceApp
import CommerceHTTP
import Foundation
import HTTPTypes
import Hummingbird
import LedgerJSON
import Synchronization
import Testing

/// The read-your-writes position and a replica's answers to commands, through the real router.
@Suite struct ReplicaRouteTests {
    @Test func commandAnswersCarryTheirLogPositionAndQueriesWaitForOne() async throws {
        let harness = try APIHarness(positionWait: .milliseconds(300))
        try await harness.run { client in
            let charged = try await client.post("/users/1/points/charge", #"{"amount":10000}"#)
            #expect(charged.json["position"]?.intValue == 1)
            #expect(charged.headers[HTTPField.Name("Ledger-Position")!] == "1")
            let again = try await client.post("/users/1/points/charge", #"{"amount":20000}"#)
            #expect(again.json["position"]?.intValue == 2)
            // A refused command names the position it was decided at.
            let refused = try await client.post("/users/1/points/charge", #"{"amount":1}"#)
            #expect(refused.status == .badRequest || refused.status == .unprocessableContent)
            // A replay of an idempotent command names its first answer's position.
            let first = try await client.post("/users/2/points/charge", #"{"amount":10000}"#, key: "k-1")
            let replay = try await client.post("/users/2/points/charge", #"{"amount":10000}"#, key: "k-1")
            #expect(replay.json["position"] == first.json["position"])

            #expect(try await client.get("/users/1/points?atLeast=2").json["balance"]?.intValue == 30_000)
            var header = HTTPFields()
            header[HTTPField.Name("Ledger-Position")!] = "3"
            #expect(try await client.call(.get, "/users/1/points", headers: header).status == .ok)
            let ahead = try await client.get("/users/1/points?atLeast=50")
            #expect(ahead.status == .serviceUnavailable)
            #expect(ahead.errorCode == "POSITION_NOT_REACHED")
            #expect(ahead.headers[.retryAfter] == "1")
            for bad in ["-1", "x", "1.5", "99999999999999999999", ""] {
                let r = try await client.get("/users/1/points?atLeast=\(bad)")
                #expect(r.status == .badRequest, "atLeast=\(bad)")
                #expect(r.errorCode == "INVALID_INPUT")
            }
        }
    }

    @Test func aReplicaSendsCommandsToItsLeaderAndServesQueries() async throws {
        let report = ReplicaReport(source: "redis://127.0.0.1:6379", stream: "commerce:events", leader: "http://leader:8080")
        let harness = try APIHarness(role: .replica(leader: "http://leader:8080", report: { report }))
        _ = try harness.ledger.execute(.chargePoints(userId: 1, amount: 10_000))
        try await harness.run { client in
            let redirected = try await client.post("/users/1/points/charge?x=1", #"{"amount":10000}"#)
            #expect(redirected.status == .temporaryRedirect)
            #expect(redirected.headers[.location] == "http://leader:8080/users/1/points/charge?x=1")
            let admin = try await client.post("/admin/products", #"{"name":"Mug","price":1,"stock":1}"#, admin: true)
            #expect(admin.status == .temporaryRedirect)
            #expect(try await client.get("/users/1/points").json["balance"]?.intValue == 10_000)
            let health = try await client.get("/health")
            #expect(health.json["role"]?.stringValue == "replica")
            #expect(health.json["replication"]?["leader"]?.stringValue == "http://leader:8080")
        }
        #expect(try harness.ledger.head() == 1)
    }

    @Test func aReplicaWithoutALeaderRefusesCommandsAndOneWithAGapRefusesQueries() async throws {
        let state = Mutex(ReplicaReport(source: "redis://127.0.0.1:6379", stream: "commerce:events", leader: nil))
        let harness = try APIHarness(role: .replica(leader: nil, report: { state.withLock { $0 } }))
        try await harness.run { client in
            let refused = try await client.post("/users/1/points/charge", #"{"amount":10000}"#)
            #expect(refused.status == .misdirectedRequest)
            #expect(refused.errorCode == "NOT_LEADER")
            #expect(try await client.get("/users/1/points").status == .ok)
            state.withLock { $0.gap = "the stream no longer holds event 51: restore the replica from a backup of the leader" }
            let query = try await client.get("/users/1/points")
            #expect(query.status == .serviceUnavailable)
            #expect(query.errorCode == "REPLICA_GAP")
            let health = try await client.get("/health")
            #expect(health.status == .serviceUnavailable)
            #expect(health.json["status"]?.stringValue == "gap")
            #expect(try await client.get("/metrics").status == .ok)
        }
        #expect(try harness.ledger.head() == 0)
    }
}

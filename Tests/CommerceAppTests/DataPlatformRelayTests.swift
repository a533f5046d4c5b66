import Commerce
@testable import CommerceApp
import Foundation
import LedgerJSON
import Testing

@Suite struct DataPlatformRelayTests {
    @Test func ordersReachTheSinkOnceInLogOrderAndRebuildsLeaveTheCheckpoint() throws {
        let dir = TemporaryDirectory()
        let file = dir.path + "/platform.jsonl"
        let ledger = try openLedger(dir)
        try ledger.registerProduct()
        try ledger.charge(1, 100_000)
        for _ in 0..<3 { _ = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: nil)) }
        _ = try ledger.execute(.placeOrder(userId: 2, items: [.init(productId: 1, quantity: 1)], couponId: nil))  // fails: not relayed
        _ = try ledger.execute(.compensateOrder(orderId: 1, reason: "cancel"))
        let relay = DataPlatformRelay(ledger: ledger, sink: try FileDataPlatformSink(path: file))
        #expect(try relay.relayOnce(batchSize: 3) == 4)
        #expect(try relay.relayOnce() == 0)
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0)) }
        #expect(lines.compactMap { $0["type"]?.stringValue } == ["OrderCompleted", "OrderCompleted", "OrderCompleted", "OrderCompensated"])
        let positions = lines.compactMap { $0["position"]?.intValue }
        #expect(positions == positions.sorted())
        #expect(lines.first?["data"]?["orderId"] == .int(1))
        let checkpoint = try ledger.subscriberStatus().subscribers.first { $0.name == DataPlatformRelay.checkpointName }?.checkpoint
        #expect(checkpoint == (try ledger.head()))
        // A rebuild replays projections only: the relay's checkpoint stays where it was.
        _ = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: nil))
        _ = try ledger.rebuildProjections()
        #expect(try ledger.subscriberStatus().subscribers.first { $0.name == DataPlatformRelay.checkpointName }?.checkpoint == checkpoint)
        // A new relay (as after a restart) sends only what is new.
        let again = DataPlatformRelay(ledger: ledger, sink: try FileDataPlatformSink(path: file))
        #expect(try again.relayOnce() == 1)
        #expect(try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").count == 5)
    }
}

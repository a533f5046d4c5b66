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

    /// A crash in the middle of a delivery leaves a torn last line and a checkpoint that never
    /// moved: the next relay cuts the torn line off and sends its message again, so the file ends
    /// up exactly as an uninterrupted relay writes it.
    @Test func aTornLastLineIsReplacedNotGluedTo() throws {
        func orders(_ dir: TemporaryDirectory) throws -> Ledger {
            let ledger = try openLedger(dir, clock: ManualClock(testEpoch))
            try ledger.registerProduct()
            try ledger.charge(1, 100_000)
            for _ in 0..<3 { _ = try ledger.execute(.placeOrder(userId: 1, items: [.init(productId: 1, quantity: 1)], couponId: nil)) }
            _ = try ledger.execute(.compensateOrder(orderId: 2, reason: "cancel"))
            return ledger
        }
        let whole = TemporaryDirectory(), torn = TemporaryDirectory()
        let wholeFile = whole.path + "/platform.jsonl", tornFile = torn.path + "/platform.jsonl"
        #expect(try DataPlatformRelay(ledger: try orders(whole), sink: try FileDataPlatformSink(path: wholeFile)).relayOnce() == 4)
        let expected = try Data(contentsOf: URL(fileURLWithPath: wholeFile))
        let lines = expected.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        #expect(lines.count == 5 && lines[4].isEmpty)
        // Two lines delivered, the third cut in the middle; the checkpoint of that ledger is still 0.
        var written = Data(lines[0]) + Data("\n".utf8) + Data(lines[1]) + Data("\n".utf8)
        written += Data(lines[2].prefix(40))
        try written.write(to: URL(fileURLWithPath: tornFile))
        let sink = try FileDataPlatformSink(path: tornFile)
        #expect(try sink.lastDeliveredPosition() == (try JSONParser.parse(Array(lines[1])))["position"]?.intValue.map(UInt64.init))
        #expect(try DataPlatformRelay(ledger: try orders(torn), sink: sink).relayOnce() == 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: tornFile)) == expected)
        // A file without a single complete line starts over from nothing.
        try Data("{\"position\":".utf8).write(to: URL(fileURLWithPath: tornFile))
        _ = try FileDataPlatformSink(path: tornFile)
        #expect(try Data(contentsOf: URL(fileURLWithPath: tornFile)).isEmpty)
    }

    /// A delivery that runs out of disk part-way leaves the file as it was, so the retry, once
    /// there is room, writes whole lines only.
    /// A device is written to, never cut or read: /dev/null takes every delivery.
    @Test func aDeviceIsOnlyWrittenTo() throws {
        let sink = try FileDataPlatformSink(path: "/dev/null")
        try sink.deliver([.object([("position", .int(1))])])
        #expect(try sink.lastDeliveredPosition() == nil)
        #expect((try FileManager.default.attributesOfItem(atPath: "/dev/null")[.type] as? FileAttributeType) == .typeCharacterSpecial)
    }

    @Test func aDeliveryCutShortByAFullDiskLeavesNoHalfLine() throws {
        let dir = TemporaryDirectory()
        guard let disk = FullFilesystem(at: dir.path) else { return }
        disk.makeRoom()
        let file = dir.path + "/platform.jsonl"
        let sink = try FileDataPlatformSink(path: file)
        try sink.deliver([.object([("position", .int(1))])])
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        disk.fill(leaving: 8192)  // room for part of the batch only
        let batch = (2...60).map { JSONValue.object([("position", .int(Int64($0))), ("pad", .string(String(repeating: "x", count: 400)))]) }
        #expect(throws: (any Error).self) { try sink.deliver(batch) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before)
        disk.makeRoom()
        try sink.deliver(batch)
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0)) }
        #expect(lines.compactMap { $0["position"]?.intValue } == Array(1...60))
    }
}

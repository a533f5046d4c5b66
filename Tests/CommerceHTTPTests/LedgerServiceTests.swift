import Commerce
import CommerceApp
import CommerceHTTP
import Foundation
import Logging
import ServiceLifecycle
import Testing

@Suite struct LedgerServiceTests {
    /// The server's service expires old idempotency keys on its own, and answers every queued
    /// command before it stops.
    @Test func theServiceExpiresOldKeysWhileItRuns() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("service-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = ManualClock(apiEpoch)
        let ledger = try Ledger(configuration: LedgerConfiguration(dataDirectory: dir, environment: .init(mapSize: 16 << 20)), clock: clock)
        for i in 1...20 as ClosedRange<Int64> { _ = try ledger.execute(.chargePoints(userId: i, amount: 10_000), idempotencyKey: "key-\(i)") }
        let headBefore = try ledger.head()
        clock.advance(by: LedgerConfiguration.defaultIdempotencyRetention + 3_600_000)  // and the clock slack
        let writer = LedgerWriter(ledger: ledger)
        let logger = Logger(label: "test")
        let service = LedgerService(writer: writer, checkpointInterval: .milliseconds(50), keyExpiryInterval: .milliseconds(20), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        let running = Task { try await group.run() }
        var waited = 0
        while try ledger.head() == headBefore, waited < 500 { try await Task.sleep(for: .milliseconds(10)); waited += 1 }
        let retry = try await writer.submit(.chargePoints(userId: 1, amount: 10_000), idempotencyKey: "key-1")
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(try ledger.head() == headBefore + 2, "one expiry record, then the charge")
        #expect(!retry.replayed)
        #expect(try ledger.balance(of: 1) == 20_000)
        #expect(try ledger.verifyProjections().isEmpty)
    }
}

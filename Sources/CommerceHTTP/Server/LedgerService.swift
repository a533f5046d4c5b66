import CommerceApp
import Logging
import ServiceLifecycle

/// Runs the writer and the coupon issuance processor for the server's lifetime. On graceful
/// shutdown (after the HTTP server has stopped taking requests) it answers every queued command,
/// stops the processor and lets the environment close.
public struct LedgerService: Service {
    let writer: LedgerWriter
    let relay: DataPlatformRelay?
    let logger: Logger

    public init(writer: LedgerWriter, relay: DataPlatformRelay? = nil, logger: Logger) {
        self.writer = writer
        self.relay = relay
        self.logger = logger
    }

    public func run() async throws {
        writer.start()
        let processor = Task { await CouponIssuanceProcessor(writer: writer).run() }
        let relaying = relay.map { relay in Task { await relay.run() } }
        try? await gracefulShutdown()
        processor.cancel()
        relaying?.cancel()
        _ = await processor.value
        _ = await relaying?.value
        writer.stop()
        logger.info("ledger writer stopped; every queued command answered")
    }
}

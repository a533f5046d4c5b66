import CommerceApp
import Logging
import ServiceLifecycle

/// Runs the writer and the coupon issuance processor for the server's lifetime. On graceful
/// shutdown (after the HTTP server has stopped taking requests) it answers every queued command,
/// stops the processor and lets the environment close.
public struct LedgerService: Service {
    let writer: LedgerWriter
    let logger: Logger

    public init(writer: LedgerWriter, logger: Logger) {
        self.writer = writer
        self.logger = logger
    }

    public func run() async throws {
        writer.start()
        let processor = Task { await CouponIssuanceProcessor(writer: writer).run() }
        try? await gracefulShutdown()
        processor.cancel()
        _ = await processor.value
        writer.stop()
        logger.info("ledger writer stopped; every queued command answered")
    }
}

import CommerceApp
import Logging
import ServiceLifecycle

/// Runs the writer, the coupon issuance processor, the outbox relay and the views' background
/// checkpoint for the server's lifetime. On graceful shutdown (after the HTTP server has stopped
/// taking requests) it answers every queued command, stops the others and syncs the views.
public struct LedgerService: Service {
    let writer: LedgerWriter
    let relay: DataPlatformRelay?
    let logger: Logger

    let checkpointInterval: Duration

    public init(writer: LedgerWriter, relay: DataPlatformRelay? = nil, checkpointInterval: Duration = .seconds(1), logger: Logger) {
        self.writer = writer
        self.relay = relay
        self.checkpointInterval = checkpointInterval
        self.logger = logger
    }

    public func run() async throws {
        writer.start()
        let ledger = writer.ledger
        let processor = Task { await CouponIssuanceProcessor(writer: writer).run() }
        let relaying = relay.map { relay in Task { await relay.run() } }
        // The views are committed without a sync; this bounds how much a sync has to catch up on,
        // and clears the marker that would make a power loss rebuild them.
        let checkpointing = Task { [checkpointInterval, logger] in
            while !Task.isCancelled {
                try? await Task.sleep(for: checkpointInterval)
                do { try ledger.checkpointViews() } catch { logger.warning("views checkpoint failed: \(error)") }
            }
        }
        try? await gracefulShutdown()
        processor.cancel()
        relaying?.cancel()
        checkpointing.cancel()
        _ = await processor.value
        _ = await relaying?.value
        _ = await checkpointing.value
        writer.stop()
        do {
            try ledger.checkpointViews()
            logger.info("ledger writer stopped; every queued command answered; views synced")
        } catch {
            logger.warning("ledger writer stopped; every queued command answered; the views could not be synced (\(error)): the next start after a power loss rebuilds them")
        }
    }
}

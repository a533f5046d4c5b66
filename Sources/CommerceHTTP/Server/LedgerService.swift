import CommerceApp
import Logging
import ServiceLifecycle

/// Runs the writer, the coupon issuance processor, the outbox relay, the views' background
/// checkpoint and the expiry of old idempotency keys for the server's lifetime. On graceful shutdown (after the HTTP server has stopped
/// taking requests) it answers every queued command, stops the others and syncs the views.
public struct LedgerService: Service {
    let writer: LedgerWriter
    let relay: DataPlatformRelay?
    let logger: Logger

    let checkpointInterval: Duration
    let keyExpiryInterval: Duration

    public init(writer: LedgerWriter, relay: DataPlatformRelay? = nil, checkpointInterval: Duration = .seconds(1),
                keyExpiryInterval: Duration = .seconds(60), logger: Logger) {
        self.writer = writer
        self.relay = relay
        self.checkpointInterval = checkpointInterval
        self.keyExpiryInterval = keyExpiryInterval
        self.logger = logger
    }

    public func run() async throws {
        writer.start()
        let ledger = writer.ledger
        let processor = Task { await CouponIssuanceProcessor(writer: writer).run() }
        let relaying = relay.map { relay in Task { await relay.run() } }
        let checkpointing = Task { [checkpointInterval, logger] in await ViewCheckpoints.keepSynced(ledger, every: checkpointInterval, logger: logger) }
        // Keys past their retention no longer answer retries; this takes their rows away, a
        // thousand per log record (a short hold of the writer each).
        let expiring = Task { [writer, keyExpiryInterval, logger] in
            while !Task.isCancelled {
                do {
                    while try await writer.expireIdempotencyKeys() > 0, !Task.isCancelled {}
                } catch LedgerError.readOnly {
                    return
                } catch {
                    logger.warning("expiring idempotency keys failed: \(error)")
                }
                try? await Task.sleep(for: keyExpiryInterval)
            }
        }
        try? await gracefulShutdown()
        expiring.cancel()
        _ = await expiring.value
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

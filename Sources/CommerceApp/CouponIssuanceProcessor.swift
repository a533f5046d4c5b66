import Commerce
import EventLog

/// Follows the log and hands queued coupon requests to the writer, which decides them in log
/// order and moves the processor's durable checkpoint with the decisions. After a restart it
/// resumes from that checkpoint, so pending requests are never lost or decided twice.
public final class CouponIssuanceProcessor: Sendable {
    let writer: LedgerWriter
    let pollInterval: Duration

    public init(writer: LedgerWriter, pollInterval: Duration = .milliseconds(100)) {
        self.writer = writer
        self.pollInterval = pollInterval
    }

    /// Runs until the task is cancelled.
    public func run() async {
        let ledger = writer.ledger
        // Everything up to the durable checkpoint is decided; scanning restarts there.
        var scanned = (try? ledger.checkpoint(Ledger.issuerCheckpoint)) ?? 0
        var checkpoint = scanned
        var advanced = ContinuousClock.now - .seconds(1)
        while !Task.isCancelled {
            do {
                // Look for requests without holding the writer; only queue work when there is some.
                let after = scanned
                let head = try ledger.head()
                var found = false
                try ledger.forEachEvent(after: after) { record in
                    guard record.position <= head else { return false }
                    found = record.type == CouponIssueRequested.type
                    return !found
                }
                if found {
                    try await writer.processIssueRequests(through: head)
                    checkpoint = head
                } else if head > checkpoint, ContinuousClock.now - advanced >= .seconds(1) || head - checkpoint >= 10_000 {
                    // Nothing to decide up to the head: say so, so that the lag reads 0 once all is
                    // decided. At most once a second under load: it takes the views' writer.
                    try ledger.advanceCheckpoint(Ledger.issuerCheckpoint, to: head)
                    checkpoint = head
                    advanced = .now
                }
                scanned = head
                await ledger.log.notifier.wait(above: head, timeout: pollInterval)
            } catch {
                try? await Task.sleep(for: pollInterval)
            }
        }
    }
}

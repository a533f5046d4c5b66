import CommerceApp
import Logging

/// The views are committed without a sync; syncing them every `interval` bounds how much a sync
/// has to catch up on, and clears the marker that would make a power loss rebuild them. Used by
/// the leader's service and by a read replica.
public enum ViewCheckpoints {
    /// Syncs the views every `interval` until the task is cancelled.
    public static func keepSynced(_ ledger: Ledger, every interval: Duration, logger: Logger) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            do { try ledger.checkpointViews() } catch { logger.warning("views checkpoint failed: \(error)") }
        }
    }
}

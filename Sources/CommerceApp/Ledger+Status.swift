import BinaryCodec
import Commerce
import EventLog
import LMDB

extension Ledger {
    public struct SubscriberStatus: Sendable {
        public let name: String
        public let checkpoint: UInt64
        public let lagEvents: UInt64
        /// How far the checkpoint's event is behind the head's, in seconds.
        public let lagSeconds: Double
        /// A checkpoint past the head, as after restoring an older backup.
        public var isAheadOfHead: Bool { checkpoint > headPosition }
        let headPosition: UInt64
    }

    public struct Status: Sendable {
        public let head: UInt64
        public let headTimestamp: Timestamp?
        public let subscribers: [SubscriberStatus]
        public let projections: [(name: String, position: UInt64)]
    }

    /// Head, subscriber checkpoints and projection positions. The views are read first, so every
    /// position they name is at or below the head read after them.
    public func subscriberStatus() throws -> Status {
        let (checkpoints, position) = try views.environment.read { v in
            (try views.checkpoints.all(in: v), try views.position(in: v).position)
        }
        return try log.environment.read { txn in
            let head = try log.head(in: txn)
            let headTime = try log.event(at: head, in: txn)?.timestamp
            let subscribers = try checkpoints.map { c -> SubscriberStatus in
                let at = c.position > 0 && c.position <= head ? try log.event(at: c.position, in: txn)?.timestamp : nil
                let lagSeconds = headTime.map { h in Double(h - (at ?? h)) / 1000 } ?? 0
                return SubscriberStatus(name: c.name, checkpoint: c.position, lagEvents: head > c.position ? head - c.position : 0,
                                        lagSeconds: max(0, lagSeconds), headPosition: head)
            }
            return Status(head: head, headTimestamp: headTime, subscribers: subscribers,
                          projections: projections.all.map { ($0.name, position) })
        }
    }
}

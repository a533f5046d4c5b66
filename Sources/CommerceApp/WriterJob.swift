import Commerce

/// What the writer answers for one command.
public struct CommandOutcome: Sendable, Equatable {
    public let result: CommandResult
    /// True when an idempotency key matched an earlier command: nothing new was appended.
    public let replayed: Bool
    /// Positions of the events this command appended (the first command's, for a replay).
    public let firstPosition: UInt64
    public let eventCount: Int

    /// The position of the command's last event; for one that appended nothing, the head it was decided at.
    public var logPosition: UInt64 { eventCount > 0 ? firstPosition + UInt64(eventCount) - 1 : firstPosition }
}

/// One unit of work queued for the single writer.
final class WriterJob: @unchecked Sendable {
    enum Kind {
        case command(CommerceCommand, idempotencyKey: String?)
        /// Run the coupon issuance processor over requests logged up to `through`.
        case processIssueRequests(through: UInt64)
        /// Remove up to `limit` idempotency keys older than the retention (one log record).
        case expireIdempotencyKeys(limit: Int)
    }

    enum Output {
        case command(CommandOutcome)
        case processed(requests: Int)
        case expired(keys: Int)
    }

    let kind: Kind
    /// Set by the writer thread while the batch runs; read after the commit.
    var outcome: Result<Output, Error>?
    var continuation: UnsafeContinuation<Output, Error>?
    let enqueuedAt: ContinuousClock.Instant

    init(_ kind: Kind) {
        self.kind = kind
        enqueuedAt = .now
    }
}

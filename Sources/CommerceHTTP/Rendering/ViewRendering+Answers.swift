import Commerce
import CommerceApp
import LedgerJSON

/// A command's answer as every adapter shows it: the HTTP API sends it with a status, the CLI
/// prints it, and both render the same JSON from the same outcome.
public enum CommandAnswer: Sendable {
    public enum Kind: Sendable {
        /// Something new was made (201).
        case created
        /// Something existing changed (200).
        case changed
        /// The request is queued and decided later (202).
        case accepted
    }

    case success(Kind, JSONValue)
    /// A durable refusal (an `OrderFailed`): an error to the caller, with what was recorded.
    case refused(CommerceError, details: [(String, JSONValue)])
}

extension ViewRendering {
    /// The answer to `command`'s outcome; `now` judges a coupon's status.
    /// A success's body ends with `position`, the log position the answer reflects: sent back as
    /// `atLeast`, it makes a read replica answer with this command's effect.
    public func answer(to command: CommerceCommand, _ outcome: CommandOutcome, now: Timestamp) -> CommandAnswer {
        switch answerBody(to: command, outcome, now: now) {
        case let .success(kind, .object(fields)):
            return .success(kind, .object(fields + [("position", .int(Int64(outcome.logPosition)))]))
        case let other:
            return other
        }
    }

    private func answerBody(to command: CommerceCommand, _ outcome: CommandOutcome, now: Timestamp) -> CommandAnswer {
        switch outcome.result {
        case let .pointsCharged(user, balance):
            return .success(.changed, .object([("userId", .int(user)), ("balance", .int(balance))]))
        case let .product(p):
            if case .restockProduct = command { return .success(.changed, product(p)) }
            return .success(.created, product(p))
        case let .coupon(c):
            return .success(.created, coupon(c))
        case let .couponIssued(u):
            return .success(.created, issued(u, status: u.status(at: now)))
        case let .couponIssueRequested(r):
            return .success(.accepted, request(r))
        case let .orderCompleted(o):
            return .success(.created, order(o))
        case let .orderCompensated(o):
            return .success(.changed, order(o))
        case let .orderFailed(orderId, reason, step, message):
            return .refused(CommerceError(reason, message), details: [("orderId", .int(orderId)), ("step", .string(step.rawValue))])
        }
    }
}

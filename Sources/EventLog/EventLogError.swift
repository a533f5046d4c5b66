import BinaryCodec

public enum EventLogError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The stream moved on since the caller decided: decide again on fresh state.
    case wrongExpectedVersion(stream: String, expected: ExpectedVersion, actual: UInt64)
    /// A stored record fails its checksum or cannot be parsed.
    case corruptRecord(position: UInt64, reason: String)
    case invalidStreamName(String)
    case invalidIdempotencyKey(String)
    /// A copied record does not continue the target log (see `Appender.appendCopy`).
    case copyOutOfOrder(position: UInt64, reason: String)
    /// The log on disk is not the one the caller continues (its identity differs).
    case otherLog(expected: [UInt8], found: [UInt8])

    public var description: String {
        switch self {
        case let .wrongExpectedVersion(stream, expected, actual):
            return "stream \(stream) is at version \(actual), expected \(expected)"
        case let .corruptRecord(position, reason):
            return "record at position \(position) is corrupt: \(reason)"
        case let .invalidStreamName(name):
            return "invalid stream name \(name.debugDescription)"
        case let .invalidIdempotencyKey(key):
            return "an idempotency key must be 1 to \(EventLog.maxIdempotencyKeyLength) bytes, got \(key.utf8.count)"
        case let .copyOutOfOrder(position, reason):
            return "event \(position): \(reason)"
        case let .otherLog(expected, found):
            return "the log here is \(Hex.encode(found)), not \(Hex.encode(expected)): it is a copy of another ledger"
        }
    }
}

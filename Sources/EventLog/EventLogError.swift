public enum EventLogError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The stream moved on since the caller decided: decide again on fresh state.
    case wrongExpectedVersion(stream: String, expected: ExpectedVersion, actual: UInt64)
    /// A stored record fails its checksum or cannot be parsed.
    case corruptRecord(position: UInt64, reason: String)
    case invalidStreamName(String)

    public var description: String {
        switch self {
        case let .wrongExpectedVersion(stream, expected, actual):
            return "stream \(stream) is at version \(actual), expected \(expected)"
        case let .corruptRecord(position, reason):
            return "record at position \(position) is corrupt: \(reason)"
        case let .invalidStreamName(name):
            return "invalid stream name \(name.debugDescription)"
        }
    }
}

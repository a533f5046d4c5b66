/// What went wrong talking to Redis, with Redis's or hiredis's own message.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connection could not be made or was lost (I/O error, EOF, timeout, protocol error):
    /// the connection is unusable and must be made again.
    case connection(String)
    /// Redis answered the command with an error reply; the connection is fine.
    case refused(String)
    /// A URL that does not name a Redis server.
    case invalidURL(String)
    /// A reply that does not have the shape the command promises.
    case unexpectedReply(String)

    public var description: String {
        switch self {
        case let .connection(m): "Redis connection: \(m)"
        case let .refused(m): "Redis refused: \(m)"
        case let .invalidURL(m): "invalid Redis URL: \(m)"
        case let .unexpectedReply(m): "unexpected Redis reply: \(m)"
        }
    }
}

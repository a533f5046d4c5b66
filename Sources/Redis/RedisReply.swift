/// One reply of Redis, copied out of hiredis's reply object.
public enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    /// An error reply: the command was refused, the connection is fine.
    case error(String)

    public var text: String? {
        switch self {
        case let .string(bytes): String(decoding: bytes, as: UTF8.self)
        case let .status(s): s
        case let .integer(i): String(i)
        default: nil
        }
    }

    public var bytes: [UInt8]? {
        if case let .string(b) = self { return b }
        return nil
    }

    public var integer: Int64? {
        switch self {
        case let .integer(i): i
        case let .string(b): Int64(String(decoding: b, as: UTF8.self))
        default: nil
        }
    }

    public var array: [RedisReply]? {
        if case let .array(a) = self { return a }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// The reply, or the Redis error it carries as a thrown `RedisError.refused`.
    public func checked() throws -> RedisReply {
        if case let .error(message) = self { throw RedisError.refused(message) }
        return self
    }

    /// A flat array of alternating names and values (HGETALL, XINFO, stream entry fields) as a dictionary.
    public var pairs: [String: RedisReply] {
        guard let items = array else { return [:] }
        var out: [String: RedisReply] = [:]
        var i = 0
        while i + 1 < items.count {
            if let name = items[i].text { out[name] = items[i + 1] }
            i += 2
        }
        return out
    }
}

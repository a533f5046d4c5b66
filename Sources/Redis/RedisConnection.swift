import CHiredis
import Foundation

/// One blocking connection to Redis through hiredis. Not shared between threads: each relay,
/// follower or consumer owns its own and uses it from one thread at a time.
///
/// After a `RedisError.connection` the connection is dead; make a new one.
public final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?
    public let url: RedisURL
    /// Replies appended with `append` and not yet read.
    public private(set) var pending = 0

    /// Connects (and authenticates and selects the database the URL names). `timeout` bounds the
    /// connect and, afterwards, every read and write on the socket.
    public init(_ url: RedisURL, timeout: Duration = .seconds(5)) throws {
        self.url = url
        guard let context = redisConnectWithTimeout(url.host, Int32(url.port), Self.timeval(timeout)) else {
            throw RedisError.connection("cannot allocate a hiredis context")
        }
        self.context = context
        if context.pointee.err != 0 {
            let message = Self.message(of: context)
            redisFree(context)
            self.context = nil
            throw RedisError.connection("\(url): \(message)")
        }
        redisSetTimeout(context, Self.timeval(timeout))
        if let password = url.password {
            let args = url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            _ = try command(args).checked()
        }
        if url.database != 0 { _ = try command(["SELECT", String(url.database)]).checked() }
    }

    deinit { close() }

    public func close() {
        if let context { redisFree(context) }
        context = nil
    }

    public var isOpen: Bool { context != nil }

    /// Sends one command and waits for its reply. An error reply is returned, not thrown
    /// (`checked()` throws it); a lost connection is thrown.
    public func command(_ args: [String]) throws -> RedisReply {
        try command(args.map { Array($0.utf8) })
    }

    public func command(_ args: [[UInt8]]) throws -> RedisReply {
        precondition(pending == 0, "read the pipelined replies before sending a plain command")
        try append(args)
        return try reply()
    }

    /// Queues a command for a pipeline; `reply()` reads the replies in order. Nothing is sent until
    /// the first `reply()` (or `flush()`), so a batch goes out in as few writes as the socket takes.
    public func append(_ args: [String]) throws {
        try append(args.map { Array($0.utf8) })
    }

    public func append(_ args: [[UInt8]]) throws {
        guard let context else { throw RedisError.connection("closed") }
        let status: Int32 = withArgv(args) { argc, argv, lengths in
            redisAppendCommandArgv(context, argc, argv, lengths)
        }
        guard status == REDIS_OK else { throw fail() }
        pending += 1
    }

    /// Queues every command of `buffer` for a pipeline at once; read their replies with `reply()`.
    public func append(_ buffer: CommandBuffer) throws {
        precondition(buffer.isComplete, "a command of the buffer lacks arguments")
        guard buffer.count > 0 else { return }
        guard let context else { throw RedisError.connection("closed") }
        let status = buffer.bytes.withUnsafeBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        guard status == REDIS_OK else { throw fail() }
        pending += buffer.count
    }

    /// Sends what is queued now, without waiting for replies: Redis works on it while the caller
    /// does something else before its `reply()` calls.
    public func flush() throws {
        guard let context else { throw RedisError.connection("closed") }
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw fail() }
        }
    }

    /// The next reply of the pipeline (the one of the oldest command not yet answered).
    public func reply() throws -> RedisReply {
        try nextReply { Self.copy($0) }
    }

    /// Reads the next reply of the pipeline and hands it to `body` before hiredis frees it.
    private func nextReply<T>(_ body: (UnsafeMutablePointer<redisReply>) -> T) throws -> T {
        guard let context else { throw RedisError.connection("closed") }
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw fail() }
        pending -= 1
        defer { freeReplyObject(raw) }
        return body(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// What a reply was, for the replies of a large batch whose values are not needed.
    public enum ReplyStatus: Equatable, Sendable {
        case null
        /// An error reply, with Redis's message.
        case error(String)
        /// An array (an EXEC's results) with an error among its elements: the first one's message.
        case elementError(String)
        case fine
    }

    /// Reads the next reply of the pipeline without copying its values out.
    public func replyStatus() throws -> ReplyStatus {
        try nextReply { pointer in
            let reply = pointer.pointee
            switch reply.type {
            case REDIS_REPLY_NIL:
                return .null
            case REDIS_REPLY_ERROR:
                return .error(Self.text(reply))
            case REDIS_REPLY_ARRAY:
                guard let elements = reply.element else { return .fine }
                for i in 0..<Int(reply.elements) {
                    if let e = elements[i], e.pointee.type == REDIS_REPLY_ERROR { return .elementError(Self.text(e.pointee)) }
                }
                return .fine
            default:
                return .fine
            }
        }
    }

    private func fail() -> RedisError {
        let message = context.map { Self.message(of: $0) } ?? "closed"
        close()
        pending = 0
        return .connection("\(url): \(message)")
    }

    private func withArgv<R>(_ args: [[UInt8]], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        // One buffer holds every argument; hiredis copies them into its output buffer at once.
        var offsets: [Int] = []
        offsets.reserveCapacity(args.count)
        var storage: [UInt8] = []
        storage.reserveCapacity(args.reduce(0) { $0 + $1.count } + 1)
        for arg in args {
            offsets.append(storage.count)
            storage.append(contentsOf: arg)
        }
        storage.append(0)
        let lengths = args.map(\.count)
        return storage.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return argv.withUnsafeMutableBufferPointer { argvBuffer in
                lengths.withUnsafeBufferPointer { body(Int32(args.count), argvBuffer.baseAddress!, $0.baseAddress!) }
            }
        }
    }

    /// A status's or an error's text.
    private static func text(_ r: redisReply) -> String {
        r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: Int(r.len)), as: UTF8.self) } ?? ""
    }

    private static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .string(r.str.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(r.len))) } ?? [])
        case REDIS_REPLY_STATUS:
            return .status(text(r))
        case REDIS_REPLY_ERROR:
            return .error(text(r))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            guard let elements = r.element else { return .array([]) }
            return .array((0..<Int(r.elements)).map { i in elements[i].map(copy) ?? .null })
        default:
            return .null
        }
    }

    private static func message(of context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return bytes.isEmpty ? "error \(context.pointee.err)" : String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func timeval(_ d: Duration) -> timeval {
        let (seconds, attoseconds) = d.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}

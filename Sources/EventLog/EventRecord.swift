/// One stored event: the envelope the log adds, and the payload the domain encoded.
public struct EventRecord: Sendable, Equatable {
    /// Gapless, strictly increasing, starting at 1.
    public let position: UInt64
    public let stream: String
    /// 1 for the first event of a stream, then +1.
    public let streamVersion: UInt64
    public let type: String
    /// Version of the payload's encoding, so later code can read (upcast) older events.
    public let schemaVersion: UInt16
    /// Milliseconds since 1970-01-01T00:00:00Z, from the writer's injectable clock.
    public let timestamp: Int64
    /// The command that produced this event (correlation id); all events of one command share it.
    public let commandId: UInt64
    public let idempotencyKey: String?
    /// On the first event of a command sent with an idempotency key: the command's canonical
    /// bytes, so that a retry can be told from a reuse of the key by the log alone.
    public let commandFingerprint: [UInt8]?
    public let payload: [UInt8]

    public init(
        position: UInt64, stream: String, streamVersion: UInt64, type: String, schemaVersion: UInt16,
        timestamp: Int64, commandId: UInt64, idempotencyKey: String?, commandFingerprint: [UInt8]? = nil, payload: [UInt8]
    ) {
        self.position = position
        self.stream = stream
        self.streamVersion = streamVersion
        self.type = type
        self.schemaVersion = schemaVersion
        self.timestamp = timestamp
        self.commandId = commandId
        self.idempotencyKey = idempotencyKey
        self.commandFingerprint = commandFingerprint
        self.payload = payload
    }
}

/// An event to append: the log assigns position and stream version.
public struct NewEvent: Sendable, Equatable {
    public let stream: String
    public let type: String
    public let schemaVersion: UInt16
    public let payload: [UInt8]

    public init(stream: String, type: String, schemaVersion: UInt16, payload: [UInt8]) {
        self.stream = stream
        self.type = type
        self.schemaVersion = schemaVersion
        self.payload = payload
    }
}

/// What the appender believed about a stream when it decided (optimistic concurrency).
public enum ExpectedVersion: Sendable, Equatable {
    case any
    case noStream
    case exactly(UInt64)
}

/// Fields shared by every event of one append.
public struct AppendMetadata: Sendable {
    public var timestamp: Int64
    public var commandId: UInt64
    public var idempotencyKey: String?
    /// Stored on the first event only (see `EventRecord.commandFingerprint`).
    public var commandFingerprint: [UInt8]?

    public init(timestamp: Int64, commandId: UInt64, idempotencyKey: String? = nil, commandFingerprint: [UInt8]? = nil) {
        self.timestamp = timestamp
        self.commandId = commandId
        self.idempotencyKey = idempotencyKey
        self.commandFingerprint = commandFingerprint
    }
}

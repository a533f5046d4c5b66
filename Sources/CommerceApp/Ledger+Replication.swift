import EventLog

/// Copying the log byte for byte to another machine (the relay reads, a replica appends), for the
/// bus adapters: they go through these, never through the storage itself.
extension Ledger {
    /// The random bytes this ledger's log was made with; a replica's log carries its leader's.
    public var logIdentity: [UInt8] { log.identity }

    /// `waitForHead(above:timeout:)` for a thread of its own (a relay blocked in a C client).
    public func waitForHeadBlocking(above position: UInt64, timeout: Duration) {
        log.notifier.waitBlocking(above: position, timeout: timeout)
    }

    /// Up to `limit` records after `position` as the log stores them (checksum included).
    public func storedEvents(after position: UInt64, limit: Int) throws -> [(position: UInt64, bytes: [UInt8])] {
        try log.environment.read { try log.storedRecords(after: position, limit: limit, in: $0) }
    }

    /// The checksum of the record at `position`, nil when the log does not hold it.
    public func checksum(at position: UInt64) throws -> UInt32? {
        try log.environment.read { try log.checksum(at: position, in: $0) }
    }

    /// Appends records copied from the leader's log (as `storedEvents` gave them, continuing this
    /// log's head without a gap), folds them into the views, and only then wakes this process's
    /// subscribers: a query that waited for a position sees it folded. Returns the new head.
    @discardableResult
    public func replicate(_ stored: [(position: UInt64, bytes: [UInt8])]) throws -> UInt64 {
        // Views behind the log (a crash between the two writes) are folded first, so the stream
        // index the copy's versions are checked against is current.
        try catchUpViews()
        guard !stored.isEmpty else { return try head() }
        let records = try stored.map { try EventLog.decodeStored(position: $0.position, $0.bytes) }
        let streams = Set(records.map(\.stream))
        let versions: [String: UInt64] = try views.read { txn, tables in
            var out: [String: UInt64] = [:]
            for stream in streams { out[stream] = try tables.streams.version(of: stream, in: txn) }
            return out
        }
        var importer = try EventLog.Importer(continuing: log, storedVersion: { versions[$0] ?? 0 }, publishes: false)
        try importer.append(records, stored: stored.map(\.bytes))
        try catchUpViews()
        log.notifier.publish(head: importer.position)
        return importer.position
    }
}

/// How far the relay to a message bus has published, for `/health` and the dashboard.
public struct RelayReport: Sendable {
    public var target: String
    public var stream: String
    public var connected: Bool
    /// The last position the bus confirmed holding.
    public var position: UInt64
    public var lastError: String?

    public init(target: String, stream: String, connected: Bool = false, position: UInt64 = 0, lastError: String? = nil) {
        self.target = target
        self.stream = stream
        self.connected = connected
        self.position = position
        self.lastError = lastError
    }
}

/// How far a read replica has followed its leader's stream.
public struct ReplicaReport: Sendable {
    public var source: String
    public var stream: String
    public var leader: String?
    public var connected: Bool
    /// The position this replica's log and views hold.
    public var position: UInt64
    /// The newest position the stream holds, as last seen.
    public var streamTop: UInt64
    /// Now minus the time of the oldest event the replica has not applied; 0 when current.
    public var lagSeconds: Double
    /// Set when the stream no longer holds the events after `position`: the replica cannot catch
    /// up by following and must be restored from a backup of the leader.
    public var gap: String?
    public var lastError: String?

    public var lagEvents: UInt64 { streamTop > position ? streamTop - position : 0 }

    public init(source: String, stream: String, leader: String?, connected: Bool = false, position: UInt64 = 0, streamTop: UInt64 = 0,
                lagSeconds: Double = 0, gap: String? = nil, lastError: String? = nil) {
        self.source = source
        self.stream = stream
        self.leader = leader
        self.connected = connected
        self.position = position
        self.streamTop = streamTop
        self.lagSeconds = lagSeconds
        self.gap = gap
        self.lastError = lastError
    }
}

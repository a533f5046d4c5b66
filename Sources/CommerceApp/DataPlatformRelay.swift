import Commerce
import EventLog
import Foundation
import LedgerJSON

/// Where order facts go after commit (the seed's outbox → Kafka → data platform).
public protocol DataPlatformSink: Sendable {
    /// Delivers messages in log order; returns only once they are safely handed over.
    func deliver(_ messages: [JSONValue]) throws
}

/// Appends one JSON line per message to a file and syncs it.
public final class FileDataPlatformSink: DataPlatformSink, @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    public init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw LedgerError.storeFailure("cannot create \(path)")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw LedgerError.storeFailure("cannot write \(path)") }
        try handle.seekToEnd()
        self.handle = handle
    }

    public func deliver(_ messages: [JSONValue]) throws {
        var bytes: [UInt8] = []
        for m in messages {
            m.write(into: &bytes)
            bytes.append(UInt8(ascii: "\n"))
        }
        lock.lock()
        defer { lock.unlock() }
        try handle.write(contentsOf: bytes)
        try handle.synchronize()
    }
}

/// The outbox relay: follows the log from its durable checkpoint and hands every completed and
/// compensated order to the data platform, then moves the checkpoint. Delivery is at least once
/// (a crash between delivery and checkpoint repeats a batch); each message carries its log
/// position so the receiver can drop repeats. A projection rebuild never touches this checkpoint.
public final class DataPlatformRelay: Sendable {
    public static let checkpointName = "data-platform"
    let ledger: Ledger
    let sink: any DataPlatformSink
    let pollInterval: Duration

    public init(ledger: Ledger, sink: any DataPlatformSink, pollInterval: Duration = .milliseconds(100)) {
        self.ledger = ledger
        self.sink = sink
        self.pollInterval = pollInterval
    }

    static let relayed: Set<String> = [OrderCompleted.type, OrderCompensated.type]

    /// Delivers everything up to the head once; returns how many messages went out.
    @discardableResult
    public func relayOnce(batchSize: Int = 512) throws -> Int {
        var delivered = 0
        while true {
            let (events, checkpoint) = try ledger.environment.read { txn -> ([EventRecord], UInt64) in
                let from = try ledger.log.checkpoint(Self.checkpointName, in: txn) ?? 0
                return (try ledger.log.read(after: from, limit: batchSize, in: txn), from)
            }
            guard let last = events.last else { return delivered }
            let messages = try events.filter { Self.relayed.contains($0.type) }.map { r -> JSONValue in
                let event = try CommerceEvent.decode(type: r.type, schemaVersion: r.schemaVersion, payload: r.payload)
                return .object([("position", .int(Int64(r.position))), ("type", .string(r.type)),
                                ("at", .string(ISO8601.format(r.timestamp))), ("data", event.json)])
            }
            if !messages.isEmpty { try sink.deliver(messages) }
            try ledger.environment.write { txn in
                // Another relay may have moved on meanwhile; never move the checkpoint back.
                let now = try ledger.log.checkpoint(Self.checkpointName, in: txn) ?? 0
                if now == checkpoint { try ledger.log.setCheckpoint(Self.checkpointName, to: last.position, in: txn) }
            }
            delivered += messages.count
        }
    }

    /// Runs until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            let head = ledger.log.notifier.head
            do { try relayOnce() } catch { try? await Task.sleep(for: pollInterval) }
            await ledger.log.notifier.wait(above: head, timeout: pollInterval)
        }
    }
}

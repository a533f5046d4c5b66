import Commerce
import EventLog
import Foundation
import LedgerJSON
import Synchronization

/// Where order facts go after commit (the seed's outbox → Kafka → data platform).
public protocol DataPlatformSink: Sendable {
    /// Delivers messages in log order; returns only once they are safely handed over.
    func deliver(_ messages: [JSONValue]) throws
    /// The log position of the last message the sink holds, when it can tell: the relay then
    /// never hands it anything at or before that position again, even with a lost checkpoint.
    func lastDeliveredPosition() throws -> UInt64?
}

extension DataPlatformSink {
    public func lastDeliveredPosition() throws -> UInt64? { nil }
}

/// Appends one JSON line per message to a file and syncs it.
public final class FileDataPlatformSink: DataPlatformSink, @unchecked Sendable {
    private let handle: FileHandle
    private let path: String
    private let isRegularFile: Bool
    private let lock = NSLock()

    public init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw LedgerError.storeFailure("cannot create \(path)")
            }
        }
        var info = stat()
        isRegularFile = stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        // A pipe or a device (/dev/null) is only written to.
        guard let handle = isRegularFile ? FileHandle(forUpdatingAtPath: path) : FileHandle(forWritingAtPath: path) else {
            throw LedgerError.storeFailure("cannot write \(path)")
        }
        if isRegularFile {
            // A crash in the middle of a delivery can leave a torn last line. It was never
            // acknowledged, so the relay sends it again: cut it off, or the new line would be
            // glued to it and a line-by-line reader would lose both.
            try handle.truncate(atOffset: try Self.endOfLastCompleteLine(handle))
            try handle.synchronize()
            try handle.seekToEnd()
        }
        self.handle = handle
    }

    /// The offset just past the file's last newline (0 when there is none).
    private static func endOfLastCompleteLine(_ handle: FileHandle) throws -> UInt64 {
        var end = try handle.seekToEnd()
        let chunk: UInt64 = 65_536
        while end > 0 {
            let start = end > chunk ? end - chunk : 0
            try handle.seek(toOffset: start)
            let bytes = try handle.read(upToCount: Int(end - start)) ?? Data()
            if let newline = bytes.lastIndex(of: UInt8(ascii: "\n")) {
                return start + UInt64(newline - bytes.startIndex) + 1
            }
            end = start
        }
        return 0
    }

    public func deliver(_ messages: [JSONValue]) throws {
        var bytes: [UInt8] = []
        for m in messages {
            m.write(into: &bytes)
            bytes.append(UInt8(ascii: "\n"))
        }
        lock.lock()
        defer { lock.unlock() }
        guard isRegularFile else { return try handle.write(contentsOf: bytes) }
        let start = try handle.offset()
        do {
            try handle.write(contentsOf: bytes)
            try handle.synchronize()
        } catch {
            // A write cut short (a full disk) must not leave half a line for the retry to glue
            // its first line to: cut back to where this delivery began.
            try? handle.truncate(atOffset: start)
            try? handle.seek(toOffset: start)
            throw error
        }
    }

    /// The position of the file's last complete line.
    public func lastDeliveredPosition() throws -> UInt64? {
        guard isRegularFile, let reader = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? reader.close() }
        let size = try reader.seekToEnd()
        try reader.seek(toOffset: size > 65_536 ? size - 65_536 : 0)
        let tail = try reader.readToEnd() ?? Data()
        let lines = tail.split(separator: UInt8(ascii: "\n"))
        for line in lines.reversed() {
            if let position = (try? JSONParser.parse(Array(line)))?["position"]?.intValue, position > 0 { return UInt64(position) }
        }
        return nil
    }
}

/// The outbox relay: follows the log from its checkpoint and hands every completed and
/// compensated order to the data platform. Delivery is at least once (a crash between delivery and
/// checkpoint repeats a batch, and rebuilt views start without checkpoints); each message carries
/// its log position so the receiver can drop repeats, and a sink that can tell its last position
/// is never sent one again. The checkpoint moves after a delivery, and otherwise only every
/// `idleCheckpointEvents`, so following a log without orders costs no writes.
public final class DataPlatformRelay: Sendable {
    public static let checkpointName = "data-platform"
    let ledger: Ledger
    let sink: any DataPlatformSink
    let pollInterval: Duration
    let idleCheckpointEvents: UInt64
    /// How far this relay has read, and the checkpoint as it last saved it; nil until first used.
    private let progress = Mutex<(scanned: UInt64, saved: UInt64)?>(nil)

    /// Told of the first failure of a run of them (a full disk, say), and of the recovery (nil).
    let onFailure: @Sendable (Error?) -> Void

    public init(ledger: Ledger, sink: any DataPlatformSink, pollInterval: Duration = .milliseconds(100), idleCheckpointEvents: UInt64 = 10_000,
                onFailure: @escaping @Sendable (Error?) -> Void = { _ in }) {
        self.ledger = ledger
        self.sink = sink
        self.pollInterval = pollInterval
        self.idleCheckpointEvents = idleCheckpointEvents
        self.onFailure = onFailure
    }

    static let relayed: Set<String> = [OrderCompleted.type, OrderCompensated.type]

    /// Delivers everything up to the head once; returns how many messages went out.
    @discardableResult
    public func relayOnce(batchSize: Int = 512) throws -> Int {
        var (scanned, saved) = try progress.withLock { $0 } ?? {
            let checkpoint = try ledger.checkpoint(Self.checkpointName) ?? 0
            return (max(checkpoint, try sink.lastDeliveredPosition() ?? 0), checkpoint)
        }()
        defer { progress.withLock { $0 = (scanned, saved) } }
        var delivered = 0
        while true {
            let events = try ledger.events(after: scanned, limit: batchSize)
            guard let last = events.last else { break }
            let messages = try events.filter { Self.relayed.contains($0.type) }.map { r -> JSONValue in
                .object([("position", .int(Int64(r.position))), ("type", .string(r.type)),
                         ("at", .string(ISO8601.format(r.timestamp))), ("data", try r.commerceEvent().json)])
            }
            if !messages.isEmpty { try sink.deliver(messages) }
            delivered += messages.count
            scanned = last.position
            if !messages.isEmpty || scanned - saved >= idleCheckpointEvents {
                try ledger.advanceCheckpoint(Self.checkpointName, to: scanned)
                saved = scanned
            }
        }
        return delivered
    }

    /// Runs until the task is cancelled.
    public func run() async {
        var failing = false
        while !Task.isCancelled {
            let head = ledger.log.notifier.head
            do {
                try relayOnce()
                if failing { onFailure(nil) }
                failing = false
            } catch {
                if !failing { onFailure(error) }
                failing = true
                try? await Task.sleep(for: pollInterval)
            }
            await ledger.log.notifier.wait(above: head, timeout: pollInterval)
        }
    }
}

import Synchronization

/// Counters of the group-commit writer, for metrics and benchmarks.
public final class WriterStatistics: Sendable {
    public struct Snapshot: Sendable {
        public var batches: Int = 0
        public var jobs: Int = 0
        public var largestBatch: Int = 0
        public var totalCommitSeconds: Double = 0
        public var lastBatch: Int = 0
        public var lastCommitSeconds: Double = 0
    }

    private let state = Mutex(Snapshot())
    private let observers = Mutex<[@Sendable (Int, Duration) -> Void]>([])
    public init() {}

    /// Calls `observer` after every committed batch with its size and duration (for metrics).
    public func onBatch(_ observer: @escaping @Sendable (Int, Duration) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    func record(batch: Int, duration: Duration) {
        for observer in observers.withLock({ $0 }) { observer(batch, duration) }
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        state.withLock { s in
            s.batches += 1
            s.jobs += batch
            s.largestBatch = max(s.largestBatch, batch)
            s.totalCommitSeconds += seconds
            s.lastBatch = batch
            s.lastCommitSeconds = seconds
        }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
}

/// Command (correlation) ids: a random 32-bit prefix per process and a counter, so ids from two
/// processes writing the same environment do not collide, without a syscall per command.
final class CommandIdSource: Sendable {
    private let state: Mutex<UInt64>

    init() {
        state = Mutex(UInt64(UInt32.random(in: 1...UInt32.max)) << 32)
    }

    func next() -> UInt64 {
        state.withLock { $0 &+= 1; return $0 }
    }
}

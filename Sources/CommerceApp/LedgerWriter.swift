import Commerce
import Foundation

/// The single writer: a dedicated thread that takes every queued job, decides the whole batch
/// in one write transaction, commits it durably (one fsync) and only then answers the callers.
/// Commands queued while a batch commits form the next batch — group commit.
public final class LedgerWriter: @unchecked Sendable {
    public let ledger: Ledger
    private let condition = NSCondition()
    private var queue: [WriterJob] = []
    private var stopping = false
    private var thread: Thread?
    private let finished = NSCondition()
    private var isFinished = false

    public init(ledger: Ledger) {
        self.ledger = ledger
    }

    /// Jobs queued and not yet taken into a batch.
    var queuedJobs: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard thread == nil else { return }
        let thread = Thread { [self] in run() }
        thread.name = "ledger-writer"
        thread.qualityOfService = .userInitiated
        self.thread = thread
        thread.start()
    }

    /// Stops taking new jobs, finishes and answers every queued one, then returns.
    public func stop() {
        condition.lock()
        let started = thread != nil
        stopping = true
        condition.signal()
        condition.unlock()
        guard started else { return }
        finished.lock()
        while !isFinished { finished.wait() }
        finished.unlock()
    }

    /// Queues a command; returns once its batch is durable on disk.
    public func submit(_ command: CommerceCommand, idempotencyKey: String? = nil) async throws -> CommandOutcome {
        switch try await enqueue(.command(command, idempotencyKey: idempotencyKey)) {
        case let .command(outcome): return outcome
        case .processed, .expired: throw LedgerError.storeFailure("unexpected outcome")
        }
    }

    /// Runs the coupon issuance processor over requests logged up to `through`.
    @discardableResult
    public func processIssueRequests(through: UInt64) async throws -> Int {
        switch try await enqueue(.processIssueRequests(through: through)) {
        case let .processed(n): return n
        case .command, .expired: return 0
        }
    }

    /// Removes up to `limit` idempotency keys older than the retention; returns how many.
    @discardableResult
    public func expireIdempotencyKeys(limit: Int = 1_000) async throws -> Int {
        switch try await enqueue(.expireIdempotencyKeys(limit: limit)) {
        case let .expired(n): return n
        case .command, .processed: return 0
        }
    }

    private func enqueue(_ kind: WriterJob.Kind) async throws -> WriterJob.Output {
        let job = WriterJob(kind)
        return try await withUnsafeThrowingContinuation { continuation in
            job.continuation = continuation
            condition.lock()
            if stopping {
                condition.unlock()
                continuation.resume(throwing: LedgerError.shuttingDown)
                return
            }
            queue.append(job)
            if queue.count == 1 { condition.signal() }
            condition.unlock()
        }
    }

    private func run() {
        let maxBatch = max(1, ledger.configuration.maxBatchSize)
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping {
                condition.unlock()
                break
            }
            let batch: [WriterJob]
            if queue.count <= maxBatch {
                batch = queue
                queue.removeAll(keepingCapacity: true)
            } else {
                batch = Array(queue.prefix(maxBatch))
                queue.removeFirst(maxBatch)
            }
            condition.unlock()

            do {
                try ledger.executeMapped(batch)
                for job in batch {
                    job.continuation?.resume(with: job.outcome ?? .failure(LedgerError.storeFailure("no outcome")))
                }
            } catch {
                // Nothing of this batch was committed: every caller learns it failed.
                for job in batch { job.continuation?.resume(throwing: error) }
            }
        }
        finished.lock()
        isFinished = true
        finished.broadcast()
        finished.unlock()
    }
}

import Commerce
import EventLog
import Foundation

/// Reads and decodes log records on a thread of its own, a batch at a time, for one or more
/// consumers on other threads that each fold every batch in order: a bulk fold's decoding
/// (checksums, strings, payloads, about a third of its work) is then off its path, and two
/// consumers can fold different tables at once.
///
/// The thread reads in a read transaction of its own, which ends when the thread does: the
/// consumers call `close()` when they stop early, and `next` returns nil at the end.
final class DecodingReader: @unchecked Sendable {
    struct Decoded: Sendable {
        let record: EventRecord
        let event: CommerceEvent
    }

    /// Guards everything below it.
    private let condition = NSCondition()
    /// Batches not yet taken by every consumer; the first is batch number `firstBatch`.
    private var ready: [[Decoded]] = []
    private var firstBatch = 0
    /// The number of the next batch each consumer takes.
    private var positions: [Int]
    private var done = false
    private var failure: Error?
    private var stopped = false
    private(set) var stoppedEarly = false
    /// Batches decoded ahead of the slowest consumer at most: enough to ride over a slow batch,
    /// little memory.
    private let depth = 6

    /// Starts reading the records after `after`, through `through`, for `consumers` consumers;
    /// before each batch it asks `enough` whether to stop there (a memory budget).
    init(log: EventLog, after: UInt64, through: UInt64, consumers: Int = 1, batch: Int = 2_048,
         enough: @escaping @Sendable () -> Bool = { false }) {
        positions = Array(repeating: 0, count: consumers)
        let thread = Thread { [self] in self.run(log: log, after: after, through: through, batch: batch, enough: enough) }
        thread.name = "log decoding"
        thread.start()
    }

    private func run(log: EventLog, after: UInt64, through: UInt64, batch: Int, enough: () -> Bool) {
        var failure: Error?
        do {
            try log.environment.read { l in
                var current: [Decoded] = []
                current.reserveCapacity(batch)
                try log.forEach(after: after, in: l) { record in
                    guard record.position <= through else { return false }
                    if current.isEmpty, enough() {
                        condition.lock()
                        stoppedEarly = true
                        condition.unlock()
                        return false
                    }
                    current.append(Decoded(record: record, event: try record.commerceEvent()))
                    guard current.count == batch else { return true }
                    defer { current = []; current.reserveCapacity(batch) }
                    return push(current)
                }
                if !current.isEmpty { _ = push(current) }
            }
        } catch {
            failure = error
        }
        condition.lock()
        self.failure = failure
        done = true
        condition.broadcast()
        condition.unlock()
    }

    /// Hands a batch over; false when the reader was closed.
    private func push(_ batch: [Decoded]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while ready.count >= depth && !stopped { condition.wait() }
        guard !stopped else { return false }
        ready.append(batch)
        condition.broadcast()
        return true
    }

    /// Consumer `consumer`'s next batch, in log order; nil after the last. Throws what reading
    /// or decoding threw, after every batch decoded before it.
    func next(for consumer: Int = 0) throws -> [Decoded]? {
        condition.lock()
        defer { condition.unlock() }
        while positions[consumer] - firstBatch >= ready.count && !done && !stopped { condition.wait() }
        if stopped { return nil }
        let index = positions[consumer] - firstBatch
        guard index < ready.count else {
            if let failure { throw failure }
            return nil
        }
        let batch = ready[index]
        positions[consumer] += 1
        // Every consumer is past the first batch: let it go.
        while !ready.isEmpty, positions.allSatisfy({ $0 > firstBatch }) {
            ready.removeFirst()
            firstBatch += 1
        }
        condition.broadcast()
        return batch
    }

    /// Stops the thread (and every consumer's `next`) and waits until its read transaction has
    /// ended.
    func close() {
        condition.lock()
        stopped = true
        ready = []
        condition.broadcast()
        while !done { condition.wait() }
        condition.unlock()
    }
}

import Commerce
import EventLog
import Foundation
import LMDB
import Synchronization

/// Folding many events at once (views recovered at open, a rebuild, a verification).
///
/// The fold's rows land at random keys (users drawn from a million), so written one by one each
/// costs a cold B-tree descent and a page copy. Here they collect in a `WriteBuffer` and reach
/// LMDB in key order: a fold into empty tables becomes one append per row.
///
/// A large fold also uses a second core: one thread reads and decodes the log
/// (`DecodingReader`), one folds the users' rows the fold only writes (the stream index,
/// balances and history: most rows), one folds the rest into a sibling buffer, absorbed at the
/// end. The two parts share no table either reads, so each sees exactly what a single fold would.
struct BulkFold {
    let fold: ViewFold
    let tables: ViewTables
    var selection: ViewFold.Selection = .all
    /// Memory the buffered rows may take; a fold stops about there and the caller writes them.
    var budget: Int = BulkFold.memoryBudget
    /// Folds of at least this many events use other threads; for fewer, starting threads costs
    /// more than it saves.
    var threadsFrom = 50_000
    /// Records the reading thread decodes and hands over at a time; the budget is looked at
    /// between them.
    var readerBatch = 2_048

    /// An eighth of the machine's memory, between 64 MiB and 4 GiB: a 10-million-event log
    /// (about 1 GiB of rows) is folded at once on a machine of 8 GiB or more.
    static let memoryBudget: Int = {
        let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        return min(max(physical / 8, 64 << 20), 4 << 30)
    }()

    /// What `fill` folded.
    struct Filled {
        var events = 0
        /// The position of the last event folded (nil when none was).
        var last: UInt64?
        /// The buffer reached the budget before the log (or `through`) ended.
        var isFull = false
    }

    /// Folds the records after `after`, up to `through` and no further than `logTxn` sees, into
    /// `rows`, until the log ends or the buffer holds about `budget` bytes. `progress` hears the
    /// events folded so far, now and then. `rows` must not be in use by another thread.
    func fill(_ rows: WriteBuffer, from log: EventLog, after: UInt64, through: UInt64 = .max, logTxn: Transaction,
              progress: (Int) -> Void = { _ in }) throws -> Filled {
        let end = min(through, try log.head(in: logTxn))
        guard end > after else { return Filled() }
        // Threads share `rows`' transaction for reads, which LMDB allows only of a read transaction.
        if end - after >= UInt64(threadsFrom), rows.transaction.isReadOnly, ProcessInfo.processInfo.activeProcessorCount > 1 {
            return try fillOnThreads(rows, from: log, after: after, through: end, progress: progress)
        }
        var filled = Filled()
        let plan = fold.plan(selection)
        try log.forEach(after: after, in: logTxn) { record in
            guard record.position <= end else { return false }
            try fold.apply(record, event: try record.commerceEvent(), to: tables, in: rows, plan: plan)
            filled.events += 1
            filled.last = record.position
            guard filled.events & 0xFFFF == 0 else { return true }
            progress(filled.events)
            filled.isFull = rows.bytes >= budget
            return !filled.isFull
        }
        return filled
    }

    private func fillOnThreads(_ rows: WriteBuffer, from log: EventLog, after: UInt64, through end: UInt64,
                               progress: (Int) -> Void) throws -> Filled {
        let (userRows, rest) = fold.lanes(selection)
        let other = rows.sibling()
        // Bytes each part's buffer holds, as its thread last saw them: the reader stops at a
        // batch boundary once they reach the budget, and both parts fold exactly its batches.
        let held = Held()
        let budget = self.budget
        let reader = DecodingReader(log: log, after: after, through: end, consumers: 2, batch: readerBatch) { held.total >= budget }
        let lane = Lane { [fold, tables] in
            do {
                while let batch = try reader.next(for: 1) {
                    try batch.withUnsafeBufferPointer { decoded in
                        for i in decoded.indices { try fold.apply(decoded[i].record, event: decoded[i].event, to: tables, in: other, plan: rest) }
                    }
                    held.other.store(other.bytes, ordering: .relaxed)
                }
            } catch {
                reader.close()  // the other part stops too
                throw error
            }
        }
        var filled = Filled()
        do {
            while let batch = try reader.next(for: 0) {
                // Borrowed in place: copying each record out would retain and release its parts.
                try batch.withUnsafeBufferPointer { decoded in
                    for i in decoded.indices { try fold.apply(decoded[i].record, event: decoded[i].event, to: tables, in: rows, plan: userRows) }
                    filled.events += decoded.count
                    filled.last = decoded.last?.record.position ?? filled.last
                }
                held.mine.store(rows.bytes, ordering: .relaxed)
                if filled.events & 0xFFFF < batch.count { progress(filled.events) }
            }
        } catch {
            reader.close()
            _ = lane.wait()
            throw error
        }
        if let failure = lane.wait() {
            reader.close()
            throw failure
        }
        reader.close()
        filled.isFull = reader.stoppedEarly
        rows.absorb(other)
        return filled
    }

    /// The bytes of the two parts' buffers.
    private final class Held: Sendable {
        let mine = Atomic<Int>(0)
        let other = Atomic<Int>(0)
        var total: Int { mine.load(ordering: .relaxed) + other.load(ordering: .relaxed) }
    }
}

/// Work on a thread of its own; `wait()` returns what it threw, if anything.
private final class Lane: @unchecked Sendable {
    private let condition = NSCondition()
    private var finished = false
    private var failure: Error?

    /// `body` runs on the new thread alone: what it captures is not touched elsewhere until
    /// `wait()` returned.
    init(_ body: @escaping () throws -> Void) {
        let work = Handed(body)
        let thread = Thread { [self] in
            var failure: Error?
            do { try work.body() } catch { failure = error }
            condition.lock()
            self.failure = failure
            finished = true
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "fold lane"
        thread.start()
    }

    func wait() -> Error? {
        condition.lock()
        defer { condition.unlock() }
        while !finished { condition.wait() }
        return failure
    }
}

/// Work handed to another thread, which alone uses what it captures.
private struct Handed: @unchecked Sendable {
    let body: () throws -> Void
    init(_ body: @escaping () throws -> Void) { self.body = body }
}

import Foundation
import Synchronization

/// Wakes in-process subscribers when the writer commits. Other processes' appends are found by
/// polling, so a waiter also wakes after its timeout.
public final class HeadNotifier: Sendable {
    private struct Waiter {
        let id: UInt64
        let above: UInt64
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var head: UInt64 = 0
        var nextId: UInt64 = 0
        var waiters: [Waiter] = []
    }

    private let state = Mutex(State())
    /// Wakes threads blocked in `waitBlocking` (relays on threads of their own); signalled only
    /// while one waits.
    private let condition = NSCondition()
    private let blockedThreads = Atomic<Int>(0)

    public init() {}

    /// The highest position this process has seen committed.
    public var head: UInt64 { state.withLock { $0.head } }

    public func publish(head: UInt64) {
        let ready: [Waiter] = state.withLock { s in
            guard head > s.head else { return [] }
            s.head = head
            let ready = s.waiters.filter { $0.above < head }
            s.waiters.removeAll { $0.above < head }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
        if blockedThreads.load(ordering: .sequentiallyConsistent) > 0 {
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
    }

    /// `wait(above:timeout:)` for a thread that is not a task: blocks it.
    public func waitBlocking(above position: UInt64, timeout: Duration) {
        // A monotonic deadline: a wall clock stepped back must not stretch the wait.
        let end = ContinuousClock.now + timeout
        blockedThreads.add(1, ordering: .sequentiallyConsistent)
        defer { blockedThreads.subtract(1, ordering: .relaxed) }
        condition.lock()
        defer { condition.unlock() }
        while head <= position {
            let left = end - ContinuousClock.now
            guard left > .zero else { return }
            // In short steps: the condition's deadline is on the wall clock, which may be stepped.
            let step = min(left, .milliseconds(50))
            _ = condition.wait(until: Date().addingTimeInterval(Double(step.components.seconds) + Double(step.components.attoseconds) / 1e18))
        }
    }

    /// Returns once the head passes `position` or `timeout` elapses, whichever is first.
    public func wait(above position: UInt64, timeout: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let registered: UInt64? = state.withLock { s in
                if s.head > position { return nil }
                s.nextId += 1
                s.waiters.append(Waiter(id: s.nextId, above: position, continuation: continuation))
                return s.nextId
            }
            guard let registered else {
                continuation.resume()
                return
            }
            Task {
                try? await Task.sleep(for: timeout)
                self.expire(registered)
            }
        }
    }

    private func expire(_ id: UInt64) {
        let waiter: Waiter? = state.withLock { s in
            guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return s.waiters.remove(at: index)
        }
        waiter?.continuation.resume()
    }
}

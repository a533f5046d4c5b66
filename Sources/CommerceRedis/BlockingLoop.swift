import Foundation
import Synchronization

/// A loop that blocks in a C client, run on a thread of its own (never on the task pool) for as
/// long as the calling task runs: `run()` returns after the task is cancelled, the loop has seen
/// `isStopping` and returned.
final class BlockingLoop: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    let name: String

    init(name: String) { self.name = name }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    func run(_ loop: @escaping @Sendable () -> Void) async {
        let thread = Thread { [self] in
            loop()
            finished.store(true, ordering: .releasing)
        }
        thread.name = name
        thread.start()
        while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
        stopping.store(true, ordering: .releasing)
        while !finished.load(ordering: .acquiring) { try? await Task.sleep(for: .milliseconds(10)) }
    }
}

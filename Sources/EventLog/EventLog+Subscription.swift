extension EventLog {
    /// Catch-up-then-live: every event after `position` in order, then new ones as they are committed
    /// (by this process, signalled at once, or by another process, found by polling).
    /// Pull-based, so a slow consumer holds at most one batch in memory.
    public func subscribe(
        after position: UInt64, batchSize: Int = 512, pollInterval: Duration = .milliseconds(50)
    ) -> Subscription {
        Subscription(log: self, start: position, batchSize: batchSize, pollInterval: pollInterval)
    }

    public struct Subscription: AsyncSequence, Sendable {
        public typealias Element = EventRecord
        let log: EventLog
        let start: UInt64
        let batchSize: Int
        let pollInterval: Duration

        public func makeAsyncIterator() -> Iterator {
            Iterator(log: log, cursor: start, batchSize: batchSize, pollInterval: pollInterval)
        }

        public struct Iterator: AsyncIteratorProtocol {
            let log: EventLog
            /// Position of the last event handed out.
            var cursor: UInt64
            let batchSize: Int
            let pollInterval: Duration
            var buffer: [EventRecord] = []
            var index = 0

            /// Returns nil only when the task is cancelled.
            public mutating func next() async throws -> EventRecord? {
                while index == buffer.count {
                    if Task.isCancelled { return nil }
                    let after = cursor
                    buffer = try log.environment.read { try log.read(after: after, limit: batchSize, in: $0) }
                    index = 0
                    if buffer.isEmpty { await log.notifier.wait(above: cursor, timeout: pollInterval) }
                }
                let record = buffer[index]
                index += 1
                cursor = record.position
                return record
            }
        }
    }
}

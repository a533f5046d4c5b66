import Commerce
import Foundation
import Synchronization

/// Where "now" comes from, so tests can move time.
public protocol LedgerClock: Sendable {
    func now() -> Timestamp
}

public struct SystemClock: LedgerClock {
    public init() {}
    public func now() -> Timestamp { Timestamp((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// A clock that moves only when told.
public final class ManualClock: LedgerClock {
    private let current: Mutex<Timestamp>

    public init(_ start: Timestamp) { current = Mutex(start) }

    public func now() -> Timestamp { current.withLock { $0 } }
    public func set(_ t: Timestamp) { current.withLock { $0 = t } }
    public func advance(by ms: Int64) { current.withLock { $0 += ms } }
}

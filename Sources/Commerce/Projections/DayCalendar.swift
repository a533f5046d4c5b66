import Foundation
import Synchronization

/// Calendar days in a configured zone, for daily sales and "the last 3 days".
public struct DayCalendar: Sendable {
    public let timeZone: TimeZone
    private let cache: OffsetCache

    /// Nil for a zone the system does not know: days are never silently counted in another one.
    public init?(timeZoneIdentifier: String) {
        guard let zone = TimeZone(identifier: timeZoneIdentifier) else { return nil }
        timeZone = zone
        cache = OffsetCache()
    }

    public static func isValid(timeZoneIdentifier: String) -> Bool {
        TimeZone(identifier: timeZoneIdentifier) != nil
    }

    public func offsetSeconds(at t: Timestamp) -> Int {
        if let hit = cache.lookup(t) { return hit }
        // Foundation's zone lookups go through ICU: remember the offset until the next transition.
        let date = Date(timeIntervalSince1970: Double(t) / 1000)
        let offset = timeZone.secondsFromGMT(for: date)
        let until = timeZone.nextDaylightSavingTimeTransition(after: date).map { Timestamp($0.timeIntervalSince1970 * 1000) } ?? Timestamp.max
        // Valid from `t` on only: the previous transition is not known here.
        cache.store(from: t, until: until, offset: offset)
        return offset
    }

    /// Days since 1970-01-01 of the local date at `t`.
    public func day(of t: Timestamp) -> Int64 {
        let local = t + Int64(offsetSeconds(at: t)) * 1000
        return local >= 0 ? local / Millis.day : (local - Millis.day + 1) / Millis.day
    }

    public func format(_ t: Timestamp) -> String {
        ISO8601.format(t, offsetSeconds: offsetSeconds(at: t))
    }
}

/// The last offset looked up and the span it is valid for.
private final class OffsetCache: Sendable {
    private let span = Mutex<(from: Timestamp, until: Timestamp, offset: Int)?>(nil)

    func lookup(_ t: Timestamp) -> Int? {
        span.withLock { s in
            guard let s, t >= s.from, t < s.until else { return nil }
            return s.offset
        }
    }

    func store(from: Timestamp, until: Timestamp, offset: Int) {
        span.withLock { $0 = (from, until, offset) }
    }
}

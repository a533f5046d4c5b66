import Foundation

/// Calendar days in a configured zone, for daily sales and "the last 3 days".
public struct DayCalendar: Sendable {
    public let timeZone: TimeZone

    public init(timeZoneIdentifier: String) {
        timeZone = TimeZone(identifier: timeZoneIdentifier) ?? TimeZone(secondsFromGMT: 0)!
    }

    public static func isValid(timeZoneIdentifier: String) -> Bool {
        TimeZone(identifier: timeZoneIdentifier) != nil
    }

    public func offsetSeconds(at t: Timestamp) -> Int {
        timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t) / 1000))
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

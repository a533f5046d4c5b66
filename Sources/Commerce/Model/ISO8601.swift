/// ISO-8601 times without Foundation's formatters (slow on Linux), using civil-date arithmetic.
///
/// Instants are taken from 1970-01-01T00:00:00Z up to (not including) 9999-12-31T00:00:00Z, so that
/// every instant rendered in any zone keeps a four-digit year, and every rendered time parses back
/// to the same instant.
public enum ISO8601 {
    /// The instants the ledger takes from its callers, in milliseconds since 1970.
    public static let supported: Range<Timestamp> = 0..<253_402_214_400_000
    /// The same range as callers read it.
    public static let supportedDescription = "from 1970-01-01T00:00:00Z to before 9999-12-31T00:00:00Z"

    /// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
    public static func civil(fromDays z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// (year, month, day) → days since 1970-01-01.
    public static func days(year y0: Int64, month m: Int64, day d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = m > 2 ? m - 3 : m + 9
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// `2026-11-25T03:04:05.678+09:00` (or `Z` for offset 0). An offset with seconds (a zone's
    /// local mean time) is shown to the minute, with the local time to match: the instant is exact.
    public static func format(_ t: Timestamp, offsetSeconds rawOffset: Int = 0) -> String {
        let offsetSeconds = rawOffset / 60 * 60
        let local = t + Int64(offsetSeconds) * 1000
        let days = local >= 0 ? local / Millis.day : (local - Millis.day + 1) / Millis.day
        let msOfDay = local - days * Millis.day
        let (y, m, d) = civil(fromDays: days)
        var s = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(msOfDay / 3_600_000, 2)):\(pad(msOfDay / 60000 % 60, 2)):\(pad(msOfDay / 1000 % 60, 2)).\(pad(msOfDay % 1000, 3))"
        if offsetSeconds == 0 {
            s += "Z"
        } else {
            let sign = offsetSeconds < 0 ? "-" : "+"
            let a = Int64(abs(offsetSeconds))
            s += "\(sign)\(pad(a / 3600, 2)):\(pad(a / 60 % 60, 2))"
        }
        return s
    }

    /// `YYYY-MM-DD` for a day number.
    public static func formatDay(_ days: Int64) -> String {
        let (y, m, d) = civil(fromDays: days)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// Parses `YYYY-MM-DD` into a day number.
    public static func parseDay(_ s: String) -> Int64? {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        // Digits only: Int64("+1") would take a sign.
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.utf8.allSatisfy { (48...57).contains($0) } }),
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        let days = days(year: y, month: m, day: d)
        guard civil(fromDays: days) == (y, m, d) else { return nil }
        return days
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`; a time without an offset, or outside
    /// `supported`, is refused.
    public static func parse(_ s: String) -> Timestamp? {
        guard let t = parseAnyInstant(s), supported.contains(t) else { return nil }
        return t
    }

    static func parseAnyInstant(_ s: String) -> Timestamp? {
        let chars = Array(s.utf8)
        guard chars.count >= 20, chars[10] == UInt8(ascii: "T") || chars[10] == UInt8(ascii: " ") else { return nil }
        guard let day = parseDay(String(decoding: chars[0..<10], as: UTF8.self)) else { return nil }
        func num(_ r: Range<Int>) -> Int64? {
            guard r.upperBound <= chars.count, chars[r].allSatisfy({ (48...57).contains($0) }) else { return nil }
            return Int64(String(decoding: chars[r], as: UTF8.self))
        }
        guard chars[13] == UInt8(ascii: ":"), chars[16] == UInt8(ascii: ":"),
              let hh = num(11..<13), let mm = num(14..<16), let ss = num(17..<19), hh < 24, mm < 60, ss < 60 else { return nil }
        var i = 19
        var ms: Int64 = 0
        if i < chars.count, chars[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < chars.count, (48...57).contains(chars[i]) { i += 1 }
            guard i > start, i - start <= 9, let frac = num(start..<i) else { return nil }
            var scaled = frac
            var digits = i - start
            while digits > 3 { scaled /= 10; digits -= 1 }
            while digits < 3 { scaled *= 10; digits += 1 }
            ms = scaled
        }
        guard i < chars.count else { return nil }
        var offset: Int64 = 0
        if chars[i] == UInt8(ascii: "Z") || chars[i] == UInt8(ascii: "z") {
            guard i + 1 == chars.count else { return nil }
        } else if chars[i] == UInt8(ascii: "+") || chars[i] == UInt8(ascii: "-") {
            guard i + 6 == chars.count, chars[i + 3] == UInt8(ascii: ":"), let oh = num(i + 1..<i + 3), let om = num(i + 4..<i + 6),
                  oh < 24, om < 60 else { return nil }
            offset = (oh * 3600 + om * 60) * (chars[i] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        return day * Millis.day + ((hh * 3600 + mm * 60 + ss) - offset) * 1000 + ms
    }
}

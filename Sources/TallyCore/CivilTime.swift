/// Calendar arithmetic on the proleptic Gregorian calendar, without Foundation's Calendar,
/// so that parsing and bucketing are exact and fast on the ingestion path.
public struct CivilDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    public var daysSinceEpoch: Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public init(daysSinceEpoch z0: Int64) {
        let z = z0 + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(year: Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), month: Int(m), day: Int(d))
    }

    public static func < (a: CivilDate, b: CivilDate) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public var isValid: Bool {
        (1...9999).contains(year) && (1...12).contains(month)
            && (1...CivilDate.daysIn(month: month, year: year)).contains(day)
    }

    /// ISO weekday, Monday = 1 … Sunday = 7.
    public var isoWeekday: Int { Int(floorMod(daysSinceEpoch + 3, 7)) + 1 }

    public var description: String { "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))" }

    /// Parses `YYYY-MM-DD`.
    public init?(parsing text: some StringProtocol) {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == 0x2D, b[7] == 0x2D,
            let y = digits(b, 0, 4), let m = digits(b, 5, 2), let d = digits(b, 8, 2)
        else { return nil }
        self.init(year: y, month: m, day: d)
        guard isValid else { return nil }
    }
}

public func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }

func pad(_ value: Int, _ width: Int) -> String {
    let s = String(value)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

func digits(_ b: [UInt8], _ start: Int, _ count: Int) -> Int? {
    var v = 0
    for i in start..<(start + count) {
        guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
        v = v * 10 + Int(b[i] - 0x30)
    }
    return v
}

extension Instant {
    /// Parses an RFC 3339 date-time (`2026-11-20T10:15:00.123Z`, `…+01:00`); nil when malformed.
    public init?(rfc3339 text: some StringProtocol) {
        let b = Array(text.utf8)
        guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20,
            b[13] == 0x3A, b[16] == 0x3A,
            let y = digits(b, 0, 4), let mo = digits(b, 5, 2), let d = digits(b, 8, 2),
            let h = digits(b, 11, 2), let mi = digits(b, 14, 2), let s = digits(b, 17, 2)
        else { return nil }
        let date = CivilDate(year: y, month: mo, day: d)
        guard date.isValid, h < 24, mi < 60, s < 61 else { return nil }
        var i = 19
        var micros: Int64 = 0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var n = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if n < 6 { micros = micros * 10 + Int64(b[i] - 0x30) }
                n += 1
                i += 1
            }
            guard n > 0 else { return nil }
            for _ in n..<max(n, 6) { micros *= 10 }
        }
        guard i < b.count else { return nil }
        var offset: Int64 = 0
        if b[i] == 0x5A || b[i] == 0x7A {
            i += 1
        } else if b[i] == 0x2B || b[i] == 0x2D {
            guard b.count == i + 6, b[i + 3] == 0x3A, let oh = digits(b, i + 1, 2), let om = digits(b, i + 4, 2),
                oh < 24, om < 60
            else { return nil }
            offset = Int64(oh * 3600 + om * 60) * (b[i] == 0x2D ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let secs = date.daysSinceEpoch * 86_400 + Int64(h * 3600 + mi * 60 + min(s, 59)) - offset
        self.init(microseconds: secs * 1_000_000 + micros)
    }

    /// RFC 3339 in UTC, with milli- or microseconds only when present.
    public var rfc3339: String {
        let secs = floorDiv(microseconds, 1_000_000)
        let micros = microseconds - secs * 1_000_000
        let date = CivilDate(daysSinceEpoch: floorDiv(secs, 86_400))
        let t = Int(floorMod(secs, 86_400))
        var out = "\(date)T\(pad(t / 3600, 2)):\(pad(t / 60 % 60, 2)):\(pad(t % 60, 2))"
        if micros != 0 {
            out += micros % 1000 == 0 ? "." + pad(Int(micros / 1000), 3) : "." + pad(Int(micros), 6)
        }
        return out + "Z"
    }
}

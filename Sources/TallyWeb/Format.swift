import TallyCore

/// How numbers, money and times read on the pages (US English, US dollars). Integer arithmetic only.
package enum Format {
    /// `$1,234.57`; amounts under a dollar keep four decimals (`$0.0042`) so small calls do not read as $0.00.
    package static func money(_ amount: USD?) -> String {
        guard let amount else { return "—" }
        let places = amount.nanos.magnitude < 1_000_000_000 && amount.nanos != 0 ? 4 : 2
        return money(amount, places: places)
    }

    package static func money(_ amount: USD, places: Int) -> String {
        var unit: UInt64 = 1_000_000_000
        for _ in 0..<places { unit /= 10 }
        let magnitude = amount.nanos.magnitude
        let rounded = (magnitude + unit / 2) / unit  // half-up, in units of 10^-places dollars
        var scale: UInt64 = 1
        for _ in 0..<places { scale *= 10 }
        let whole = grouped(String(rounded / scale))
        let sign = amount.nanos < 0 ? "−$" : "$"
        guard places > 0 else { return sign + whole }
        return sign + whole + "." + String(rounded % scale).leftPadded(places)
    }

    package static func integer(_ n: Int64) -> String { (n < 0 ? "−" : "") + grouped(String(n.magnitude)) }

    /// 1.2k, 3.4M: for chart axes and tight cells.
    package static func compact(_ n: Int64) -> String {
        let m = n.magnitude
        func one(_ divisor: UInt64, _ suffix: String) -> String {
            let tenths = (m * 10 + divisor / 2) / divisor
            return "\(tenths / 10)" + (tenths % 10 == 0 ? "" : ".\(tenths % 10)") + suffix
        }
        let text =
            m >= 1_000_000_000
            ? one(1_000_000_000, "B") : m >= 1_000_000 ? one(1_000_000, "M") : m >= 10_000 ? one(1000, "k") : String(m)
        return (n < 0 ? "−" : "") + text
    }

    /// A share as a percentage with one decimal: `2.5%`.
    package static func percent(_ part: Int64, of whole: Int64) -> String {
        guard whole > 0 else { return "—" }
        let tenths = (part * 1000 + whole / 2) / whole
        return "\(tenths / 10).\(tenths % 10)%"
    }

    /// How a figure moved against the one it is compared with: `+12.5%`, `−3.0%`, `new`.
    package static func change(_ now: Int64, from before: Int64) -> String {
        if before == 0 { return now == 0 ? "no change" : "new" }
        let tenths = ((now - before) * 1000 + (now >= before ? before / 2 : -before / 2)) / before
        let sign = tenths > 0 ? "+" : tenths < 0 ? "−" : "±"
        return "\(sign)\(tenths.magnitude / 10).\(tenths.magnitude % 10)%"
    }

    /// `2026-11-23 14:05:09` in the organization's time zone.
    package static func localTime(_ instant: Instant, zone: TimeZoneRules) -> String {
        let local = instant.seconds + zone.offsetSeconds(at: instant)
        let date = CivilDate(daysSinceEpoch: floorDiv(local, 86_400))
        let s = floorMod(local, 86_400)
        return "\(date) \(two(s / 3600)):\(two(s % 3600 / 60)):\(two(s % 60))"
    }

    /// `Nov 23` / `Nov 23, 2026`.
    package static func day(_ date: CivilDate, year: Bool = false) -> String {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(months[date.month - 1]) \(date.day)" + (year ? ", \(date.year)" : "")
    }

    package static func milliseconds(_ ms: Int64?) -> String {
        guard let ms else { return "—" }
        return ms >= 10_000 ? "\(ms / 1000) s" : "\(integer(ms)) ms"
    }

    private static func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }

    private static func grouped(_ digits: String) -> String {
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return out
    }
}

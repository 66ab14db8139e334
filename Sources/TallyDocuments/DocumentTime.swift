import TallyCore
import TallyPDF

/// Dates and times as documents write them, in the organization's zone and naming it: "2026-11-20 14:03:07
/// Europe/Paris (UTC+01:00)". A zone Tally does not know (a snapshot from a host with other zone data) falls back
/// to UTC and says so, rather than printing a wrong local time under the zone's name.
struct DocumentTime {
    let rules: TimeZoneRules

    init(zone identifier: String) {
        rules = TimeZoneRules(identifier: identifier) ?? .utc
    }

    /// "2026-11-20 14:03:07 Europe/Paris (UTC+01:00)".
    func dateTime(_ instant: Instant) -> String {
        let offset = rules.offsetSeconds(at: instant)
        let local = instant.seconds + offset
        let date = CivilDate(daysSinceEpoch: floorDiv(local, 86_400))
        let time = floorMod(local, 86_400)
        return
            "\(date) \(two(time / 3600)):\(two(time / 60 % 60)):\(two(time % 60)) \(rules.identifier) (\(utc(offset)))"
    }

    /// The local calendar day of `instant`: "2026-12-01".
    func date(_ instant: Instant) -> String { "\(rules.localDate(of: instant))" }

    /// "UTC+01:00", "UTC-03:30", "UTC+00:00".
    private func utc(_ offset: Int64) -> String {
        let minutes = offset.magnitude / 60
        return "UTC\(offset < 0 ? "-" : "+")\(two(Int64(minutes / 60))):\(two(Int64(minutes % 60)))"
    }

    private func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
}

/// How a period is named in titles: "November 2026", "Week 2026-W47", "Friday 20 November 2026".
enum PeriodNames {
    static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
        "December",
    ]
    static let weekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    static func title(_ kind: StatementPeriod.Kind, label: String, firstDay: CivilDate) -> String {
        switch kind {
        case .month: "\(monthName(firstDay)) \(firstDay.year)"
        case .week: "Week \(DocumentText.clean(label))"
        case .day: "\(weekdays[firstDay.isoWeekday - 1]) \(firstDay.day) \(monthName(firstDay)) \(firstDay.year)"
        case .billingCycle: "Billing cycle from \(firstDay.day) \(monthName(firstDay)) \(firstDay.year)"
        }
    }

    /// "2026-11-01 – 2026-11-30", or the one day.
    static func dates(_ first: CivilDate, _ last: CivilDate) -> String {
        first == last ? "\(first)" : "\(first) – \(last)"
    }

    /// "Nov 8", for the chart's axis.
    static func short(_ date: CivilDate) -> String { "\(monthName(date).prefix(3)) \(date.day)" }

    private static func monthName(_ date: CivilDate) -> String {
        months.indices.contains(date.month - 1) ? months[date.month - 1] : "\(date.month)"
    }
}

extension PDFDate {
    /// The instant in UTC, as the document information's creation date: given, never read from a clock.
    init(_ instant: Instant) {
        let seconds = instant.seconds
        let date = CivilDate(daysSinceEpoch: floorDiv(seconds, 86_400))
        let time = Int(floorMod(seconds, 86_400))
        self.init(
            year: date.year, month: date.month, day: date.day, hour: time / 3600, minute: time / 60 % 60,
            second: time % 60)
    }
}

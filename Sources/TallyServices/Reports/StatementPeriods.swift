import TallyCore
import TallyDocuments

/// The periods a statement covers, from the API's `period` (a month `2026-11`, an ISO week `2026-W47`, a day
/// `2026-11-20`) or `billing_cycle` (the organization's cycle that starts in that month), as whole local days.
public enum StatementPeriods {
    /// Statements are for years Tally can have data for: no arithmetic on a year like 99999.
    static let years = 2000...2199

    public static func parse(period: String?, billingCycle: String?, zone: TimeZoneRules, cycleDay: Int, now: Instant)
        throws(TallyError) -> StatementPeriod
    {
        switch (period, billingCycle) {
        case (.some, .some):
            throw .invalid([FieldProblem(field: "period", reason: "give period or billing_cycle, not both")])
        case (nil, let cycle?):
            guard let start = month(cycle) else {
                throw .invalid([FieldProblem(field: "billing_cycle", reason: "must be a month: YYYY-MM, e.g. 2026-11")])
            }
            return Self.billingCycle(startingIn: start, cycleDay: cycleDay, zone: zone)
        case (let text?, nil):
            if let first = month(text) { return self.month(first, zone: zone) }
            if let monday = isoWeek(text) { return week(monday, zone: zone) }
            if let date = CivilDate(parsing: text), years.contains(date.year) { return day(date, zone: zone) }
            throw .invalid([
                FieldProblem(
                    field: "period",
                    reason:
                        "must be a month (2026-11), an ISO week (2026-W47) or a day (2026-11-20) between 2000 and 2199")
            ])
        case (nil, nil):
            return month(zone.localDate(of: now).firstOfMonth, zone: zone)
        }
    }

    /// The period before, of the same kind.
    public static func previous(_ p: StatementPeriod, zone: TimeZoneRules, cycleDay: Int) -> StatementPeriod {
        switch p.kind {
        case .month: month(p.firstDay.addingMonths(-1), zone: zone)
        case .week: week(p.firstDay.addingDays(-7), zone: zone)
        case .day: day(p.firstDay.addingDays(-1), zone: zone)
        case .billingCycle: billingCycle(startingIn: p.firstDay.addingMonths(-1), cycleDay: cycleDay, zone: zone)
        }
    }

    static func month(_ first: CivilDate, zone: TimeZoneRules) -> StatementPeriod {
        let next = first.addingMonths(1)
        return StatementPeriod(
            kind: .month, label: String(first.description.prefix(7)), firstDay: first, lastDay: next.addingDays(-1),
            range: TimeRange(from: zone.startOfDay(first), to: zone.startOfDay(next)))
    }

    static func week(_ monday: CivilDate, zone: TimeZoneRules) -> StatementPeriod {
        // The ISO year is the year of the week's Thursday.
        let thursday = monday.addingDays(3)
        let jan4 = CivilDate(year: thursday.year, month: 1, day: 4)
        let week1 = jan4.addingDays(-Int64(jan4.isoWeekday - 1))
        let number = Int((monday.daysSinceEpoch - week1.daysSinceEpoch) / 7) + 1
        let label = "\(thursday.year)-W" + (number < 10 ? "0\(number)" : "\(number)")
        return StatementPeriod(
            kind: .week, label: label, firstDay: monday, lastDay: monday.addingDays(6),
            range: TimeRange(from: zone.startOfDay(monday), to: zone.startOfDay(monday.addingDays(7))))
    }

    static func day(_ date: CivilDate, zone: TimeZoneRules) -> StatementPeriod {
        StatementPeriod(
            kind: .day, label: date.description, firstDay: date, lastDay: date,
            range: TimeRange(from: zone.startOfDay(date), to: zone.startOfDay(date.addingDays(1))))
    }

    /// The cycle that starts on `cycleDay` of the month `first` is in.
    static func billingCycle(startingIn first: CivilDate, cycleDay: Int, zone: TimeZoneRules) -> StatementPeriod {
        let start = CivilDate(year: first.year, month: first.month, day: min(max(cycleDay, 1), 28))
        let next = start.addingMonths(1)
        return StatementPeriod(
            kind: .billingCycle, label: String(start.description.prefix(7)), firstDay: start,
            lastDay: next.addingDays(-1), range: TimeRange(from: zone.startOfDay(start), to: zone.startOfDay(next)))
    }

    /// `YYYY-MM` → its first day.
    static func month(_ text: String) -> CivilDate? {
        guard text.utf8.count == 7, let date = CivilDate(parsing: text + "-01"), years.contains(date.year) else {
            return nil
        }
        return date
    }

    /// `YYYY-Www` → the week's Monday; nil when the year has no such week.
    static func isoWeek(_ text: String) -> CivilDate? {
        let b = Array(text.utf8)
        guard b.count == 8, b[4] == UInt8(ascii: "-"), b[5] == UInt8(ascii: "W"),
            let year = Int(String(decoding: b[0..<4], as: UTF8.self)), years.contains(year),
            b[6...7].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let number = Int(String(decoding: b[6...7], as: UTF8.self)),
            (1...53).contains(number)
        else { return nil }
        let jan4 = CivilDate(year: year, month: 1, day: 4)
        let monday = jan4.addingDays(-Int64(jan4.isoWeekday - 1) + Int64(7 * (number - 1)))
        // Week 53 exists only in years whose 53rd Monday's Thursday is still in that year.
        guard monday.addingDays(3).year == year else { return nil }
        return monday
    }
}

extension CivilDate {
    var firstOfMonth: CivilDate { CivilDate(year: year, month: month, day: 1) }
}

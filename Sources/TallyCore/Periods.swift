/// A half-open span of time `[from, to)`.
public struct TimeRange: Sendable, Equatable {
    public var from: Instant
    public var to: Instant
    public init(from: Instant, to: Instant) {
        self.from = from
        self.to = to
    }

    public var microseconds: Int64 { to.microseconds - from.microseconds }
}

/// Billing cycles: months that start on a chosen day (1-28) at local midnight in the organization's time zone.
public struct BillingCycle: Sendable, Equatable {
    /// The local date the cycle starts on.
    public var startDate: CivilDate
    public var range: TimeRange

    /// The cycle that `instant` falls in.
    public static func containing(_ instant: Instant, startDay: Int, zone: TimeZoneRules) -> BillingCycle {
        let day = min(max(startDay, 1), 28)
        let local = zone.localDate(of: instant)
        var start = CivilDate(year: local.year, month: local.month, day: day)
        if local.day < day { start = start.addingMonths(-1) }
        return BillingCycle(startDate: start, zone: zone)
    }

    init(startDate: CivilDate, zone: TimeZoneRules) {
        self.startDate = startDate
        range = TimeRange(from: zone.startOfDay(startDate), to: zone.startOfDay(startDate.addingMonths(1)))
    }

    public func previous(zone: TimeZoneRules) -> BillingCycle {
        BillingCycle(startDate: startDate.addingMonths(-1), zone: zone)
    }

    /// From the cycle's start to the point as far into it as `now` is into the cycle it is compared with
    /// (the previous cycle "at this point"), never past the cycle's end.
    public func elapsed(matching other: TimeRange) -> TimeRange {
        let to = min(range.from.microseconds + other.microseconds, range.to.microseconds)
        return TimeRange(from: range.from, to: Instant(microseconds: to))
    }
}

/// The date ranges a person picks from in the usage explorer and the events list.
public enum DatePreset: String, Sendable, CaseIterable {
    case today
    case last7Days = "7d"
    case last30Days = "30d"
    case thisMonth = "this_month"
    case lastMonth = "last_month"
    case custom
    case all

    public var label: String {
        switch self {
        case .today: "Today"
        case .last7Days: "Last 7 days"
        case .last30Days: "Last 30 days"
        case .thisMonth: "This month"
        case .lastMonth: "Last month"
        case .custom: "Custom range"
        case .all: "All time"
        }
    }

    /// The range in the zone's local days; `custom` takes inclusive local dates. nil bounds: unbounded.
    /// "Last 7 days" is today and the six days before it, up to now.
    public func range(now: Instant, zone: TimeZoneRules, from: CivilDate? = nil, to: CivilDate? = nil)
        -> (from: Instant?, to: Instant?)
    {
        let today = zone.localDate(of: now)
        let tomorrow = zone.startOfDay(today.addingDays(1))
        switch self {
        case .today: return (zone.startOfDay(today), tomorrow)
        case .last7Days: return (zone.startOfDay(today.addingDays(-6)), tomorrow)
        case .last30Days: return (zone.startOfDay(today.addingDays(-29)), tomorrow)
        case .thisMonth:
            let first = CivilDate(year: today.year, month: today.month, day: 1)
            return (zone.startOfDay(first), zone.startOfDay(first.addingMonths(1)))
        case .lastMonth:
            let first = CivilDate(year: today.year, month: today.month, day: 1)
            return (zone.startOfDay(first.addingMonths(-1)), zone.startOfDay(first))
        case .custom:
            return (from.map(zone.startOfDay), to.map { zone.startOfDay($0.addingDays(1)) })
        case .all: return (nil, nil)
        }
    }
}

extension CivilDate {
    public func addingDays(_ days: Int64) -> CivilDate { CivilDate(daysSinceEpoch: daysSinceEpoch + days) }

    /// The same day `months` later, clamped to the month's last day (Jan 31 + 1 month = Feb 28).
    public func addingMonths(_ months: Int) -> CivilDate {
        let index = year * 12 + (month - 1) + months
        let y = floorDiv(Int64(index), 12)
        let m = Int(Int64(index) - y * 12) + 1
        return CivilDate(year: Int(y), month: m, day: min(day, CivilDate.daysIn(month: m, year: Int(y))))
    }
}

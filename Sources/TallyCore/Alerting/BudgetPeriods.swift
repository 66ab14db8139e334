/// A budget's period: whole local days of the organization's time zone, from local midnight to local midnight.
public struct BudgetPeriod: Sendable, Equatable {
    /// `[start of firstDay, start of the day after lastDay)` as instants.
    public var range: TimeRange
    public var firstDay: CivilDate
    public var lastDay: CivilDate

    public init(firstDay: CivilDate, lastDay: CivilDate, zone: TimeZoneRules) {
        self.firstDay = firstDay
        self.lastDay = lastDay
        range = TimeRange(from: zone.startOfDay(firstDay), to: zone.startOfDay(lastDay.addingDays(1)))
    }

    /// The local days of the period from `now`'s local day to its last, `now`'s day included (0 once it is over).
    public func daysLeft(at now: Instant, zone: TimeZoneRules) -> Int {
        guard now < range.to else { return 0 }
        let today = max(zone.localDate(of: now), firstDay)
        return Int(lastDay.daysSinceEpoch - today.daysSinceEpoch) + 1
    }
}

extension Budget {
    /// The period containing `instant`: its local day; its week (Monday to Sunday); its calendar month; its billing
    /// cycle (from the organization's cycle day to the day before it next month). A custom budget's period is its own
    /// days, `customFrom...customTo`: outside them there is none (nil), so nothing can fire.
    public func period(containing instant: Instant, zone: TimeZoneRules, billingCycleDay: Int) -> BudgetPeriod? {
        let today = zone.localDate(of: instant)
        switch period {
        case .day:
            return BudgetPeriod(firstDay: today, lastDay: today, zone: zone)
        case .week:
            let monday = today.addingDays(-Int64(today.isoWeekday - 1))
            return BudgetPeriod(firstDay: monday, lastDay: monday.addingDays(6), zone: zone)
        case .month:
            let first = CivilDate(year: today.year, month: today.month, day: 1)
            return BudgetPeriod(firstDay: first, lastDay: first.addingMonths(1).addingDays(-1), zone: zone)
        case .billingCycle:
            let cycle = BillingCycle.containing(instant, startDay: billingCycleDay, zone: zone)
            return BudgetPeriod(
                firstDay: cycle.startDate, lastDay: cycle.startDate.addingMonths(1).addingDays(-1), zone: zone)
        case .custom:
            guard let days = customDays(zone: zone), days.firstDay <= today, today <= days.lastDay else { return nil }
            return days
        }
    }

    /// The period a budget's status shows at `now`: the one containing it. A custom budget always shows its own days,
    /// so before they begin its status is those days with nothing spent, and after they end, their final figures.
    public func statusPeriod(at now: Instant, zone: TimeZoneRules, billingCycleDay: Int) -> BudgetPeriod {
        if period == .custom, let days = customDays(zone: zone) { return days }
        let today = zone.localDate(of: now)
        return period(containing: now, zone: zone, billingCycleDay: billingCycleDay)
            ?? BudgetPeriod(firstDay: today, lastDay: today, zone: zone)
    }

    private func customDays(zone: TimeZoneRules) -> BudgetPeriod? {
        guard let customFrom, let customTo, customFrom <= customTo else { return nil }
        return BudgetPeriod(firstDay: customFrom, lastDay: customTo, zone: zone)
    }

    /// The dedupe key of this budget's alert for `threshold` in the period whose first local day is `firstDay`
    /// ("budget:<id>:<first day YYYY-MM-DD>:<threshold>", as `Alert.dedupeKey` documents). The local day, not the
    /// instant it starts at: a change of the organization's time zone moves that instant, not the period.
    public func alertKey(firstDay: CivilDate, threshold: Int) -> String {
        "budget:\(id):\(firstDay):\(threshold)"
    }
}

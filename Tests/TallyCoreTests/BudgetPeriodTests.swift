import Testing

@testable import TallyCore

/// A budget's period is whole local days of the organization's time zone (issue 17).
@Suite struct BudgetPeriodTests {
    let newYork = TimeZoneRules(identifier: "America/New_York")!
    let kolkata = TimeZoneRules(identifier: "Asia/Kolkata")!

    func instant(_ text: String) -> Instant { Instant(rfc3339: text)! }
    func date(_ text: String) -> CivilDate { CivilDate(parsing: text)! }

    func budget(_ period: BudgetPeriodKind, from: String? = nil, to: String? = nil) -> Budget {
        Budget(
            id: "bud_1", organizationID: "org_1", name: "b", scope: [:], period: period,
            customFrom: from.map(date), customTo: to.map(date), amount: USD(decimal: "10")!, createdAt: .now,
            updatedAt: .now)
    }

    func period(_ kind: BudgetPeriodKind, _ at: String, _ zone: TimeZoneRules, cycleDay: Int = 1) -> BudgetPeriod? {
        budget(kind).period(containing: instant(at), zone: zone, billingCycleDay: cycleDay)
    }

    /// 23:30 on November 30 in New York is 04:30 UTC on December 1: still November, whose first local midnight was
    /// in daylight time (UTC-4) and whose end is in standard time (UTC-5).
    @Test func newYorkMonthEndFollowsLocalMidnightAcrossTheDSTChange() throws {
        let november = try #require(period(.month, "2026-12-01T04:30:00Z", newYork))
        #expect(november.firstDay == date("2026-11-01") && november.lastDay == date("2026-11-30"))
        #expect(november.range.from == instant("2026-11-01T04:00:00Z"))
        #expect(november.range.to == instant("2026-12-01T05:00:00Z"))
        let december = try #require(period(.month, "2026-12-01T05:00:00Z", newYork))
        #expect(december.firstDay == date("2026-12-01"))
        #expect(december.range == TimeRange(from: instant("2026-12-01T05:00:00Z"), to: instant("2027-01-01T05:00:00Z")))
    }

    /// The day clocks go forward in New York has 23 hours.
    @Test func newYorkDayOfTheSpringChangeIs23Hours() throws {
        let day = try #require(period(.day, "2026-03-08T12:00:00Z", newYork))
        #expect(day.range == TimeRange(from: instant("2026-03-08T05:00:00Z"), to: instant("2026-03-09T04:00:00Z")))
        #expect(day.range.microseconds == 23 * 3_600_000_000)
    }

    /// Kolkata is UTC+5:30: its midnight is half past six in the evening UTC.
    @Test func kolkataDaysAndMonthsStartAtHalfPastSixUTC() throws {
        let day = try #require(period(.day, "2026-12-31T18:29:59Z", kolkata))
        #expect(day.firstDay == date("2026-12-31"))
        #expect(day.range == TimeRange(from: instant("2026-12-30T18:30:00Z"), to: instant("2026-12-31T18:30:00Z")))
        let december = try #require(period(.month, "2026-12-31T18:29:59Z", kolkata))
        #expect(december.range.from == instant("2026-11-30T18:30:00Z"))
        let january = try #require(period(.month, "2026-12-31T18:30:00Z", kolkata))
        #expect(january.firstDay == date("2027-01-01") && january.lastDay == date("2027-01-31"))
    }

    /// A billing cycle on day 15 runs from the 15th to the 14th of the next month, by local days.
    @Test func billingCycleDay15() throws {
        let before = try #require(period(.billingCycle, "2026-12-14T12:00:00Z", .utc, cycleDay: 15))
        #expect(before.firstDay == date("2026-11-15") && before.lastDay == date("2026-12-14"))
        let after = try #require(period(.billingCycle, "2026-12-15T00:00:00Z", .utc, cycleDay: 15))
        #expect(after.firstDay == date("2026-12-15") && after.lastDay == date("2027-01-14"))
        // 04:59 UTC on the 15th is still the 14th in New York.
        let ny = try #require(period(.billingCycle, "2026-12-15T04:59:00Z", newYork, cycleDay: 15))
        #expect(ny.firstDay == date("2026-11-15"))
        #expect(ny.range.to == instant("2026-12-15T05:00:00Z"))
    }

    /// Weeks start on Monday and cross the year end whole: Monday 2026-12-28 to Sunday 2027-01-03.
    @Test func weeksStartOnMondayAcrossTheYearEnd() throws {
        let week = try #require(period(.week, "2027-01-03T23:00:00Z", .utc))
        #expect(week.firstDay == date("2026-12-28") && week.lastDay == date("2027-01-03"))
        #expect(week.range.microseconds == 7 * 86_400_000_000)
        let next = try #require(period(.week, "2027-01-04T00:00:00Z", .utc))
        #expect(next.firstDay == date("2027-01-04"))
        // 22:00 on Sunday in New York is Monday 03:00 UTC: still the week before, locally.
        let ny = try #require(period(.week, "2027-01-04T03:00:00Z", newYork))
        #expect(ny.firstDay == date("2026-12-28"))
        #expect(ny.range.to == instant("2027-01-04T05:00:00Z"))
    }

    /// A custom period is its own days, inclusive; outside them there is no current period, and the status shows the
    /// custom days themselves (nothing spent yet before, the final figures after).
    @Test func customPeriodsAreTheirOwnDays() throws {
        let custom = budget(.custom, from: "2026-12-10", to: "2026-12-20")
        let inside = try #require(
            custom.period(containing: instant("2026-12-20T23:59:59Z"), zone: .utc, billingCycleDay: 1))
        #expect(inside.range == TimeRange(from: instant("2026-12-10T00:00:00Z"), to: instant("2026-12-21T00:00:00Z")))
        #expect(custom.period(containing: instant("2026-12-21T00:00:00Z"), zone: .utc, billingCycleDay: 1) == nil)
        #expect(custom.period(containing: instant("2026-12-09T23:59:59Z"), zone: .utc, billingCycleDay: 1) == nil)
        #expect(custom.statusPeriod(at: instant("2027-02-01T00:00:00Z"), zone: .utc, billingCycleDay: 1) == inside)
        #expect(inside.daysLeft(at: instant("2026-12-01T00:00:00Z"), zone: .utc) == 11)
        #expect(inside.daysLeft(at: instant("2026-12-20T12:00:00Z"), zone: .utc) == 1)
        #expect(inside.daysLeft(at: instant("2026-12-21T00:00:00Z"), zone: .utc) == 0)
    }

    /// The key names the period's first local day: moving the organization to another time zone mid-period moves
    /// the period's first instant but keeps the key, so nothing fires again.
    @Test func alertKeysNameBudgetFirstLocalDayAndThreshold() throws {
        let now = instant("2026-12-10T12:00:00Z")
        let b = budget(.month)
        let keys = try ["UTC", "Asia/Tokyo", "America/New_York", "Pacific/Kiritimati"].map { name in
            let zone = try #require(TimeZoneRules(identifier: name))
            let period = try #require(b.period(containing: now, zone: zone, billingCycleDay: 1))
            return b.alertKey(firstDay: period.firstDay, threshold: 90)
        }
        #expect(keys == Array(repeating: "budget:bud_1:2026-12-01:90", count: 4))
    }
}

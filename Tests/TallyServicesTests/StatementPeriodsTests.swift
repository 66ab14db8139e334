import TallyCore
import TallyDocuments
import Testing

@testable import TallyServices

/// The periods a statement names: months, ISO weeks (including week 53 and weeks that start in the year before),
/// days and billing cycles, in local days of the organization's zone, and the period before each.
@Suite struct StatementPeriodsTests {
    let paris = TimeZoneRules(identifier: "Europe/Paris")!
    let now = Instant(rfc3339: "2026-12-06T10:00:00Z")!

    func parse(_ period: String?, cycle: String? = nil, day: Int = 1) throws -> StatementPeriod {
        try StatementPeriods.parse(period: period, billingCycle: cycle, zone: paris, cycleDay: day, now: now)
    }

    @Test func aMonthIsItsLocalDays() throws {
        let p = try parse("2026-11")
        #expect(p.kind == .month && p.label == "2026-11")
        #expect(p.firstDay.description == "2026-11-01" && p.lastDay.description == "2026-11-30")
        #expect(p.range.from == Instant(rfc3339: "2026-10-31T23:00:00Z"))
        #expect(p.range.to == Instant(rfc3339: "2026-11-30T23:00:00Z"))
        let before = StatementPeriods.previous(p, zone: paris, cycleDay: 1)
        #expect(before.label == "2026-10" && before.lastDay.description == "2026-10-31")
        // No period: this month.
        #expect(try parse(nil).label == "2026-12")
    }

    @Test(arguments: [
        ("2026-W47", "2026-11-16", "2026-11-22"),
        ("2026-W01", "2025-12-29", "2026-01-04"),  // week 1 starts in the year before
        ("2026-W53", "2026-12-28", "2027-01-03"),  // 2026 has 53 weeks
        ("2027-W52", "2027-12-27", "2028-01-02"),
    ])
    func isoWeeks(text: String, monday: String, sunday: String) throws {
        let p = try parse(text)
        #expect(p.kind == .week && p.label == text)
        #expect(p.firstDay.description == monday && p.lastDay.description == sunday)
        #expect(p.firstDay.isoWeekday == 1)
    }

    @Test func weekBeforeWeekOneIsTheLastWeekOfTheYearBefore() throws {
        #expect(StatementPeriods.previous(try parse("2027-W01"), zone: paris, cycleDay: 1).label == "2026-W53")
        #expect(StatementPeriods.previous(try parse("2026-W01"), zone: paris, cycleDay: 1).label == "2025-W52")
    }

    @Test func daysAndCycles() throws {
        let day = try parse("2026-03-29")  // Paris moves its clocks: a 23-hour day
        #expect(day.range.to.microseconds - day.range.from.microseconds == 23 * 3_600_000_000)
        let cycle = try parse(nil, cycle: "2026-11", day: 15)
        #expect(cycle.kind == .billingCycle && cycle.label == "2026-11")
        #expect(cycle.firstDay.description == "2026-11-15" && cycle.lastDay.description == "2026-12-14")
        #expect(StatementPeriods.previous(cycle, zone: paris, cycleDay: 15).firstDay.description == "2026-10-15")
    }

    @Test(arguments: [
        "2026-13", "2026-00", "2025-W53", "2026-W54", "2026-W00", "2026-w47", "1999-01", "99999-01", "2026-11-31",
        "2026-11-", "", "2026-1", "２０２６-11", "2026-11\u{0}",
    ])
    func refusesWhatIsNotAPeriod(text: String) {
        #expect(throws: TallyError.self) { try parse(text) }
    }

    @Test func periodAndCycleTogetherIsRefused() {
        #expect(throws: TallyError.self) { try parse("2026-11", cycle: "2026-11") }
        #expect(throws: TallyError.self) { try parse(nil, cycle: "2026-W47") }
    }

    @Test func groupingsAreTheFiveTheIssueNames() throws {
        #expect(StatementGroupings.all.map(\.rawValue) == ["project", "team", "user", "feature", "model"])
        #expect(try StatementGroupings.parse(nil) == .project)
        #expect(throws: TallyError.self) { try StatementGroupings.parse("api_key") }
    }
}

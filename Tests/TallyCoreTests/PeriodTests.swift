import Testing

@testable import TallyCore

@Suite struct BillingCycleTests {
    let berlin = TimeZoneRules(identifier: "Europe/Berlin")!

    func instant(_ text: String) -> Instant { Instant(rfc3339: text)! }

    @Test func cycleStartsOnItsDayAtLocalMidnight() {
        let cycle = BillingCycle.containing(instant("2026-11-23T12:00:00Z"), startDay: 15, zone: berlin)
        #expect(cycle.startDate == CivilDate(year: 2026, month: 11, day: 15))
        #expect(cycle.range.from == instant("2026-11-14T23:00:00Z"))
        #expect(cycle.range.to == instant("2026-12-14T23:00:00Z"))
    }

    @Test func beforeTheStartDayTheCycleBeganLastMonth() {
        // 2026-11-10 is before the 15th: the cycle began on October 15 (Berlin summer time then: UTC+2).
        let cycle = BillingCycle.containing(instant("2026-11-10T08:00:00Z"), startDay: 15, zone: berlin)
        #expect(cycle.startDate == CivilDate(year: 2026, month: 10, day: 15))
        #expect(cycle.range.from == instant("2026-10-14T22:00:00Z"))
        #expect(cycle.previous(zone: berlin).startDate == CivilDate(year: 2026, month: 9, day: 15))
    }

    @Test func localMidnightDecidesTheCycleNotUTC() {
        // 23:30 UTC on Oct 31 is already November 1 in Berlin: a new cycle with start day 1.
        let cycle = BillingCycle.containing(instant("2026-10-31T23:30:00Z"), startDay: 1, zone: berlin)
        #expect(cycle.startDate == CivilDate(year: 2026, month: 11, day: 1))
    }

    @Test func previousCycleAtTheSamePointIsAsLongAsTheCurrentSoFar() {
        let now = instant("2026-11-23T12:00:00Z")
        let cycle = BillingCycle.containing(now, startDay: 1, zone: .utc)
        let current = TimeRange(from: cycle.range.from, to: now)
        let previous = cycle.previous(zone: .utc).elapsed(matching: current)
        #expect(previous.from == instant("2026-10-01T00:00:00Z"))
        #expect(previous.to == instant("2026-10-23T12:00:00Z"))
        // On March 30 the previous cycle (February) ends before "the same point": it is capped at its end.
        let late = instant("2027-03-30T12:00:00Z")
        let march = BillingCycle.containing(late, startDay: 1, zone: .utc)
        let february = march.previous(zone: .utc).elapsed(matching: TimeRange(from: march.range.from, to: late))
        #expect(february.to == instant("2027-03-01T00:00:00Z"))
    }

    @Test func addingMonthsClampsToTheMonthsLastDay() {
        #expect(CivilDate(year: 2026, month: 1, day: 31).addingMonths(1) == CivilDate(year: 2026, month: 2, day: 28))
        #expect(CivilDate(year: 2026, month: 1, day: 15).addingMonths(-1) == CivilDate(year: 2025, month: 12, day: 15))
        #expect(CivilDate(year: 2024, month: 3, day: 31).addingMonths(-1) == CivilDate(year: 2024, month: 2, day: 29))
    }
}

@Suite struct DatePresetTests {
    let now = Instant(rfc3339: "2026-11-23T12:00:00Z")!
    let berlin = TimeZoneRules(identifier: "Europe/Berlin")!

    @Test func presetsAreLocalDays() {
        let today = DatePreset.today.range(now: now, zone: berlin)
        #expect(
            today.from == Instant(rfc3339: "2026-11-22T23:00:00Z")
                && today.to == Instant(rfc3339: "2026-11-23T23:00:00Z"))
        let week = DatePreset.last7Days.range(now: now, zone: berlin)
        #expect(week.from == Instant(rfc3339: "2026-11-16T23:00:00Z"))
        let month = DatePreset.lastMonth.range(now: now, zone: berlin)
        // October 1 is in summer time (UTC+2); November 1 in winter time (UTC+1).
        #expect(
            month.from == Instant(rfc3339: "2026-09-30T22:00:00Z")
                && month.to == Instant(rfc3339: "2026-10-31T23:00:00Z"))
        let thirty = DatePreset.last30Days.range(now: now, zone: .utc)
        #expect(
            thirty.from == Instant(rfc3339: "2026-10-25T00:00:00Z")
                && thirty.to == Instant(rfc3339: "2026-11-24T00:00:00Z"))
    }

    @Test func customRangesIncludeTheirLastDay() {
        let r = DatePreset.custom.range(
            now: now, zone: .utc, from: CivilDate(year: 2026, month: 11, day: 1),
            to: CivilDate(year: 2026, month: 11, day: 2))
        #expect(r.from == Instant(rfc3339: "2026-11-01T00:00:00Z") && r.to == Instant(rfc3339: "2026-11-03T00:00:00Z"))
        #expect(DatePreset.all.range(now: now, zone: .utc).from == nil)
    }
}

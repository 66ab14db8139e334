import Testing

@testable import TallyAggregate
@testable import TallyCore

@Suite struct SummaryPlanTests {
    func query(_ from: String, _ to: String, zone: String = "UTC", grain: TimeGrain? = nil, dims: [UsageDimension] = [])
        -> SummaryQuery
    {
        SummaryQuery(
            organizationID: "o", from: Instant(rfc3339: from)!, to: Instant(rfc3339: to)!,
            timeZone: TimeZoneRules(identifier: zone)!, grain: grain, dimensions: dims, filters: [:])
    }

    @Test func alignedRangeUsesOnlyRollups() {
        let plan = SummaryPlan(query("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", grain: .day, dims: [.model]))
        #expect(plan.table == .byModel, "the narrowest table holding the model")
        #expect(plan.rawRanges.isEmpty)
        // Whole UTC days come from the daily table: two days, one read.
        let nov1 = Instant(rfc3339: "2026-11-01T00:00:00Z")!.hour / 24
        #expect(plan.dayRanges == [SummaryPlan.RollupRange(startHour: nov1, endHour: nov1 + 2, offsetSeconds: 0)])
        #expect(plan.rollupRanges.isEmpty)
    }

    @Test func daysInsideAPeriodComeFromTheDailyTableAndTheirEdgesFromHours() {
        // A Berlin billing cycle so far: from local midnight Nov 1 (23:00Z Oct 31) to 12:30Z Nov 23.
        let plan = SummaryPlan(query("2026-10-31T23:00:00Z", "2026-11-23T12:30:00Z", zone: "Europe/Berlin"))
        let nov1 = Instant(rfc3339: "2026-11-01T00:00:00Z")!.hour / 24
        #expect(plan.dayRanges.map { [$0.startHour, $0.endHour] } == [[nov1, nov1 + 22]])
        #expect(
            plan.rollupRanges.map { [$0.startHour - nov1 * 24, $0.endHour - nov1 * 24] } == [
                [-1, 0], [22 * 24, 22 * 24 + 12],
            ])
        #expect(plan.rawRanges.map { $0.start.rfc3339 } == ["2026-11-23T12:00:00Z"])
        // Grouped by day in Berlin, no UTC day lies inside a local day: hours only.
        let byDay = SummaryPlan(
            query("2026-10-31T23:00:00Z", "2026-11-03T23:00:00Z", zone: "Europe/Berlin", grain: .day))
        #expect(byDay.dayRanges.isEmpty && byDay.rollupRanges.count == 1)
        // By month, the days inside each local month are daily reads, labelled by the local day of their start.
        let byMonth = SummaryPlan(
            query("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z", zone: "America/New_York", grain: .month))
        #expect(byMonth.dayRanges.count >= 2 && byMonth.dayRanges.allSatisfy { $0.offsetSeconds < 0 })
    }

    @Test func partialHoursComeFromRawEvents() {
        let plan = SummaryPlan(query("2026-11-01T00:10:00Z", "2026-11-01T05:30:00Z"))
        let raw: [String] = plan.rawRanges.map { $0.start.rfc3339 + "/" + $0.end.rfc3339 }
        let expected: [String] = [
            "2026-11-01T00:10:00Z/2026-11-01T01:00:00Z", "2026-11-01T05:00:00Z/2026-11-01T05:30:00Z",
        ]
        #expect(raw == expected)
        #expect(plan.rollupRanges.count == 1)
    }

    @Test func halfHourZonesSplitTheStraddlingHour() {
        let plan = SummaryPlan(query("2026-11-19T18:30:00Z", "2026-11-21T18:30:00Z", zone: "Asia/Kolkata", grain: .day))
        // Each local midnight (18:30 UTC) falls mid-hour: those half hours are read raw, labelled by their day.
        #expect(plan.rawRanges.map(\.period) == ["2026-11-20", "2026-11-20", "2026-11-21", "2026-11-21"])
        #expect(plan.rollupRanges.allSatisfy { $0.offsetSeconds == 19_800 })
    }

    @Test func userDimensionUsesTheUserRollupAndMixedNeedsRaw() {
        #expect(SummaryPlan(query("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", dims: [.user])).table == .byUser)
        let mixed = SummaryPlan(query("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", dims: [.user, .feature]))
        #expect(mixed.table == nil && mixed.rollupRanges.isEmpty && mixed.rawRanges.count == 1)
    }

    @Test func weekAndMonthLabels() {
        #expect(PeriodLabel.label(CivilDate(year: 2026, month: 11, day: 22), grain: .week) == "2026-11-16")
        #expect(PeriodLabel.label(CivilDate(year: 2026, month: 11, day: 22), grain: .month) == "2026-11")
    }
}

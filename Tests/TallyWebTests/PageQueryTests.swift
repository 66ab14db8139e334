import TallyCore
import Testing

@testable import TallyWeb

/// The pages' query models, read from the URL's parameters (the controllers only hand the parameters over).
@Suite struct PageQueryTests {
    @Test func reconciliationQueryReadsItsParameters() {
        let now = Instant(rfc3339: "2026-11-23T12:00:00Z")!
        let defaults = ReconciliationPage.Query(query: [:], now: now)
        #expect(
            defaults.from == CivilDate(year: 2026, month: 10, day: 25)
                && defaults.to == CivilDate(year: 2026, month: 11, day: 23))
        #expect(defaults.groupBy == .model && defaults.thresholdPercent == 10)
        let swapped = ReconciliationPage.Query(
            query: ["from": "2026-11-20", "to": "2026-11-01", "group_by": "provider", "threshold": "5000"],
            now: now)
        #expect(
            swapped.from == CivilDate(year: 2026, month: 11, day: 1)
                && swapped.to == CivilDate(year: 2026, month: 11, day: 20))
        #expect(swapped.groupBy == .provider && swapped.thresholdPercent == 1000)
        #expect(
            ReconciliationPage.Query(query: ["threshold": "-3", "group_by": "nonsense"], now: now).thresholdPercent == 0
        )
    }
}

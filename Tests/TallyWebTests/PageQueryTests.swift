import TallyCore
import Testing

@testable import TallyWeb

/// The pages' query models, read from the URL's parameters (the controllers only hand the parameters over).
@Suite struct PageQueryTests {
    /// Issue 22: the explorer groups by a tag (`group_by=tag:<key>`, or the form's `group_by=tag` + `tag_key`) and by
    /// operation; a key a JSON path could not hold plainly is a problem on its field, never a query.
    @Test func theExplorerGroupsByATagOrTheOperation() {
        let linked = UsageExplorer.State(query: ["group_by": "tag:team"])
        #expect(linked.groupByTag == "team" && linked.groupBy == nil && linked.problems.isEmpty)
        #expect(linked.query().contains("group_by=tag%3Ateam") || linked.query().contains("group_by=tag:team"))
        let form = UsageExplorer.State(query: ["group_by": "tag", "tag_key": " geo.region:eu-1 "])
        #expect(form.groupByTag == "geo.region:eu-1" && form.problems.isEmpty)
        #expect(UsageExplorer.State(query: ["group_by": "operation"]).groupBy == .operation)
        for (query, field) in [
            (["group_by": "tag", "tag_key": "a b"], "tag_key"), (["group_by": "tag:\"x\""], "group_by"),
            (["group_by": "tag:"], "group_by"),
        ] {
            let state = UsageExplorer.State(query: query)
            #expect(state.groupByTag == nil && state.problems.map(\.field) == [field], "\(query)")
        }
    }

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

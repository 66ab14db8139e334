import TallyCore
import TallyServices
import Testing

@testable import TallyWeb

/// The Performance page rendered from a fixed report: the percentiles and rates in their columns, names escaped,
/// a group without latencies shown as "—" rather than 0.
@Suite struct PerformancePageTests {
    @Test func theTableShowsEachGroupsFigures() throws {
        let hostile = "<script>alert(1)</script>"
        let model = PerformancePage.Model(
            query: PerformancePage.Query(query: ["group_by": "feature", "preset": "30d"]),
            report: PerformanceReport(
                from: Instant(rfc3339: "2026-11-01T00:00:00Z")!, to: Instant(rfc3339: "2026-11-08T00:00:00Z")!,
                dimensions: [.feature],
                groups: [
                    PerformanceGroup(
                        values: [.feature: hostile], requests: 2_000, errors: 3,
                        latency: (p50: 812, p95: 2_047, p99: 4_100, samples: 2_000),
                        timeToFirstToken: (p50: 240, p95: 610, samples: 900), retries: 12),
                    PerformanceGroup(
                        values: [.feature: nil], requests: 5, errors: 0, latency: nil, timeToFirstToken: nil,
                        retries: 0),
                ],
                totals: PerformanceGroup(
                    values: [:], requests: 2_005, errors: 3,
                    latency: (p50: 810, p95: 2_040, p99: 4_090, samples: 2_000),
                    timeToFirstToken: nil, retries: 12)),
            names: [:])
        let html = PerformancePage.render(Sample.page(.viewer, section: .performance), model)
        try Snapshot.check(html, "performance")
        #expect(!html.contains("<script>alert") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(
            html.contains("99.8%") && html.contains("2,047 ms") && html.contains("4,100 ms") && html.contains("610 ms"))
        #expect(html.contains("(none)") && html.contains("<td class=\"num\">—</td>"))
        #expect(model.query.groupBy == .feature && model.query.preset == .last30Days)
    }
}

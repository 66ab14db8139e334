import Foundation
import TallyCore
import TallyForecast
import TallyServices
import TallyTestSupport
import Testing

@testable import TallyWeb

/// Anomaly markers on the daily charts (issue 18): a marked day carries a triangle whose `<title>` names the day, its
/// cost and its expected band; a source that fails leaves the chart unmarked.
@Suite struct AnomalyMarkerTests {
    /// Answers one anomaly of the organization on 2026-12-10 (and one of a project, which a page's chart ignores).
    struct OneAnomaly: ForecastSource {
        var fail = false
        func forecast(_ request: ForecastRequest) async throws -> ForecastAnswer {
            throw TallyError.unavailable("not asked")
        }
        func anomalies(_ request: AnomalyRequest) async throws -> [Anomaly] {
            if fail { throw TallyError.unavailable("down") }
            let band = Quantiles(
                p1: USD(decimal: "1.5")!, p10: USD(decimal: "1.8")!, p50: USD(decimal: "2")!,
                p90: USD(decimal: "3")!, p99: USD(decimal: "6")!)
            let day = CivilDate(year: 2026, month: 12, day: 10)
            return [
                Anomaly(
                    day: day, dimension: nil, value: nil, cost: USD(decimal: "32")!, expected: band, contributors: []),
                Anomaly(
                    day: day.addingDays(1), dimension: .project, value: "prj_1", cost: USD(decimal: "9")!,
                    expected: band, contributors: []),
            ]
        }
    }

    static func chart() -> StackedBarChart {
        let first = CivilDate(year: 2026, month: 12, day: 8)
        return StackedBarChart(
            id: "c", title: "t", series: ["openai"],
            bars: (0..<4).map { i in
                let day = first.addingDays(Int64(i))
                return StackedBarChart.Bar(label: Format.day(day), fullLabel: day.description, values: [2_000_000_000])
            }, format: { Format.money(USD(nanos: $0)) }, axisFormat: { Format.money(USD(nanos: $0)) })
    }

    static func mark(_ source: OneAnomaly) async -> StackedBarChart {
        var chart = chart()
        let labels = chart.bars.map(\.fullLabel)
        await AnomalyMarkers.mark(
            &chart, source: source, organizationID: "org_1",
            days: CivilDate(year: 2026, month: 12, day: 8)...CivilDate(year: 2026, month: 12, day: 11), filters: [:],
            now: at("2026-12-12T00:00:00Z"), day: { CivilDate(parsing: labels[$0]) })
        return chart
    }

    @Test func theOrganizationsUnusualDayIsMarkedWithItsFigures() async {
        let chart = await Self.mark(OneAnomaly())
        #expect(chart.markers.keys.sorted() == [2])
        let svg = chart.svg()
        #expect(svg.components(separatedBy: "class=\"anomaly\"").count == 2)
        #expect(
            svg.contains(
                "<title>Unusual day: Dec 10, 2026 cost $32.00, expected $1.50 to $6.00 (usually $2.00)</title>"))
    }

    @Test func aFailingSourceLeavesTheChartUnmarked() async {
        let chart = await Self.mark(OneAnomaly(fail: true))
        #expect(chart.markers.isEmpty && !chart.svg().contains("anomaly"))
    }

    @Test func aMarkersTitleIsEscaped() {
        var chart = Self.chart()
        chart.markers[0] = "<script>alert(1)</script>"
        #expect(!chart.svg().contains("<script>") && chart.svg().contains("&lt;script&gt;"))
    }
}

import TallyCore
import TallyForecast
import TallyServices

/// Anomaly markers on the overview's and the explorer's daily charts (issue 18): the days that are anomalies for the
/// page's scope (the organization within the page's filters), each marked with the day, its cost and its expected
/// band. A chart is a view of spend, not a place to fail: an error reading them shows no markers.
package enum AnomalyMarkers {
    /// Marks the bars of `chart` whose local day (`day(index)`) is an anomaly.
    package static func mark(
        _ chart: inout StackedBarChart, source: (any ForecastSource)?, organizationID: String,
        days: ClosedRange<CivilDate>, filters: DimensionFilters, now: Instant, day: (Int) -> CivilDate?
    ) async {
        guard let source,
            days.upperBound.daysSinceEpoch - days.lowerBound.daysSinceEpoch < Int64(AnomalyRequest.longestRange)
        else { return }
        let found =
            (try? await source.anomalies(
                AnomalyRequest(
                    organizationID: organizationID, from: days.lowerBound, to: days.upperBound, filters: filters,
                    now: now, perValue: false, explain: false))) ?? []
        let byDay = Dictionary(
            found.filter { $0.dimension == nil }.map { ($0.day, $0) }, uniquingKeysWith: { a, _ in a })
        guard !byDay.isEmpty else { return }
        for index in chart.bars.indices {
            guard let date = day(index), let a = byDay[date] else { continue }
            chart.markers[index] = note(a)
        }
    }

    /// "Unusual day: Thu 10 Dec 2026 cost $32.00, expected $1.50 to $6.00 (usually $2.00)".
    package static func note(_ a: Anomaly) -> String {
        "Unusual day: \(Format.day(a.day, year: true)) cost \(Format.money(a.cost)), expected "
            + "\(Format.money(a.expected.p1)) to \(Format.money(a.expected.p99)) (usually \(Format.money(a.expected.p50)))"
    }
}

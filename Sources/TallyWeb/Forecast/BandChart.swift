import Plot
import TallyCore
import TallyForecast

/// A line chart with a forecast band, drawn as SVG by Tally itself: the history as a solid line, the forecast's
/// p50 as a dashed line inside its p10–p90 band, and optionally a level (a budget's amount) as a horizontal line.
/// Every figure is also in the page's table, so the chart has a text alternative.
package struct BandChart: Sendable {
    package struct Point: Sendable, Equatable {
        package var day: CivilDate
        package var value: USD
    }
    package struct BandPoint: Sendable, Equatable {
        package var day: CivilDate
        package var band: Quantiles
    }

    package var id: String
    package var title: String
    package var history: [Point]
    package var forecast: [BandPoint]
    /// A horizontal line and its label (e.g. "Budget $500.00").
    package var level: (value: USD, label: String)?

    static let width = 720, height = 260, left = 72, right = 12, top = 12, bottom = 26

    package func svg() -> String {
        let days: [CivilDate] = history.map(\.day) + forecast.map(\.day)
        guard let first = days.min(), let last = days.max() else { return "" }
        var highest: Int64 = level?.value.nanos ?? 0
        for point in history { highest = max(highest, point.value.nanos) }
        for point in forecast { highest = max(highest, point.band.p90.nanos) }
        let maximum = max(highest, 1)
        let step = StackedBarChart.niceStep(maximum / 4 + 1)
        let ceiling = max(step * 4, step * ((maximum + step - 1) / step))
        let span = Double(max(last.daysSinceEpoch - first.daysSinceEpoch, 1))
        let plotWidth = Double(Self.width - Self.left - Self.right)
        let plotHeight = Double(Self.height - Self.top - Self.bottom)
        func x(_ day: CivilDate) -> String {
            fmt(Double(Self.left) + plotWidth * Double(day.daysSinceEpoch - first.daysSinceEpoch) / span)
        }
        func y(_ value: USD) -> String {
            fmt(Double(Self.top) + plotHeight * (1 - Double(min(value.nanos, ceiling)) / Double(ceiling)))
        }
        var out =
            "<svg class=\"band-chart\" role=\"img\" aria-labelledby=\"\(escape(id))-title\" "
            + "viewBox=\"0 0 \(Self.width) \(Self.height)\" xmlns=\"http://www.w3.org/2000/svg\">"
            + "<title id=\"\(escape(id))-title\">\(escape(title))</title>"
        var tick: Int64 = 0
        while tick <= ceiling {
            let ty = y(USD(nanos: tick))
            out +=
                "<line class=\"grid-line\" x1=\"\(Self.left)\" x2=\"\(Self.width - Self.right)\" y1=\"\(ty)\" y2=\"\(ty)\"/>"
                + "<text class=\"axis\" x=\"\(Self.left - 6)\" y=\"\(ty)\" dy=\"4\" text-anchor=\"end\">"
                + "\(escape(Format.money(USD(nanos: tick))))</text>"
            tick += step
        }
        for day in [first, forecast.first?.day ?? last, last] {
            out +=
                "<text class=\"axis\" x=\"\(x(day))\" y=\"\(Self.height - 8)\" text-anchor=\"middle\">"
                + "\(escape(Format.day(day)))</text>"
        }
        if !forecast.isEmpty {
            let upper = forecast.map { "\(x($0.day)),\(y($0.band.p90))" }
            let lower = forecast.reversed().map { "\(x($0.day)),\(y($0.band.p10))" }
            out +=
                "<polygon class=\"band\" points=\"\((upper + lower).joined(separator: " "))\"><title>"
                + "\(escape("The range the forecast expects 8 days in 10 (p10 to p90)"))</title></polygon>"
            let median = forecast.map { "\(x($0.day)),\(y($0.band.p50))" }
            out += "<polyline class=\"p50\" points=\"\(median.joined(separator: " "))\"></polyline>"
        }
        if !history.isEmpty {
            let line = history.map { "\(x($0.day)),\(y($0.value))" }
            out += "<polyline class=\"history\" points=\"\(line.joined(separator: " "))\"></polyline>"
        }
        if let level {
            let ly = y(level.value)
            out +=
                "<line class=\"level\" x1=\"\(Self.left)\" x2=\"\(Self.width - Self.right)\" y1=\"\(ly)\" y2=\"\(ly)\">"
                + "<title>\(escape(level.label))</title></line>"
                + "<text class=\"level-label\" x=\"\(Self.width - Self.right)\" y=\"\(ly)\" dy=\"-4\" "
                + "text-anchor=\"end\">\(escape(level.label))</text>"
        }
        return out + "</svg>"
    }

    private func fmt(_ v: Double) -> String { String(Double(Int(v * 10)) / 10) }
}

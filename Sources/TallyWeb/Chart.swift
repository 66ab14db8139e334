import Plot

/// A stacked bar chart drawn as SVG by Tally itself (no chart library): one bar per period, one colour per series.
/// Every bar segment has a `<title>`, and the same figures follow as a table, so the chart has a text alternative.
package struct StackedBarChart: Sendable {
    package struct Bar: Sendable {
        /// Short axis label (`Nov 20`) and the full one used in titles and the table.
        package var label: String
        package var fullLabel: String
        /// One value per series, in `series` order.
        package var values: [Int64]
        /// Saturates: a day of 10^18 nano-dollars (hostile, or a real bill) draws a full bar rather than trapping.
        package var total: Int64 {
            values.reduce(0) { sum, v in
                let (s, overflow) = sum.addingReportingOverflow(v)
                return overflow ? (v < 0 ? .min : .max) : s
            }
        }
    }

    package var id: String
    package var title: String
    package var series: [String]
    package var bars: [Bar]
    package var format: @Sendable (Int64) -> String
    package var axisFormat: @Sendable (Int64) -> String
    /// Bars marked as unusual (issue 18: anomalies), by index, with the `<title>` their marker carries.
    package var markers: [Int: String] = [:]
    /// `line` draws each bar's total as a point of one line (the overview's "Line" view), the series summed.
    package var style: Style = .bars

    package enum Style: String, Sendable { case bars, line }

    package static let width = 720, height = 240, left = 64, right = 8, top = 10, bottom = 26

    package func node() -> Node<HTML.BodyContext> {
        .element(
            named: "figure",
            nodes: [
                .attribute(named: "id", value: id),
                .raw(svg()),
                .ul(
                    .class("legend"),
                    .forEach(series.enumerated()) { i, name in
                        .li(
                            .span(.class("swatch s\(i % 6)"), .attribute(named: "aria-hidden", value: "true")),
                            .text(name))
                    }),
                .element(
                    named: "details",
                    nodes: [
                        .element(named: "summary", text: "Show these figures as a table"),
                        .div(.class("table-wrap"), table()),
                    ]),
            ])
    }

    package func svg() -> String {
        let w = Self.width, h = Self.height
        let plotWidth = w - Self.left - Self.right, plotHeight = h - Self.top - Self.bottom
        // Capped so the scale's arithmetic (steps times ten) stays inside Int64; a taller bar is drawn to the top.
        let maximum = min(max(bars.map(\.total).max() ?? 0, 1), Self.largestScale)
        let step = Self.niceStep(maximum / 4 + 1)
        let ceiling = max(step * 4, step * ((maximum + step - 1) / step))
        func y(_ v: Int64) -> Double {
            Double(Self.top) + Double(plotHeight) * (1 - Double(min(max(v, 0), ceiling)) / Double(ceiling))
        }
        var out =
            "<svg role=\"img\" aria-labelledby=\"\(id)-title\" viewBox=\"0 0 \(w) \(h)\" xmlns=\"http://www.w3.org/2000/svg\">"
        out += "<title id=\"\(id)-title\">\(escape(title))</title>"
        var tick: Int64 = 0
        while tick <= ceiling {
            let ty = y(tick)
            out +=
                "<line class=\"grid-line\" x1=\"\(Self.left)\" x2=\"\(w - Self.right)\" y1=\"\(fmt(ty))\" y2=\"\(fmt(ty))\"/>"
            out +=
                "<text class=\"axis\" x=\"\(Self.left - 6)\" y=\"\(fmt(ty + 4))\" text-anchor=\"end\">\(escape(axisFormat(tick)))</text>"
            tick += step
        }
        if !bars.isEmpty {
            let slot = Double(plotWidth) / Double(bars.count)
            let barWidth = max(slot * 0.72, 1)
            let labelEvery = max(1, Int((Double(bars.count) * 46 / Double(plotWidth)).rounded(.up)))
            if style == .line {
                let points = bars.enumerated().map { index, bar in
                    "\(fmt(Double(Self.left) + slot * (Double(index) + 0.5))),\(fmt(y(bar.total)))"
                }
                out += "<polyline class=\"spend-line\" fill=\"none\" points=\"\(points.joined(separator: " "))\"/>"
            }
            for (index, bar) in bars.enumerated() {
                let x = Double(Self.left) + slot * Double(index) + (slot - barWidth) / 2
                if style == .line {
                    out +=
                        "<circle class=\"spend-point\" cx=\"\(fmt(x + barWidth / 2))\" cy=\"\(fmt(y(bar.total)))\" r=\"3.5\">"
                        + "<title>\(escape(bar.fullLabel)): \(escape(format(bar.total)))</title></circle>"
                }
                var base: Int64 = 0
                out += "<g><title>\(escape(bar.fullLabel)): \(escape(format(bar.total)))</title>"
                for (s, value) in bar.values.enumerated() where value > 0 && style == .bars {
                    let y0 = y(base + value), y1 = y(base)
                    out +=
                        "<rect class=\"s\(s % 6)\" x=\"\(fmt(x))\" y=\"\(fmt(y0))\" width=\"\(fmt(barWidth))\" height=\"\(fmt(max(y1 - y0, 0.5)))\">"
                    out +=
                        "<title>\(escape(bar.fullLabel)) · \(escape(series[s])): \(escape(format(value)))</title></rect>"
                    base += value
                }
                out += "</g>"
                if let note = markers[index] {
                    // A triangle pointing down at the bar's top.
                    let (cx, top) = (x + barWidth / 2, y(bar.total) - 2)
                    out +=
                        "<path class=\"anomaly\" d=\"M\(fmt(cx)) \(fmt(top))l-5 -8h10z\"><title>\(escape(note))</title></path>"
                }
                if index % labelEvery == 0 {
                    out +=
                        "<text class=\"axis\" x=\"\(fmt(x + barWidth / 2))\" y=\"\(h - 8)\" text-anchor=\"middle\">\(escape(bar.label))</text>"
                }
            }
        }
        return out + "</svg>"
    }

    package func table() -> Node<HTML.BodyContext> {
        .table(
            .caption(.text(title)),
            .thead(.tr(.th("Period"), .forEach(series) { .th(.class("num"), .text($0)) }, .th(.class("num"), "Total"))),
            .tbody(
                .forEach(bars) { bar in
                    .tr(
                        .td(.text(bar.fullLabel)), .forEach(bar.values) { .td(.class("num"), .text(format($0))) },
                        .td(.class("num"), .text(format(bar.total))))
                })
        )
    }

    /// The largest value a scale reaches (10^18): its steps, times four or ten, still fit in Int64.
    static let largestScale: Int64 = 1_000_000_000_000_000_000

    /// 1, 2 or 5 times a power of ten, at least `raw` (at most `largestScale`).
    package static func niceStep(_ raw: Int64) -> Int64 {
        let raw = min(raw, largestScale / 10)
        var power: Int64 = 1
        while power * 10 <= raw { power *= 10 }
        for m: Int64 in [1, 2, 5, 10] where m * power >= raw { return m * power }
        return power * 10
    }

    private func fmt(_ v: Double) -> String { String(Double(Int(v * 10)) / 10) }
}

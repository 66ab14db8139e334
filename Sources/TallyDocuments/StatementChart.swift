import TallyCore
import TallyPDF

/// The daily spend chart, drawn as vectors: a bar per day of the period, the previous period as a dashed line (its
/// first day over this period's first day), gridlines at 3 or 4 round amounts labelled in money, and a few day labels.
struct StatementChart {
    var days: [StatementDay]
    var previous: [StatementDay]
    var previousTitle: String
    var theme: DocumentTheme

    func draw(on page: inout PDFPage, in frame: PDFRect) {
        let t = theme
        let labelStyle = t.text(7, t.muted)
        // A billion dollars a day at most: past it (no real day) bars are cut at the top rather than the scale's
        // arithmetic overflowing.
        let peak = min((days + previous).map { max($0.cost.nanos, 0) }.max() ?? 0, Self.ceiling)
        let step = Self.gridStep(peak: peak)
        let lines = peak == 0 ? 0 : Int((peak + step - 1) / step)
        let labels = (0...lines).map { StatementFigures.money(USD(nanos: Int64($0) * step)) }
        let axisWidth = (labels.map { labelStyle.width(of: $0) }.max() ?? 0) + 10
        let plot = PDFRect(
            x: frame.x + axisWidth, y: frame.y, width: frame.width - axisWidth, height: frame.height - 18)
        let top = Double(max(Int64(lines) * step, 1))
        func y(_ nanos: Int64) -> Double { plot.maxY - min(Double(max(nanos, 0)) / top, 1) * plot.height }

        for (index, label) in labels.enumerated() {
            let lineY = y(Int64(index) * step)
            let rule =
                index == 0
                ? PDFStrokeStyle(color: t.divider, width: 1)
                : PDFStrokeStyle(color: t.divider, width: 0.5, dash: [2, 2])
            page.drawLine(from: PDFPoint(x: plot.x, y: lineY), to: PDFPoint(x: plot.maxX, y: lineY), style: rule)
            page.drawText(label, x: plot.x - 6, y: lineY + 2.5, style: labelStyle, alignment: .right)
        }

        // Slots for the longer of the two periods, so a 31-day previous month is drawn whole beside a 30-day one.
        let slots = max(days.count, previous.count, 1)
        let slot = plot.width / Double(slots)
        let barWidth = min(slot * 0.64, 18)
        func center(_ index: Int) -> Double { plot.x + slot * (Double(index) + 0.5) }
        for (index, day) in days.enumerated() where day.cost.nanos > 0 {
            let barTop = y(day.cost.nanos)
            // A day too small to see still gets a sliver, so "no spend" and "very little" look different.
            let height = max(plot.maxY - barTop, 0.8)
            page.drawRect(
                PDFRect(x: center(index) - barWidth / 2, y: plot.maxY - height, width: barWidth, height: height),
                fill: t.accent, cornerRadius: min(1.5, barWidth / 4))
        }
        let dashed = PDFStrokeStyle(color: t.secondary, width: 1.1, dash: [3, 2])
        let points = previous.enumerated().map { PDFPoint(x: center($0.offset), y: y($0.element.cost.nanos)) }
        if points.count == 1 {
            // One day (a day's statement): a short level line across its slot.
            page.drawLine(
                from: PDFPoint(x: points[0].x - slot / 3, y: points[0].y),
                to: PDFPoint(x: points[0].x + slot / 3, y: points[0].y), style: dashed)
        } else {
            page.drawPolyline(points, style: dashed)
        }

        let every = days.count <= 8 ? 1 : 7
        for index in stride(from: 0, to: days.count, by: every) {
            page.drawText(
                PeriodNames.short(days[index].date), x: center(index), y: plot.maxY + 12, style: labelStyle,
                alignment: .center)
        }
        if peak == 0 {
            page.drawText(
                "No spend in either period", x: plot.x + plot.width / 2, y: plot.y + plot.height / 2,
                style: t.text(9, t.muted), alignment: .center)
        }
        legend(on: &page, right: plot.maxX, y: frame.y - 14, dashed: dashed)
    }

    private func legend(on page: inout PDFPage, right: Double, y: Double, dashed: PDFStrokeStyle) {
        let t = theme
        let style = t.text(7.5, t.secondary)
        var x = right
        x -= t.draw("Previous: \(previousTitle)", on: &page, x: x, y: y, width: 200, style: style, alignment: .right)
        page.drawLine(from: PDFPoint(x: x - 22, y: y - 2.5), to: PDFPoint(x: x - 6, y: y - 2.5), style: dashed)
        x -= 34
        x -= page.drawText("This period", x: x, y: y, style: style, alignment: .right)
        page.drawRect(PDFRect(x: x - 14, y: y - 7, width: 8, height: 8), fill: t.accent, cornerRadius: 1.5)
    }

    /// The gridline spacing in nano-dollars: the smallest of 1, 2, 2.5 and 5 times a power of ten (at least a
    /// micro-dollar, the finest amount `money` prints) that covers `peak` in at most 4 steps. The step before it
    /// needed 5 or more, and the next is at most twice as large, so 3 or 4 gridlines are drawn above zero whenever
    /// the peak is more than a few micro-dollars.
    static func gridStep(peak: Int64) -> Int64 {
        let peak = min(max(peak, 0), ceiling)
        var power: Int64 = 1000
        while true {
            for factor in [10, 20, 25, 50] as [Int64] {
                let step = power * factor / 10
                if peak <= step * 4 { return step }
            }
            power *= 10
        }
    }

    /// One billion dollars in nano-dollars: the highest day the scale is drawn for.
    static let ceiling: Int64 = 1_000_000_000_000_000_000
}

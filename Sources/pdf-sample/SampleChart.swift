import TallyPDF

/// A daily spend chart drawn as vectors: a bar per day, a line for the 7-day average, dollar gridlines on a
/// rounded scale, and day labels every few days.
func drawDailySpendChart(on page: inout PDFPage, in frame: PDFRect, dailyNanos: [Int64], theme t: Theme) {
    let axisLabelWidth = 40.0
    let plot = PDFRect(
        x: frame.x + axisLabelWidth, y: frame.y, width: frame.width - axisLabelWidth, height: frame.height - 18)
    let peak = Double(dailyNanos.max() ?? 0) / 1e9
    let step = niceStep(peak / 4)
    let top = step * Double(Int(peak / step) + 1)
    func yFor(_ dollars: Double) -> Double { plot.maxY - dollars / top * plot.height }

    // Gridlines with their dollar labels, the baseline solid and the others dashed.
    var tick = 0.0
    while tick <= top + step / 2 {
        let y = yFor(tick)
        let rule =
            tick == 0
            ? PDFStrokeStyle(color: t.divider, width: 1) : PDFStrokeStyle(color: t.divider, width: 0.5, dash: [2, 2])
        page.drawLine(from: PDFPoint(x: plot.x, y: y), to: PDFPoint(x: plot.maxX, y: y), style: rule)
        page.drawText("$\(Int(tick))", x: plot.x - 8, y: y + 2.5, style: t.text(7, t.muted), alignment: .right)
        tick += step
    }

    let slot = plot.width / Double(dailyNanos.count)
    let barWidth = slot * 0.62
    var averagePoints: [PDFPoint] = []
    for (day, nanos) in dailyNanos.enumerated() {
        let dollars = Double(nanos) / 1e9
        let center = plot.x + slot * (Double(day) + 0.5)
        let barTop = yFor(dollars)
        page.drawRect(
            PDFRect(x: center - barWidth / 2, y: barTop, width: barWidth, height: plot.maxY - barTop),
            fill: t.accentSoft,
            cornerRadius: 1.5)
        let window = dailyNanos[max(0, day - 6)...day]
        let average = Double(window.reduce(0, +)) / Double(window.count) / 1e9
        averagePoints.append(PDFPoint(x: center, y: yFor(average)))
        if day == 0 || (day + 1) % 5 == 0 {
            page.drawText("\(day + 1)", x: center, y: plot.maxY + 12, style: t.text(7, t.muted), alignment: .center)
        }
    }
    page.drawPolyline(averagePoints, style: PDFStrokeStyle(color: t.accent, width: 1.6))

    // Legend, top right above the plot.
    let legendY = frame.y - 12
    var x = plot.maxX
    x -= page.drawText("7-day average", x: x, y: legendY, style: t.text(7.5, t.secondary), alignment: .right)
    page.drawLine(
        from: PDFPoint(x: x - 20, y: legendY - 2.5), to: PDFPoint(x: x - 6, y: legendY - 2.5),
        style: PDFStrokeStyle(color: t.accent, width: 1.6))
    x -= 34
    x -= page.drawText("Daily spend", x: x, y: legendY, style: t.text(7.5, t.secondary), alignment: .right)
    page.drawRect(PDFRect(x: x - 14, y: legendY - 7, width: 8, height: 8), fill: t.accentSoft, cornerRadius: 1.5)
}

/// A step of 1, 2, 2.5 or 5 times a power of ten, at least `rough`: gridlines at round dollar amounts.
func niceStep(_ rough: Double) -> Double {
    var power = 1.0
    while power * 10 <= rough { power *= 10 }
    while power > rough && power > 0.01 { power /= 10 }
    for factor in [1.0, 2, 2.5, 5, 10] where factor * power >= rough { return factor * power }
    return 10 * power
}

import TallyPDF

/// A monthly statement: headline figures, the daily spend chart, a table per provider, and a daily detail table
/// that flows onto the second page with its header repeated.
func sampleStatement(_ t: Theme) -> PDFDocument {
    let days = 31
    // Fixed, made-up spend: a weekday rhythm plus a deterministic wobble (no random numbers in a sample either).
    var seed: UInt64 = 0x5EED
    let dailyNanos: [Int64] = (0..<days).map { day in
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let weekend = day % 7 == 2 || day % 7 == 3  // 1 January 2026 is a Thursday
        let base: Int64 = weekend ? 14_000_000_000 : 38_000_000_000 + Int64(day) * 600_000_000
        return base + Int64(seed >> 33) % 12_000_000_000
    }
    // Per model: calls, tokens, and a weight that shares the month's spend out, so every total agrees.
    let providers: [(name: String, models: [(name: String, calls: Int64, tokens: Int64, weight: Int64)])] = [
        (
            "Anthropic",
            [
                ("claude-sonnet-4-5", 18_204, 412_880_114, 41), ("claude-haiku-4-5", 9_912, 120_400_551, 9),
                ("claude-opus-4-1", 611, 18_220_400, 14), ("claude-sonnet-4-5 · 東京チーム", 2_480, 61_004_220, 6),
            ]
        ),
        (
            "OpenAI",
            [
                ("gpt-5", 7_420, 160_220_104, 21), ("gpt-5-mini", 12_880, 98_442_870, 6),
                ("text-embedding-3-large", 40_118, 80_236_000, 3),
            ]
        ),
    ]
    let models = providers.flatMap(\.models)
    let monthTotal = dailyNanos.reduce(0, +)
    let totalCalls = models.reduce(0) { $0 + $1.calls }
    let totalTokens = models.reduce(0) { $0 + $1.tokens }
    var modelAmounts = apportion(monthTotal, by: models.map(\.weight))
    let dailyCalls = apportion(totalCalls, by: dailyNanos)
    let dailyTokens = apportion(totalTokens, by: dailyNanos)

    var document = PDFDocument(
        info: PDFDocumentInfo(
            title: "Tally statement, January 2026", author: "Tally", subject: "Acme Research", creator: "Tally",
            creationDate: PDFDate(year: 2026, month: 2, day: 1)))
    document.addPage(size: .a4)
    var page = document.pages[0]
    let left = t.margin
    let right = page.size.width - t.margin
    let width = right - left

    drawMasthead(
        on: &page, t, kind: "Monthly statement", title: "January 2026",
        subtitle: "Acme Research · org_7f3a9c · 1–31 January 2026, UTC")

    let cards = [
        ("TOTAL SPEND", usdCents(monthTotal)), ("API CALLS", grouped(totalCalls)),
        ("TOKENS", "\(totalTokens / 1_000_000).\(totalTokens / 100_000 % 10)M"),
        ("DAILY AVERAGE", usdCents(monthTotal / Int64(days))),
    ]
    let gap = 10.0
    let cardWidth = (width - gap * Double(cards.count - 1)) / Double(cards.count)
    for (index, (label, value)) in cards.enumerated() {
        let x = left + Double(index) * (cardWidth + gap)
        page.drawRect(PDFRect(x: x, y: 162, width: cardWidth, height: 58), fill: t.panel, cornerRadius: 6)
        page.drawText(label, x: x + 12, y: 184, style: t.label)
        page.drawText(value, x: x + 12, y: 206, style: t.strong(13))
    }

    page.drawText("DAILY SPEND", x: left, y: 258, style: t.label)
    drawDailySpendChart(
        on: &page, in: PDFRect(x: left, y: 274, width: width, height: 150), dailyNanos: dailyNanos, theme: t)
    document.pages[0] = page

    let bottom = 780.0
    let top = 96.0
    // The daily detail starts under the chart and flows onto page 2, where its header is repeated.
    var dailyRows: [PDFTable.Row] = []
    for (day, nanos) in dailyNanos.enumerated() {
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][day % 7]
        dailyRows.append([
            "\(weekday) \(day + 1) January", grouped(dailyCalls[day]), grouped(dailyTokens[day]), usdCents(nanos),
        ])
    }
    dailyRows.append(
        PDFTable.Row(["Total", grouped(totalCalls), grouped(totalTokens), usdCents(monthTotal)], style: t.strong(9.5)))
    var cursor = drawGroup(
        "Daily detail", rows: dailyRows, firstColumn: "Day", in: &document, at: PDFCursor(page: 0, y: 462), theme: t,
        bottom: bottom, top: top)
    for provider in providers {
        let amounts = Array(modelAmounts.prefix(provider.models.count))
        modelAmounts.removeFirst(provider.models.count)
        var rows = zip(provider.models, amounts).map { model, amount -> PDFTable.Row in
            [model.name, grouped(model.calls), grouped(model.tokens), usdCents(amount)]
        }
        let total = PDFTable.Row(
            [
                "Total \(provider.name)", grouped(provider.models.reduce(0) { $0 + $1.calls }),
                grouped(provider.models.reduce(0) { $0 + $1.tokens }), usdCents(amounts.reduce(0, +)),
            ], style: t.strong(9.5))
        rows.append(total)
        cursor = drawGroup(
            provider.name, rows: rows, firstColumn: "Model", in: &document, at: cursor, theme: t, bottom: bottom,
            top: top)
    }

    for index in document.pages.indices {
        if index > 0 {
            document.pages[index].drawText("Tally", x: left, y: 64, style: t.strong(14, t.accent))
            document.pages[index].drawText(
                "January 2026 · continued", x: right, y: 64, style: t.text(10, t.muted), alignment: .right)
        }
        document.pages[index].drawLine(
            from: PDFPoint(x: left, y: 792), to: PDFPoint(x: right, y: 792), style: t.hairline)
        document.pages[index].drawText(
            "Tally — self-hosted LLM usage and cost", x: left, y: 808, style: t.text(8, t.muted))
        document.pages[index].drawText(
            "Page \(index + 1) of \(document.pages.count)", x: right, y: 808, style: t.text(8, t.muted),
            alignment: .right)
    }
    return document
}

/// A group heading and its table; the heading moves to the next page with the table when there is no room.
private func drawGroup(
    _ title: String, rows: [PDFTable.Row], firstColumn: String, in document: inout PDFDocument,
    at start: PDFCursor, theme t: Theme, bottom: Double, top: Double
) -> PDFCursor {
    let width = document.pages[start.page].size.width - 2 * t.margin
    let columns: [PDFTable.Column] = [
        .init(firstColumn, width: 205), .init("Calls", width: 70, alignment: .right),
        .init("Tokens", width: 100, alignment: .right), .init("Amount", width: width - 375, alignment: .right),
    ]
    var table = PDFTable(
        columns: columns, rows: rows, headerStyle: t.strong(8, t.secondary), bodyStyle: t.text(9.5), rowHeight: 20)
    table.cellPadding = 8
    table.headerFill = t.panel
    table.rowSeparator = .rules(t.hairline)
    var cursor = start
    if cursor.y + 28 + table.rowHeight * 2 > bottom {
        if cursor.page + 1 == document.pages.count { document.addPage(size: document.pages[cursor.page].size) }
        cursor = PDFCursor(page: cursor.page + 1, y: top)
    }
    document.pages[cursor.page].drawText(title, x: t.margin, y: cursor.y, style: t.strong(12))
    cursor.y += 12
    cursor = table.draw(in: &document, at: cursor, x: t.margin, bottom: bottom, continuationTop: top)
    cursor.y += 28
    return cursor
}

/// `total` shared out in proportion to `weights`, by largest remainder, so the parts add up to it exactly.
private func apportion(_ total: Int64, by weights: [Int64]) -> [Int64] {
    let sum = weights.reduce(0, +)
    guard sum > 0 else { return weights.map { _ in 0 } }
    var parts = weights.map { Int64((Int128(total) * Int128($0)) / Int128(sum)) }
    let remainders = weights.indices.sorted { a, b in
        let ra = (Int128(total) * Int128(weights[a])) % Int128(sum)
        let rb = (Int128(total) * Int128(weights[b])) % Int128(sum)
        return ra != rb ? ra > rb : a < b
    }
    for index in remainders.prefix(Int(total - parts.reduce(0, +))) { parts[index] += 1 }
    return parts
}

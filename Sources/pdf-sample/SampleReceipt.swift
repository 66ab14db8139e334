import TallyPDF

/// A receipt for one API call, laid out like a payment receipt: title, key facts, an itemised summary of the
/// token classes with their unit prices, the total, and a note on where the prices came from.
func sampleReceipt(_ t: Theme) -> PDFDocument {
    let lines: [(tokenClass: String, tokens: Int64, pricePerMillion: Int64)] = [
        ("Input", 12_480, 3_000_000_000),
        ("Cache read", 48_000, 300_000_000),
        ("Cache write (5 min)", 2_048, 3_750_000_000),
        ("Output", 1_536, 15_000_000_000),
    ]
    let amounts = lines.map { $0.tokens * $0.pricePerMillion / 1_000_000 }
    let total = amounts.reduce(0, +)

    var document = PDFDocument(
        info: PDFDocumentInfo(
            title: "Receipt req_01JH8Z3K7Q6W2N4V5X9Y", author: "Tally", creator: "Tally",
            creationDate: PDFDate(year: 2026, month: 1, day: 14, hour: 9, minute: 41, second: 7)))
    document.addPage(size: .a4)
    var page = document.pages[0]
    let left = t.margin
    let right = page.size.width - t.margin
    let width = right - left

    drawMasthead(
        on: &page, t, kind: "Receipt", title: "Receipt for an API call", subtitle: "req_01JH8Z3K7Q6W2N4V5X9Y")

    let facts = [
        ("AMOUNT", usd(total)), ("DATE (UTC)", "14 Jan 2026, 09:41:07"), ("MODEL", "claude-sonnet-4-5"),
        ("PROJECT", "東京チーム 🚀"),
    ]
    let factWidths = [92.0, 138, 140, width - 370]
    var x = left
    for ((label, value), factWidth) in zip(facts, factWidths) {
        page.drawText(label, x: x, y: 180, style: t.label)
        page.drawText(
            t.regular.truncated(value, toWidth: factWidth - 12, size: 10.5), x: x, y: 197, style: t.text(10.5))
        x += factWidth
    }

    page.drawText("SUMMARY", x: left, y: 246, style: t.label)
    let panelTop = 258.0
    let inset = 16.0
    var table = PDFTable(
        columns: [
            .init("Token class", width: 168), .init("Tokens", width: 82, alignment: .right),
            .init("Price / 1M", width: 96, alignment: .right),
            .init("Amount", width: width - 2 * inset - 346, alignment: .right),
        ],
        rows: zip(lines, amounts).map { line, amount in
            [line.tokenClass, grouped(line.tokens), usd(line.pricePerMillion), usd(amount)]
        },
        headerStyle: t.strong(8.5, t.secondary), bodyStyle: t.text(10), rowHeight: 26)
    table.cellPadding = 0
    table.headerRule = t.hairline
    table.rowSeparator = .rules(t.hairline)

    // The panel goes down first, so it lies behind the table: its height is known ahead, the table fitting one page.
    let tableTop = panelTop + 10
    let totalsTop = tableTop + table.rowHeight * Double(table.rows.count + 1)
    let panelBottom = totalsTop + 76
    page.drawRect(
        PDFRect(x: left, y: panelTop, width: width, height: panelBottom - panelTop), fill: t.panel, cornerRadius: 6)
    document.pages[0] = page
    let end = table.draw(
        in: &document, at: PDFCursor(page: 0, y: tableTop), x: left + inset, bottom: 780, continuationTop: 56)
    page = document.pages[0]

    // Totals under the amount columns.
    let totalsLeft = left + width / 2
    var y = end.y + 22
    page.drawText("Subtotal", x: totalsLeft, y: y, style: t.text(10, t.secondary))
    page.drawText(usd(total), x: right - inset, y: y, style: t.text(10), alignment: .right)
    y += 14
    page.drawLine(from: PDFPoint(x: totalsLeft, y: y), to: PDFPoint(x: right - inset, y: y), style: t.hairline)
    y += 22
    page.drawText("Total", x: totalsLeft, y: y, style: t.strong(11))
    page.drawText(usd(total), x: right - inset, y: y, style: t.strong(11), alignment: .right)

    let note =
        "Prices are per million tokens, from the Anthropic price catalog revision 2026-01-12. Amounts are exact to the"
        + " nano-dollar and shown rounded to the micro-dollar; the total is the sum of the exact amounts."
    page.drawParagraph(
        note, x: left, y: panelBottom + 30, width: width, style: t.text(8.5, t.secondary), lineHeight: 13)

    page.drawLine(from: PDFPoint(x: left, y: 792), to: PDFPoint(x: right, y: 792), style: t.hairline)
    page.drawText("Tally — self-hosted LLM usage and cost", x: left, y: 808, style: t.text(8, t.muted))
    page.drawText("Page 1 of 1", x: right, y: 808, style: t.text(8, t.muted), alignment: .right)
    document.pages[0] = page
    return document
}

import TallyCore
import TallyPDF

/// A statement as an A4 PDF: masthead and facts, the headline amounts, the totals against the previous period, the
/// daily spend chart, the table per group (flowing onto more pages with its header repeated), the budgets, and a
/// footer on every page. Every figure is a string of `StatementContent`, the same the text form prints.
public enum StatementPDF {
    public static func render(_ s: Statement, fonts: DocumentFonts) throws -> [UInt8] {
        let t = DocumentTheme(fonts: fonts)
        let c = StatementContent(s)
        var document = PDFDocument(
            info: PDFDocumentInfo(
                title: "Statement \(c.title) — \(c.organization)", author: "Tally", subject: c.organization,
                creator: "Tally", creationDate: PDFDate(s.generatedAt)))
        document.addPage(size: t.page)
        var page = document.pages[0]

        page.drawText("Statement", x: t.left, y: 104, style: t.strong(22))
        t.draw(c.title, on: &page, x: t.left, y: 126, width: t.width, style: t.text(12, t.secondary))
        var y = t.facts(c.facts.map { ($0.label, $0.value) }, on: &page, y: 156)

        y = headline(c, on: &page, y: y + 10, theme: t)
        document.pages[0] = page
        var cursor = PDFCursor(page: 0, y: y + 24)
        cursor = comparisons(c, in: &document, at: cursor, theme: t)

        cursor = t.room(for: 210, in: &document, at: cursor)
        t.heading("Daily spend", on: &document.pages[cursor.page], y: cursor.y + 28)
        let chart = StatementChart(days: s.daily, previous: s.previous.daily, previousTitle: c.previousTitle, theme: t)
        chart.draw(
            on: &document.pages[cursor.page], in: PDFRect(x: t.left, y: cursor.y + 50, width: t.width, height: 130))
        if let peak = c.peak {
            t.draw(
                "Highest day: \(peak.date), \(peak.cost)", on: &document.pages[cursor.page], x: t.left,
                y: cursor.y + 204, width: t.width, style: t.text(8, t.secondary))
        }
        cursor.y += 214

        cursor = groups(c, in: &document, at: cursor, theme: t)
        if !c.budgetRows.isEmpty { cursor = budgets(c, in: &document, at: cursor, theme: t) }

        // The organization's name gives way before the period does: a page torn off still says which statement.
        let period = " · Statement \(c.title)"
        let room = t.width - 80 - t.text(9).width(of: period)
        let running = t.text(9).font.truncated(c.organization, toWidth: max(room, 0), size: 9) + period
        for index in document.pages.indices { t.masthead(on: &document.pages[index], kind: running) }
        t.footers(&document, note: StatementContent.disclaimer)
        return try document.write()
    }

    /// "Tally estimate" in large type with its change, and "Provider-billed" beside it when a cost report gave one.
    private static func headline(_ c: StatementContent, on page: inout PDFPage, y: Double, theme t: DocumentTheme)
        -> Double
    {
        // Without a provider's figure, the second card holds the previous period's estimate, which the change compares with.
        let second =
            c.providerBilled.map { ("PROVIDER-BILLED", $0, "From the providers' cost reports") }
            ?? ("PREVIOUS PERIOD", c.previousSpend, "Tally estimate for \(c.previousTitle)")
        let cards = [("TALLY ESTIMATE", c.spend, "\(c.spendChange) from \(c.previousTitle)"), second]
        let gap = 12.0
        let cardWidth = (t.width - gap) / 2
        for (index, (label, value, note)) in cards.enumerated() {
            let x = t.left + Double(index) * (cardWidth + gap)
            page.drawRect(PDFRect(x: x, y: y, width: cardWidth, height: 74), fill: t.panel, cornerRadius: 6)
            page.drawText(label, x: x + 14, y: y + 20, style: t.label)
            t.draw(value, on: &page, x: x + 14, y: y + 46, width: cardWidth - 28, style: t.strong(20))
            t.draw(note, on: &page, x: x + 14, y: y + 63, width: cardWidth - 28, style: t.text(8, t.secondary))
        }
        return y + 74
    }

    /// This period's totals beside the previous period's, with the change.
    private static func comparisons(
        _ c: StatementContent, in document: inout PDFDocument, at start: PDFCursor, theme t: DocumentTheme
    ) -> PDFCursor {
        let rows = c.comparisons.map { [$0.label, $0.current, $0.previous, $0.change] }
        let (columns, size) = FittedColumns.fit(
            [
                .init(title: "", alignment: .left, weight: 1), .init(title: c.title), .init(title: c.previousTitle),
                .init(title: "Change"),
            ], rows: rows, width: t.width, theme: t)
        let table = t.table(columns, rows: rows.map { PDFTable.Row($0) }, size: size)
        return table.draw(
            in: &document, at: start, x: t.left, bottom: t.contentBottom, continuationTop: t.continuationTop)
    }

    private static func groups(
        _ c: StatementContent, in document: inout PDFDocument, at start: PDFCursor, theme t: DocumentTheme
    ) -> PDFCursor {
        let specs =
            [FittedColumns.Spec(title: c.groupTitle, alignment: .left, weight: 1)]
            + c.groupColumns.map { FittedColumns.Spec(title: $0) }
        let (columns, size) = FittedColumns.fit(specs, rows: c.groupRows + [c.totalRow], width: t.width, theme: t)
        let rows =
            c.groupRows.map { PDFTable.Row($0) } + [PDFTable.Row(c.totalRow, style: t.strong(size), fill: t.panel)]
        let table = t.table(columns, rows: rows, size: size)
        // The heading stays with the header and the first rows.
        var cursor = t.room(for: 40 + table.rowHeight * 4, in: &document, at: start)
        t.heading("By \(c.groupTitle.lowercased())", on: &document.pages[cursor.page], y: cursor.y + 28)
        cursor.y += 40
        return table.draw(
            in: &document, at: cursor, x: t.left, bottom: t.contentBottom, continuationTop: t.continuationTop)
    }

    private static func budgets(
        _ c: StatementContent, in document: inout PDFDocument, at start: PDFCursor, theme t: DocumentTheme
    ) -> PDFCursor {
        // Six columns, three of them words: tighter padding, and the names, scopes and periods kept whole down to 7.5 pt.
        let specs = c.budgetColumns.enumerated().map { index, title in
            FittedColumns.Spec(
                title: title, alignment: index == 3 || index == 4 ? .right : .left,
                weight: index < 3 ? [2.0, 1, 1][index] : nil, minimum: .infinity)
        }
        let (columns, size) = FittedColumns.fit(
            specs, rows: c.budgetRows, width: t.width, theme: t, padding: 6, sizes: [9, 8.5, 8, 7.5])
        let rows = c.budgetRows.map { cells in
            PDFTable.Row(
                cells, fill: cells[5] == "Exceeded" ? t.alertSoft : cells[5] == "Warning" ? t.warningSoft : nil)
        }
        let table = t.table(columns, rows: rows, size: size, padding: 6)
        var cursor = t.room(for: 40 + table.rowHeight * 3, in: &document, at: start)
        t.heading("Budgets", on: &document.pages[cursor.page], y: cursor.y + 28)
        cursor.y += 40
        return table.draw(
            in: &document, at: cursor, x: t.left, bottom: t.contentBottom, continuationTop: t.continuationTop)
    }
}

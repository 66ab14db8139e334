import TallyPDF

/// A receipt as an A4 PDF, laid out like a payment receipt: title, the amount and date at a glance, the call's
/// details, the line items with their unit prices and the total, where the price came from, and the disclaimer in
/// the footer.
public enum ReceiptPDF {
    public static func render(_ r: Receipt, fonts: DocumentFonts) throws -> [UInt8] {
        let t = DocumentTheme(fonts: fonts)
        let c = ReceiptContent(r)
        var document = PDFDocument(
            info: PDFDocumentInfo(
                title: "Receipt \(c.number)", author: "Tally", subject: c.organization, creator: "Tally",
                creationDate: PDFDate(r.issuedAt)))
        document.addPage(size: t.page)
        var page = document.pages[0]

        page.drawText("Receipt", x: t.left, y: 104, style: t.strong(22))
        t.draw(
            "\(c.organization) · \(c.project)", on: &page, x: t.left, y: 126, width: t.width,
            style: t.text(12, t.secondary))

        // Amount, date and number at a glance, as a payment receipt opens.
        let glance = [("AMOUNT", c.total ?? "Unpriced"), ("ISSUED", c.issuedDate), ("RECEIPT NUMBER", c.number)]
        let glanceWidths = [150.0, 130, t.width - 280]
        var x = t.left
        for ((label, value), width) in zip(glance, glanceWidths) {
            page.drawText(label, x: x, y: 166, style: t.label)
            t.draw(value, on: &page, x: x, y: 184, width: width - 12, style: t.strong(12))
            x += width
        }

        section("DETAILS", on: &page, y: 226, theme: t)
        let y = t.facts(c.facts, on: &page, y: 250)
        document.pages[0] = page

        var cursor = PDFCursor(page: 0, y: y + 22)
        if !c.lines.isEmpty || c.total != nil {
            section("LINE ITEMS", on: &document.pages[0], y: cursor.y, theme: t)
            cursor.y += 12
            let totalRow = c.total.map { ["Total", "", "", $0] }
            let specs = ReceiptContent.lineColumns.enumerated().map { index, title in
                FittedColumns.Spec(
                    title: title, alignment: index == 0 ? .left : .right, weight: index == 0 ? 1 : nil, minimum: 140)
            }
            let (columns, size) = FittedColumns.fit(
                specs, rows: c.lines + (totalRow.map { [$0] } ?? []), width: t.width, theme: t)
            var rows = c.lines.map { PDFTable.Row($0) }
            if let totalRow { rows.append(PDFTable.Row(totalRow, style: t.strong(size), fill: t.panel)) }
            let table = t.table(columns, rows: rows, size: size)
            cursor = table.draw(
                in: &document, at: cursor, x: t.left, bottom: t.contentBottom, continuationTop: t.continuationTop)
        }

        if let unpriced = c.unpriced {
            let style = t.strong(9.5, t.alert)
            let lines = min(style.font.wrapped(unpriced, toWidth: t.width - 28, size: style.size).count, 3)
            let height = Double(lines) * 13 + 16
            cursor = t.room(for: height + 24, in: &document, at: cursor)
            let top = cursor.y + 20
            document.pages[cursor.page].drawRect(
                PDFRect(x: t.left, y: top, width: t.width, height: height), fill: t.alertSoft, cornerRadius: 4)
            t.paragraph(
                unpriced, on: &document.pages[cursor.page], x: t.left + 14, y: top + 16, width: t.width - 28,
                style: style, lineHeight: 13, maxLines: 3)
            cursor.y = top + height
        }
        if !c.notes.isEmpty {
            cursor = t.room(for: 40 + 38 * Double(c.notes.count), in: &document, at: cursor)
            section("PRICING", on: &document.pages[cursor.page], y: cursor.y + 30, theme: t)
            var y = cursor.y + 54
            for note in c.notes {
                y =
                    t.paragraph(
                        note, on: &document.pages[cursor.page], x: t.left, y: y, width: t.width, style: t.text(8.5),
                        lineHeight: 12.5, maxLines: 3) + 3
            }
        }

        for index in document.pages.indices { t.masthead(on: &document.pages[index], kind: "Receipt \(c.number)") }
        t.footers(&document, note: Receipt.disclaimer)
        return try document.write()
    }

    /// A small grey label with a hairline under it, over a block of the receipt.
    private static func section(_ title: String, on page: inout PDFPage, y: Double, theme t: DocumentTheme) {
        page.drawText(title, x: t.left, y: y, style: t.label)
        page.drawLine(from: PDFPoint(x: t.left, y: y + 7), to: PDFPoint(x: t.right, y: y + 7), style: t.hairline)
    }
}

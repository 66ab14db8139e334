import TallyPDF

/// The look both documents share: near-black text, two greys for secondary text, hairline dividers, a pale panel and
/// one accent colour; A4 with 56 pt margins; a footer on every page.
struct DocumentTheme {
    let fonts: DocumentFonts

    let ink = PDFColor(hex: 0x1A1F36)
    let secondary = PDFColor(hex: 0x596171)
    let muted = PDFColor(hex: 0x8792A2)
    let divider = PDFColor(hex: 0xE3E8EE)
    let panel = PDFColor(hex: 0xF6F8FA)
    let accent = PDFColor(hex: 0x635BFF)
    let accentSoft = PDFColor(hex: 0xB9B5FF)
    let alert = PDFColor(hex: 0xDF1B41)
    let alertSoft = PDFColor(hex: 0xFDECEF)
    let warningSoft = PDFColor(hex: 0xFEF6E7)

    let page = PDFPageSize.a4
    let margin = 56.0
    /// Where content stops above the footer, and where it starts on a continuation page.
    let contentBottom = 772.0
    let continuationTop = 100.0

    var left: Double { margin }
    var right: Double { page.width - margin }
    var width: Double { right - left }

    func text(_ size: Double, _ color: PDFColor? = nil) -> PDFTextStyle {
        PDFTextStyle(font: fonts.regular, size: size, color: color ?? ink)
    }

    func strong(_ size: Double, _ color: PDFColor? = nil) -> PDFTextStyle {
        PDFTextStyle(font: fonts.bold, size: size, color: color ?? ink)
    }

    /// Small bold grey labels above values ("AMOUNT").
    var label: PDFTextStyle { strong(7.5, muted) }
    var hairline: PDFStrokeStyle { PDFStrokeStyle(color: divider, width: 0.75) }

    /// Draws `text` on one line, cut with "…" to `width`: every string a document draws goes through here or a
    /// table, so no name can run into the next column.
    @discardableResult
    func draw(
        _ text: String, on page: inout PDFPage, x: Double, y: Double, width: Double, style: PDFTextStyle,
        alignment: PDFTextAlignment = .left
    ) -> Double {
        let fitted = style.font.truncated(text, toWidth: width, size: style.size)
        return page.drawText(fitted, x: x, y: y, style: style, alignment: alignment)
    }

    /// Word-wrapped text of at most `maxLines` lines, the last cut with "…" when more was left; returns the
    /// baseline after the last line.
    @discardableResult
    func paragraph(
        _ text: String, on page: inout PDFPage, x: Double, y: Double, width: Double, style: PDFTextStyle,
        lineHeight: Double, maxLines: Int = 4
    ) -> Double {
        var lines = style.font.wrapped(text, toWidth: width, size: style.size)
        if lines.count > maxLines {
            lines = Array(lines.prefix(maxLines))
            lines[maxLines - 1] = style.font.truncated(lines[maxLines - 1] + " …", toWidth: width, size: style.size)
        }
        var baseline = y
        for line in lines {
            draw(line, on: &page, x: x, y: baseline, width: width, style: style)
            baseline += lineHeight
        }
        return baseline
    }

    /// The accent bar, the "Tally" wordmark and the document's kind on the right.
    func masthead(on page: inout PDFPage, kind: String) {
        page.drawRect(PDFRect(x: 0, y: 0, width: page.size.width, height: 5), fill: accent)
        page.drawText("Tally", x: left, y: 60, style: strong(14, accent))
        draw(kind, on: &page, x: right, y: 60, width: width - 80, style: text(9, muted), alignment: .right)
    }

    /// Label and value pairs under a title ("Statement number  ST-2026-11-0003"); returns the y after them.
    func facts(_ facts: [(String, String)], on page: inout PDFPage, y top: Double, labelWidth: Double = 112) -> Double {
        var y = top
        for (label, value) in facts {
            draw(label, on: &page, x: left, y: y, width: labelWidth - 8, style: text(9, secondary))
            draw(value, on: &page, x: left + labelWidth, y: y, width: width - labelWidth, style: text(9))
            y += 15
        }
        return y
    }

    /// A section title ("By project", "Budgets").
    func heading(_ title: String, on page: inout PDFPage, y: Double) {
        draw(title, on: &page, x: left, y: y, width: width, style: strong(11.5))
    }

    /// The cursor, or the top of the next page (added when missing) when fewer than `height` points are left: a
    /// heading moves with the rows it introduces.
    func room(for height: Double, in document: inout PDFDocument, at cursor: PDFCursor) -> PDFCursor {
        guard cursor.y + height > contentBottom else { return cursor }
        if cursor.page + 1 == document.pages.count { document.addPage(size: page) }
        return PDFCursor(page: cursor.page + 1, y: continuationTop - 28)
    }

    /// The hairline, the note and "Page N of M" at the foot of every page; run once all pages exist.
    func footers(_ document: inout PDFDocument, note: String) {
        let count = document.pages.count
        for index in document.pages.indices {
            let pageLabel = "Page \(index + 1) of \(count)"
            let style = text(7.5, muted)
            var page = document.pages[index]
            page.drawLine(from: PDFPoint(x: left, y: 792), to: PDFPoint(x: right, y: 792), style: hairline)
            let labelWidth = page.drawText(pageLabel, x: right, y: 806, style: style, alignment: .right)
            draw(note, on: &page, x: left, y: 806, width: width - labelWidth - 16, style: style)
            document.pages[index] = page
        }
    }

    /// A table styled like the samples: bold grey header on a pale band, hairlines between rows.
    func table(_ columns: [PDFTable.Column], rows: [PDFTable.Row], size: Double, padding: Double = 8) -> PDFTable {
        var table = PDFTable(
            columns: columns, rows: rows, headerStyle: strong(size - 1, secondary), bodyStyle: text(size),
            rowHeight: size * 2.2)
        table.cellPadding = padding
        table.headerFill = panel
        table.rowSeparator = .rules(hairline)
        return table
    }
}

/// Column widths that fit the figures: a number is never cut, so each right-aligned column is as wide as its widest
/// cell. The text columns share what is left in proportion to what they hold, and split any space over by weight.
/// When that cuts a text column below its minimum (long names beside large amounts), the next smaller size is tried.
struct FittedColumns {
    struct Spec {
        var title: String
        var alignment: PDFTextAlignment = .right
        /// Share of the spare width for a text column; nil for a figure column sized to its content.
        var weight: Double? = nil
        /// The width a text column must keep (when its text needs that much) for a size to be chosen.
        var minimum = 90.0
    }

    /// The columns at the largest of `sizes` that keeps every text column at its minimum, else at the smallest.
    static func fit(
        _ specs: [Spec], rows: [[String]], width: Double, theme t: DocumentTheme, padding: Double = 8,
        sizes: [Double] = [9, 8.5, 8, 7.5, 7]
    ) -> (columns: [PDFTable.Column], size: Double) {
        var result: (columns: [PDFTable.Column], size: Double) = ([], sizes.last ?? 9)
        for size in sizes {
            let styles = [t.text(size), t.strong(size)]
            let header = t.strong(size - 1)
            let needed: [Double] = specs.enumerated().map { index, spec in
                let cells = rows.map { $0.indices.contains(index) ? $0[index] : "" }
                let widest = cells.map { cell in styles.map { $0.width(of: cell) }.max() ?? 0 }.max() ?? 0
                return max(widest, header.width(of: spec.title)) + 2 * padding
            }
            let flexible = specs.indices.filter { specs[$0].weight != nil }
            let fixed = specs.indices.filter { specs[$0].weight == nil }.reduce(0) { $0 + needed[$1] }
            let room = max(width - fixed, 24 * Double(flexible.count))
            let wanted = flexible.map { min(needed[$0], room) }
            let total = wanted.reduce(0, +)
            let weights = flexible.map { specs[$0].weight ?? 0 }.reduce(0, +)
            var widths = needed
            var fits = true
            for (position, index) in flexible.enumerated() {
                if total <= room {
                    widths[index] = wanted[position] + (room - total) * (specs[index].weight ?? 0) / max(weights, 1e-9)
                } else {
                    widths[index] = room * wanted[position] / max(total, 1e-9)
                    fits = fits && widths[index] >= min(wanted[position], specs[index].minimum)
                }
            }
            result = (zip(specs, widths).map { PDFTable.Column($0.title, width: $1, alignment: $0.alignment) }, size)
            if fits { break }
        }
        return result
    }
}

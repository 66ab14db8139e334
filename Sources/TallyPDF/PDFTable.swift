/// A table laid out in fixed-width columns that flows onto new pages, repeating its header on each.
///
/// Cells hold one line each: text wider than its column is truncated with "…" (a table of amounts should not
/// change height because of one long model name). Numbers are meant to be right-aligned so digits line up.
public struct PDFTable: Sendable {
    public struct Column: Sendable {
        public var title: String
        /// In points, padding included.
        public var width: Double
        public var alignment: PDFTextAlignment

        public init(_ title: String, width: Double, alignment: PDFTextAlignment = .left) {
            self.title = title
            self.width = width
            self.alignment = alignment
        }
    }

    public struct Row: Sendable, ExpressibleByArrayLiteral {
        public var cells: [String]
        /// Overrides the table's body style for this row (a bold subtotal).
        public var style: PDFTextStyle?
        /// A background for this row, over any zebra stripe.
        public var fill: PDFColor?

        public init(_ cells: [String], style: PDFTextStyle? = nil, fill: PDFColor? = nil) {
            self.cells = cells
            self.style = style
            self.fill = fill
        }

        public init(arrayLiteral cells: String...) { self.init(cells) }
    }

    /// How body rows are told apart.
    public enum RowSeparator: Sendable {
        case none
        /// Every second row (the 2nd, 4th, …) filled with the colour.
        case zebra(PDFColor)
        /// A line under every row.
        case rules(PDFStrokeStyle)
    }

    public var columns: [Column]
    public var rows: [Row]
    public var headerStyle: PDFTextStyle
    public var bodyStyle: PDFTextStyle
    /// Height of one body row; the header row is as tall.
    public var rowHeight: Double
    /// Space between a column's edge and its text.
    public var cellPadding: Double = 6
    public var headerFill: PDFColor? = nil
    /// A line under the header row.
    public var headerRule: PDFStrokeStyle? = nil
    public var rowSeparator: RowSeparator = .none
    /// Whether a page the table continues on starts with the header again.
    public var repeatsHeader = true

    public init(
        columns: [Column], rows: [Row], headerStyle: PDFTextStyle, bodyStyle: PDFTextStyle, rowHeight: Double? = nil
    ) {
        self.columns = columns
        self.rows = rows
        self.headerStyle = headerStyle
        self.bodyStyle = bodyStyle
        self.rowHeight = rowHeight ?? bodyStyle.size * 2
    }

    public var width: Double { columns.reduce(0) { $0 + $1.width } }

    /// Draws the table with its top-left corner at `x`, `start.y` on page `start.page` of `document`.
    ///
    /// A row that would reach below `bottom` goes to the next page, created (same size as the current one) when
    /// the document has none, where drawing resumes at `continuationTop`. Returns the cursor just below the last
    /// row, for whatever the caller draws next.
    @discardableResult
    public func draw(
        in document: inout PDFDocument, at start: PDFCursor, x: Double, bottom: Double, continuationTop: Double
    ) -> PDFCursor {
        precondition(document.pages.indices.contains(start.page), "the table's start page is not in the document")
        var cursor = start
        func newPage() {
            if cursor.page + 1 == document.pages.count { document.addPage(size: document.pages[cursor.page].size) }
            cursor = PDFCursor(page: cursor.page + 1, y: continuationTop)
        }
        // The header never stands alone at a page's foot: it goes with at least one row.
        if cursor.y + rowHeight * (rows.isEmpty ? 1 : 2) > bottom, cursor.y > continuationTop { newPage() }
        drawHeader(on: &document.pages[cursor.page], x: x, y: cursor.y)
        cursor.y += rowHeight
        for (index, row) in rows.enumerated() {
            if cursor.y + rowHeight > bottom {
                newPage()
                if repeatsHeader {
                    drawHeader(on: &document.pages[cursor.page], x: x, y: cursor.y)
                    cursor.y += rowHeight
                }
            }
            drawRow(row, index: index, on: &document.pages[cursor.page], x: x, y: cursor.y)
            cursor.y += rowHeight
        }
        return cursor
    }

    private func drawHeader(on page: inout PDFPage, x: Double, y: Double) {
        if let headerFill { page.drawRect(PDFRect(x: x, y: y, width: width, height: rowHeight), fill: headerFill) }
        drawCells(columns.map(\.title), style: headerStyle, on: &page, x: x, y: y)
        if let headerRule {
            page.drawLine(
                from: PDFPoint(x: x, y: y + rowHeight), to: PDFPoint(x: x + width, y: y + rowHeight), style: headerRule)
        }
    }

    private func drawRow(_ row: Row, index: Int, on page: inout PDFPage, x: Double, y: Double) {
        let box = PDFRect(x: x, y: y, width: width, height: rowHeight)
        if case .zebra(let color) = rowSeparator, index % 2 == 1 { page.drawRect(box, fill: color) }
        if let fill = row.fill { page.drawRect(box, fill: fill) }
        drawCells(row.cells, style: row.style ?? bodyStyle, on: &page, x: x, y: y)
        if case .rules(let rule) = rowSeparator {
            page.drawLine(from: PDFPoint(x: box.x, y: box.maxY), to: PDFPoint(x: box.maxX, y: box.maxY), style: rule)
        }
    }

    /// Text centred vertically on its capital height, which looks centred for digits and capitals alike.
    private func drawCells(_ cells: [String], style: PDFTextStyle, on page: inout PDFPage, x: Double, y: Double) {
        let baseline = y + rowHeight / 2 + style.font.primary.capHeight * style.size / 2
        var left = x
        for (column, text) in zip(columns, cells) {
            let room = column.width - 2 * cellPadding
            let fitted = style.font.truncated(text, toWidth: room, size: style.size)
            let anchor =
                switch column.alignment {
                case .left: left + cellPadding
                case .center: left + column.width / 2
                case .right: left + column.width - cellPadding
                }
            page.drawText(fitted, x: anchor, y: baseline, style: style, alignment: column.alignment)
            left += column.width
        }
    }
}

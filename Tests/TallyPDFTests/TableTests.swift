import Testing

@testable import TallyPDF

/// Table flow across pages, repeated headers, alignment and truncation, read back from the pages' drawn items.
@Suite struct TableTests {
    let style: PDFTextStyle

    init() throws { style = PDFTextStyle(font: FontChain(try Fixtures.dejaVu()), size: 10) }

    func table(rows count: Int) -> PDFTable {
        var table = PDFTable(
            columns: [.init("Model", width: 200), .init("Amount", width: 100, alignment: .right)],
            rows: (0..<count).map { ["model-\($0)", "$\($0).00"] }, headerStyle: style, bodyStyle: style, rowHeight: 20)
        table.rowSeparator = .zebra(PDFColor(hex: 0xF6F8FA))
        return table
    }

    /// The text items of a page, with their left x in page coordinates.
    func texts(_ page: PDFPage) -> [(text: String, x: Double, width: Double)] {
        page.items.compactMap { item in
            guard case .text(let placed) = item else { return nil }
            let text = placed.runs.flatMap(\.clusters).map(\.text).joined()
            return (text, placed.x, placed.runs.reduce(0) { $0 + $1.advance } * placed.size / 1000)
        }
    }

    @Test func flowsOntoNewPagesRepeatingTheHeader() {
        var document = PDFDocument(info: PDFDocumentInfo(creationDate: Fixtures.date))
        document.addPage(size: .a4)
        let end = table(rows: 60).draw(
            in: &document, at: PDFCursor(page: 0, y: 100), x: 50, bottom: 780, continuationTop: 60)
        // Page 0: header at 100, rows at 120 … 760 (33 rows); page 1: header at 60, 27 rows from 80.
        #expect(document.pages.count == 2)
        #expect(end == PDFCursor(page: 1, y: 80 + 27 * 20))
        let first = texts(document.pages[0])
        let second = texts(document.pages[1])
        #expect(first.filter { $0.text == "Model" }.count == 1 && second.filter { $0.text == "Model" }.count == 1)
        #expect(first.filter { $0.text.hasPrefix("model-") }.count == 33)
        #expect(second.first { $0.text.hasPrefix("model-") }?.text == "model-33")
        #expect(second.filter { $0.text.hasPrefix("model-") }.count == 27)
        // Zebra stripes on every second row: rows 1, 3, … of each page's share.
        let stripes = document.pages.map { $0.items.filter { if case .graphics = $0 { true } else { false } }.count }
        #expect(stripes == [16, 14])
    }

    @Test func aTableThatFitsStaysOnItsPage() {
        var document = PDFDocument(info: PDFDocumentInfo(creationDate: Fixtures.date))
        document.addPage()
        let end = table(rows: 3).draw(
            in: &document, at: PDFCursor(page: 0, y: 100), x: 50, bottom: 780, continuationTop: 60)
        #expect(document.pages.count == 1 && end == PDFCursor(page: 0, y: 180))
    }

    @Test func theHeaderNeverStandsAloneAtThePageFoot() {
        var document = PDFDocument(info: PDFDocumentInfo(creationDate: Fixtures.date))
        document.addPage()
        let end = table(rows: 2).draw(
            in: &document, at: PDFCursor(page: 0, y: 750), x: 50, bottom: 780, continuationTop: 60)
        #expect(texts(document.pages[0]).isEmpty)
        #expect(texts(document.pages[1]).map(\.text) == ["Model", "Amount", "model-0", "$0.00", "model-1", "$1.00"])
        #expect(end == PDFCursor(page: 1, y: 120))
    }

    @Test func withoutRepeatedHeadersContinuationPagesStartWithRows() {
        var document = PDFDocument(info: PDFDocumentInfo(creationDate: Fixtures.date))
        document.addPage()
        var long = table(rows: 40)
        long.repeatsHeader = false
        long.draw(in: &document, at: PDFCursor(page: 0, y: 100), x: 50, bottom: 780, continuationTop: 60)
        #expect(texts(document.pages[1]).first?.text == "model-33")
    }

    @Test func alignsNumbersRightAndTruncatesLongCells() {
        var document = PDFDocument(info: PDFDocumentInfo(creationDate: Fixtures.date))
        document.addPage()
        var t = table(rows: 0)
        t.rows = [
            ["claude-sonnet-4-5-20250929 with a very long project name attached", "$12,345.678901"], ["x", "$1.5"],
        ]
        t.cellPadding = 6
        t.draw(in: &document, at: PDFCursor(page: 0, y: 100), x: 50, bottom: 780, continuationTop: 60)
        let drawn = texts(document.pages[0])
        for amount in drawn where amount.text.hasPrefix("$") || amount.text == "Amount" {
            #expect(abs(amount.x + amount.width - (50 + 300 - 6)) < 1e-9, "\(amount.text)")
        }
        let model = drawn.first { $0.text.hasPrefix("claude") }!
        #expect(model.text.hasSuffix("…") && model.width <= 200 - 12 && model.x == 56)
    }
}

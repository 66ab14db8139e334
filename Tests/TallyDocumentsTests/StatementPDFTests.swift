import Foundation
import TallyCore
import TallyPDF
import Testing

@testable import TallyDocuments

@Suite struct StatementPDFTests {
    static let tools = "qpdf, pypdf or the fallback fonts missing: \(Tools.install)"

    @Test func sameStatementGivesSameBytes() throws {
        let fonts = try DocumentFonts.standard()
        let first = try StatementPDF.render(Samples.statement(), fonts: fonts)
        let second = try StatementPDF.render(Samples.statement(), fonts: fonts)
        #expect(first == second)
        #expect(Array(first.prefix(8)) == Array("%PDF-1.7".utf8))
        var changed = Samples.statement()
        changed.groups[3].metrics.cost += USD(nanos: 10_000_000)
        #expect(try StatementPDF.render(changed, fonts: fonts) != first)
        try Tools.preview(first, name: "statement.pdf")
    }

    @Test func hostileNamesRenderWithoutCrashing() throws {
        let fonts = try DocumentFonts.standard()
        var s = Samples.statement(names: Samples.hostileNames)
        s.organizationName = String(repeating: "\u{0}Org🚀", count: 3_000)
        s.groupBy = "\u{1B}[2Jteam"
        s.budgets[0].name = String(repeating: "予算", count: 5_000)
        s.closure?.closedBy = "\u{0}\u{0}"
        s.timeZone = "Not/AZone"
        let bytes = try StatementPDF.render(s, fonts: fonts)
        #expect(bytes.count > 1000)
        try Tools.preview(bytes, name: "statement-hostile.pdf")
        // No content and no periods at all still render.
        s.groups = []
        s.daily = []
        s.previous.daily = []
        s.budgets = []
        s.totals = UsageMetrics()
        s.previous.totals = UsageMetrics()
        _ = try StatementPDF.render(s, fonts: fonts)
        // A single day.
        var day = Samples.statement()
        day.period.kind = .day
        day.daily = [StatementDay(date: Samples.day(11, 20), cost: USD(nanos: 5_000_000_000))]
        day.previous.daily = [StatementDay(date: Samples.day(11, 19), cost: USD(nanos: 7_000_000_000))]
        _ = try StatementPDF.render(day, fonts: fonts)
    }

    @Test(.enabled(if: (Tools.hasQPDF && Tools.hasPypdf && Tools.hasFallbackFonts) || Tools.required, "\(tools)"))
    func textReadBackHoldsEveryNameAndFigure() throws {
        let s = Samples.statement()
        let bytes = try StatementPDF.render(s, fonts: try DocumentFonts.standard())
        #expect(try Tools.qpdfCheck(bytes, name: "statement.pdf") == nil)
        let extraction = try Tools.pypdf(bytes, name: "statement.pdf")
        #expect(extraction.version == "7.1.1")
        #expect(extraction.problems.isEmpty, "\(extraction.problems)")
        #expect(extraction.title == "Statement November 2026 — Acme Research")
        let text = extraction.text
        let c = StatementContent(s)
        for name in ["web", "経理チーム", "🚀 launch", "search-api", "no project"] {
            #expect(text.contains(name), "missing \(name)")
        }
        // Every figure of the text form is in the PDF as the same string.
        var figures =
            c.groupRows.flatMap { $0.dropFirst() } + c.totalRow.dropFirst() + c.budgetRows.flatMap { $0[3...] }
        figures += c.comparisons.flatMap { [$0.current, $0.previous, $0.change] }.filter { !$0.isEmpty }
        figures += [c.spend, c.providerBilled!, c.peak!.cost]
        for figure in figures { #expect(text.contains(figure), "missing \(figure)") }
        for fact in c.facts { #expect(text.contains(fact.value), "missing \(fact.value)") }
        #expect(text.contains("Closed on 2026-12-01 by ana@example.com"))
        #expect(text.contains("ST-2026-11-0003"))
        #expect(text.contains("Provider-billed") && text.contains("Tally estimate"))
        #expect(text.contains(StatementContent.disclaimer))
        #expect(text.contains("Page 1 of \(extraction.pages.count)"))
        let textForm = StatementText.render(s)
        for figure in figures { #expect(textForm.contains(figure), "text form lacks \(figure)") }
    }

    @Test(.enabled(if: (Tools.hasQPDF && Tools.hasPypdf) || Tools.required, "\(tools)"))
    func twoHundredGroupsFlowOntoPagesWithTheHeaderRepeated() throws {
        let s = Samples.statement(extraGroups: 195)
        let bytes = try StatementPDF.render(s, fonts: try DocumentFonts.standard())
        try Tools.preview(bytes, name: "statement-200.pdf")
        #expect(try Tools.qpdfCheck(bytes, name: "statement-200.pdf") == nil)
        let extraction = try Tools.pypdf(bytes, name: "statement-200.pdf")
        #expect(extraction.problems.isEmpty, "\(extraction.problems)")
        #expect(extraction.pages.count >= 4)
        let header = "Project Requests Tokens Cost Share Previous"
        let tablePages = extraction.pages.filter { $0.contains(header) }
        #expect(tablePages.count >= 3, "the header is repeated on each page the table continues on")
        for (index, page) in extraction.pages.enumerated() {
            #expect(page.contains("Page \(index + 1) of \(extraction.pages.count)"))
            #expect(page.contains(StatementContent.disclaimer))
        }
        let text = extraction.text
        for group in s.groups {
            #expect(text.contains(group.name), "missing \(group.name)")
            #expect(text.contains(StatementFigures.money(group.metrics.cost)))
        }
        #expect(text.contains(StatementFigures.money(s.totals.cost)))
    }

    @Test(.enabled(if: Tools.hasQPDF || Tools.required, "\(tools)"))
    func hostileStatementPassesQPDF() throws {
        var s = Samples.statement(names: Samples.hostileNames, closed: false, providerBilled: nil)
        s.organizationName = "\u{202E}Acme\u{0} )Tj"
        let bytes = try StatementPDF.render(s, fonts: try DocumentFonts.standard())
        #expect(try Tools.qpdfCheck(bytes, name: "hostile.pdf") == nil)
    }

    /// Nothing drawn from a name reaches past its column: each table cell is cut to the column's width, so the
    /// longest name in the PDF is the truncated one.
    @Test func longNamesAreCutToTheColumn() throws {
        let fonts = try DocumentFonts.standard()
        let t = DocumentTheme(fonts: fonts)
        let c = StatementContent(Samples.statement(names: Samples.hostileNames))
        let specs =
            [FittedColumns.Spec(title: c.groupTitle, alignment: .left, weight: 1)]
            + c.groupColumns.map { FittedColumns.Spec(title: $0) }
        let (columns, size) = FittedColumns.fit(specs, rows: c.groupRows + [c.totalRow], width: t.width, theme: t)
        #expect(abs(columns.reduce(0) { $0 + $1.width } - t.width) < 0.01, "the table spans the text width")
        #expect(columns[0].width >= 90)
        for row in c.groupRows {
            for (index, cell) in row.enumerated().dropFirst() {
                #expect(t.text(size).width(of: cell) <= columns[index].width - 16, "figures are never cut")
            }
        }
    }
}

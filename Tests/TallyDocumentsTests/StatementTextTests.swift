import TallyCore
import Testing

@testable import TallyDocuments

@Suite struct StatementTextTests {
    @Test func containsEveryFigure() {
        let s = Samples.statement()
        let text = StatementText.render(s)
        let money = StatementFigures.money
        for group in s.groups {
            #expect(text.contains(group.name))
            #expect(text.contains(money(group.metrics.cost)), "\(group.name) cost")
            #expect(text.contains(money(group.previousCost)))
            #expect(text.contains(StatementFigures.share(group.metrics.cost, of: s.totals.cost) + "%"))
            #expect(text.contains(StatementFigures.count(group.metrics.requests)))
            #expect(text.contains(StatementFigures.count(group.metrics.inputTokens + group.metrics.outputTokens)))
        }
        for figure in [
            money(s.totals.cost), money(s.previous.totals.cost), money(s.providerBilled!),
            StatementFigures.count(s.totals.requests), StatementFigures.count(s.totals.errors),
            StatementFigures.count(s.totals.unpricedRequests),
            StatementFigures.change(s.totals.cost, from: s.previous.totals.cost),
        ] {
            #expect(text.contains(figure), "\(figure)")
        }
        for budget in s.budgets { #expect(text.contains(money(budget.amount)) && text.contains(money(budget.spent))) }
        for day in s.daily { #expect(text.contains("\(day.date)  ") && text.contains(money(day.cost))) }
        #expect(text.contains("Statement number  ST-2026-11-0003"))
        #expect(text.contains("Closed on 2026-12-01 by ana@example.com"))
        #expect(text.contains("Generated         2026-12-01 09:30:05 Europe/Paris (UTC+01:00)"))
        #expect(text.contains(StatementContent.disclaimer))
    }

    @Test func columnsLineUp() {
        let text = StatementText.render(Samples.statement())
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // The group table: from its header to the total, every line ends at the same display column.
        let start = lines.firstIndex { $0.hasPrefix("Project ") }!
        let end = lines[start...].firstIndex { $0.hasPrefix("Total ") }!
        let widths = Set(lines[start...end].filter { !$0.hasPrefix("---") }.map(DocumentText.displayWidth))
        #expect(widths.count == 1, "\(lines[start...end].joined(separator: "\n"))")
    }

    @Test func openStatementSaysSoAndHostileNamesStayOnOneLine() {
        let s = Samples.statement(names: Samples.hostileNames, closed: false, providerBilled: nil)
        let text = StatementText.render(s)
        #expect(text.contains("Open: figures can change"))
        #expect(!text.contains("Provider-billed"))
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(!text.unicodeScalars.contains { (0x7F...0x9F).contains($0.value) || $0 == "\u{202E}" })
        let longest = text.split(separator: "\n").map { DocumentText.displayWidth(String($0)) }.max() ?? 0
        #expect(longest < 200)
    }
}

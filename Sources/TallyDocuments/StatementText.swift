import TallyCore

/// A statement as plain text with aligned columns: the body of the statement email and `?format=txt`.
public enum StatementText {
    /// Names longer than this many columns are cut with "…", so one long project name cannot push every figure
    /// of the table off a mail client's screen.
    static let nameColumns = 40

    public static func render(_ s: Statement) -> String {
        let c = StatementContent(s)
        var lines = ["\(c.organization): statement for \(c.title)", ""]
        let label = c.facts.map { $0.label.count }.max() ?? 0
        for fact in c.facts {
            lines.append(fact.label + String(repeating: " ", count: label - fact.label.count + 2) + fact.value)
        }

        lines += ["", "Summary", ""]
        if let billed = c.providerBilled {
            lines += ["Tally estimate   \(c.spend)", "Provider-billed  \(billed)", ""]
        }
        var totals = TextTable(columns: [
            .init(title: ""), .init(title: c.title, rightAligned: true),
            .init(title: c.previousTitle, rightAligned: true), .init(title: "Change", rightAligned: true),
        ])
        totals.rows = c.comparisons.map { [$0.label, $0.current, $0.previous, $0.change] }
        lines += totals.lines()

        lines += ["", "By \(c.groupTitle.lowercased())", ""]
        var groups = TextTable(
            columns: [.init(title: c.groupTitle, limit: nameColumns)]
                + c.groupColumns.map { .init(title: $0, rightAligned: true) })
        groups.rows = c.groupRows + [c.totalRow]
        lines += groups.lines(ruleBeforeLast: true)

        if !c.budgetRows.isEmpty {
            lines += ["", "Budgets", ""]
            var budgets = TextTable(
                columns: c.budgetColumns.enumerated().map { index, title in
                    .init(title: title, rightAligned: index == 3 || index == 4, limit: index < 3 ? nameColumns : nil)
                })
            budgets.rows = c.budgetRows
            lines += budgets.lines()
        }

        lines += ["", "Daily spend", ""]
        if let peak = c.peak { lines += ["Highest day: \(peak.date), \(peak.cost)", ""] }
        var daily = TextTable(columns: [.init(title: "Day"), .init(title: "Cost", rightAligned: true)])
        daily.rows = c.daily.map { ["\($0.date)", $0.cost] }
        lines += daily.lines()

        lines += ["", StatementContent.disclaimer]
        return lines.joined(separator: "\n") + "\n"
    }
}

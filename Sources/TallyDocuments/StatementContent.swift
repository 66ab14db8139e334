import TallyCore

/// A statement's words and figures, formatted once for both the text and the PDF form: the PDF draws exactly these
/// strings, so a figure read back from the PDF equals the one in the email and in the API.
struct StatementContent {
    struct Fact {
        var label: String
        var value: String
    }

    /// A totals line: the figure this period, the previous period's and the change.
    struct Comparison {
        var label: String
        var current: String
        var previous: String
        var change: String
    }

    static let disclaimer = "Amounts are estimates from list prices; the providers' invoices are authoritative."

    var organization: String
    var title: String
    var previousTitle: String
    var dates: String
    var facts: [Fact]
    var spend: String
    var previousSpend: String
    var spendChange: String
    var providerBilled: String?
    var comparisons: [Comparison]
    /// "Project", "Team", … as a column title.
    var groupTitle: String
    /// Name, requests, tokens, cost, share, previous cost.
    var groupColumns = ["Requests", "Tokens", "Cost", "Share", "Previous"]
    var groupRows: [[String]]
    var totalRow: [String]
    var budgetColumns = ["Budget", "Scope", "Period", "Amount", "Spent", "Status"]
    var budgetRows: [[String]]
    var daily: [(date: CivilDate, cost: String)]
    /// The day that cost most (the first of equals), for the chart's caption; nil when no day cost anything.
    var peak: (date: CivilDate, cost: String)?

    init(_ s: Statement) {
        let time = DocumentTime(zone: s.timeZone)
        let money = StatementFigures.money
        let count = StatementFigures.count
        organization = DocumentText.clean(s.organizationName)
        title = PeriodNames.title(s.period.kind, label: s.period.label, firstDay: s.period.firstDay)
        previousTitle = PeriodNames.title(s.period.kind, label: s.previous.label, firstDay: s.previous.firstDay)
        dates = PeriodNames.dates(s.period.firstDay, s.period.lastDay)

        facts = [Fact(label: "Organization", value: organization)]
        if let closure = s.closure {
            facts.append(Fact(label: "Statement number", value: DocumentText.clean(closure.number)))
        }
        facts += [
            Fact(label: "Period", value: "\(dates) (\(time.rules.identifier))"),
            Fact(label: "Grouped by", value: DocumentText.clean(s.groupBy)),
        ]
        if let closure = s.closure {
            let by = DocumentText.clean(closure.closedBy)
            facts.append(Fact(label: "Status", value: "Closed on \(time.date(closure.closedAt)) by \(by)"))
        } else {
            facts.append(Fact(label: "Status", value: "Open: figures can change until the period is closed"))
        }
        facts.append(Fact(label: "Generated", value: time.dateTime(s.generatedAt)))

        // Saturating: no real total comes near Int64.max tokens, and a document must render rather than trap.
        let tokens = { (m: UsageMetrics) in
            let (sum, overflow) = m.inputTokens.addingReportingOverflow(m.outputTokens)
            return overflow ? (m.inputTokens < 0 ? Int64.min : Int64.max) : sum
        }
        let (now, before) = (s.totals, s.previous.totals)
        spend = money(now.cost)
        previousSpend = money(before.cost)
        spendChange = StatementFigures.change(now.cost, from: before.cost)
        providerBilled = s.providerBilled.map(money)
        comparisons = [
            Comparison(
                label: "Spend (Tally estimate)", current: spend, previous: previousSpend, change: spendChange),
            Comparison(
                label: "Tokens (input + output)", current: count(tokens(now)), previous: count(tokens(before)),
                change: StatementFigures.change(tokens(now), from: tokens(before))),
            Comparison(
                label: "Requests", current: count(now.requests), previous: count(before.requests),
                change: StatementFigures.change(now.requests, from: before.requests)),
            Comparison(
                label: "Errors", current: count(now.errors), previous: count(before.errors),
                change: StatementFigures.change(now.errors, from: before.errors)),
            Comparison(
                label: "Unpriced requests", current: count(now.unpricedRequests),
                previous: count(before.unpricedRequests),
                change: StatementFigures.change(now.unpricedRequests, from: before.unpricedRequests)),
        ]
        if let billed = s.providerBilled {
            comparisons.insert(
                Comparison(label: "Provider-billed", current: money(billed), previous: "—", change: ""), at: 1)
        }

        let dimension = DocumentText.clean(s.groupBy)
        groupTitle = dimension.prefix(1).uppercased() + dimension.dropFirst()
        groupRows = s.groups.map { group in
            let m = group.metrics
            return [
                DocumentText.clean(group.name), count(m.requests), count(tokens(m)), money(m.cost),
                StatementFigures.share(m.cost, of: now.cost) + "%", money(group.previousCost),
            ]
        }
        totalRow = [
            "Total", count(now.requests), count(tokens(now)), money(now.cost),
            StatementFigures.share(now.cost, of: now.cost) + "%", money(before.cost),
        ]
        budgetRows = s.budgets.map { budget in
            [
                DocumentText.clean(budget.name), DocumentText.clean(budget.scope), DocumentText.clean(budget.period),
                money(budget.amount), money(budget.spent), Self.status(budget.status),
            ]
        }
        daily = s.daily.map { ($0.date, money($0.cost)) }
        let top = s.daily.max { $0.cost < $1.cost }
        peak = s.daily.first { $0.cost == top?.cost && $0.cost > .zero }.map { ($0.date, money($0.cost)) }
    }

    /// "ok" → "OK", "warning" → "Warning", "exceeded" → "Exceeded"; anything else as given.
    static func status(_ raw: String) -> String {
        switch raw {
        case "ok": "OK"
        case "warning": "Warning"
        case "exceeded": "Exceeded"
        default: DocumentText.clean(raw)
        }
    }
}

import Plot
import TallyCore
import TallyDocuments
import TallyServices

/// `/statements`: a period's statement (issue 20), as finance reads it: totals beside the previous period, the daily
/// spend, a table per team, project, user, feature or model with shares, budgets, the provider-billed figure, and the
/// downloads (PDF, CSV, text, JSON) of the same statement from `GET /api/v1/statements`. Admins close and reopen
/// months here; a closed month shows its number and who closed it.
package enum StatementsPage {
    package struct Query: Sendable, Equatable {
        /// As the API takes it: `2026-11`, `2026-W47`, `2026-11-20`; nil: this month.
        package var period: String?
        package var billingCycle: String?
        package var groupBy: UsageDimension = .project

        package init(query: [String: String]) {
            period = query["period"].flatMap { $0.isEmpty ? nil : $0 }
            billingCycle = query["billing_cycle"].flatMap { $0.isEmpty ? nil : $0 }
            if let d = try? StatementGroupings.parse(query["group_by"]) { groupBy = d }
        }

        /// The API query for this statement (no format).
        package var apiQuery: String {
            var items: [(String, String)] = []
            if let period { items.append(("period", period)) }
            if let billingCycle { items.append(("billing_cycle", billingCycle)) }
            items.append(("group_by", groupBy.rawValue))
            return items.map { "\($0.0)=\(URLText.percentEncoded($0.1))" }.joined(separator: "&")
        }
    }

    package struct Model: Sendable {
        package var query: Query
        package var statement: Statement?
        /// What was wrong with the query, in words (the statement is then nil).
        package var problem: String?
        package var closed: [ClosedPeriod]
    }

    package static func load(statements: StatementService<some StatementStore>, page: SignedInPage, query: Query)
        async throws -> Model
    {
        let closed = try await statements.closedPeriods(organizationID: page.organization.id)
        do {
            let s = try await statements.statement(
                period: query.period, billingCycle: query.billingCycle, groupBy: query.groupBy,
                organizationID: page.organization.id)
            return Model(query: query, statement: s, problem: nil, closed: closed)
        } catch TallyError.invalid(let problems) {
            return Model(
                query: query, statement: nil,
                problem: problems.map { "\($0.field) \($0.reason)" }.joined(separator: "; "),
                closed: closed)
        }
    }

    // MARK: View

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        Layout.page(
            title: "Statements", signedIn: page.header,
            .h1("Statements"),
            picker(m.query),
            .unwrap(m.problem) { .p(.id("statement-problem"), .class("notice error"), .text($0)) },
            .unwrap(m.statement) { statement(page, m, $0) },
            closedList(m.closed))
    }

    static func picker(_ q: Query) -> Node<HTML.BodyContext> {
        .form(
            .id("statement-picker"), .class("card row"), .method(.get), .action("/statements"),
            .div(
                .label(.for("statement-period"), "Period"),
                .input(
                    .id("statement-period"), .name("period"), .type(.text), .value(q.period ?? ""),
                    .attribute(named: "placeholder", value: "2026-11, 2026-W47 or 2026-11-20"),
                    .attribute(named: "aria-describedby", value: "statement-period-hint")),
                .p(
                    .id("statement-period-hint"), .class("muted small"),
                    "A month, an ISO week or a day; empty: this month")),
            .div(
                .label(.for("statement-cycle"), "or billing cycle starting in"),
                .input(
                    .id("statement-cycle"), .name("billing_cycle"), .type(.text), .value(q.billingCycle ?? ""),
                    .attribute(named: "placeholder", value: "2026-11"))),
            .div(
                .label(.for("statement-group"), "Group by"),
                .select(
                    .id("statement-group"), .attribute(named: "name", value: "group_by"),
                    .forEach(StatementGroupings.all) {
                        .option(.value($0.rawValue), .label(UsageExplorer.label($0)), .isSelected($0 == q.groupBy))
                    })),
            .button(.type(.submit), "Show"))
    }

    static func statement(_ page: SignedInPage, _ m: Model, _ s: Statement) -> Node<HTML.BodyContext> {
        let api = "/api/v1/statements?" + m.query.apiQuery + "&format="
        let t = s.totals, p = s.previous.totals
        // The overview's metric cards: the figure, then the previous period's.
        func figure(_ label: String, _ now: String, _ before: String, id: String) -> Node<HTML.BodyContext> {
            .div(
                .id(id), .class("card metric"), .p(.class("label"), .text(label)),
                .span(.class("value"), .text(now)), .p(.class("compare"), .text("\(s.previous.label): \(before)")))
        }
        return .group(
            .section(
                .id("statement"), .class("card"), .attribute(named: "aria-labelledby", value: "statement-heading"),
                .div(
                    .class("actions"),
                    .h2(
                        .id("statement-heading"),
                        .text(
                            "\(s.organizationName) · \(s.period.label) (\(s.period.firstDay) – \(s.period.lastDay), "
                                + "\(s.timeZone))")),
                    .span(.class("spacer")),
                    .a(.class("button"), .href(api + "pdf"), "PDF"), .a(.href(api + "csv"), "CSV"),
                    .a(.href(api + "txt"), "Text"), .a(.href(api + "json"), "JSON")),
                .unwrap(s.closure) { c in
                    .p(
                        .id("statement-closed"), .class("notice"),
                        .text(
                            "Statement \(c.number): closed on \(Format.localTime(c.closedAt, zone: page.zone)) by "
                                + "\(c.closedBy). Its figures no longer change."))
                },
                .div(
                    .class("grid"),
                    figure("Spend", StatementFigures.money(t.cost), StatementFigures.money(p.cost), id: "kpi-spend"),
                    figure(
                        "Tokens", Format.integer(t.tokens),
                        Format.integer(p.tokens), id: "kpi-tokens"),
                    figure("Requests", Format.integer(t.requests), Format.integer(p.requests), id: "kpi-requests"),
                    figure("Errors", Format.integer(t.errors), Format.integer(p.errors), id: "kpi-errors"),
                    figure(
                        "Unpriced requests", Format.integer(t.unpricedRequests), Format.integer(p.unpricedRequests),
                        id: "kpi-unpriced")),
                .unwrap(s.providerBilled) { billed in
                    .p(
                        .id("statement-billed"),
                        .text(
                            "Provider-billed (cost reports): \(StatementFigures.money(billed)) · Tally estimate: "
                                + StatementFigures.money(t.cost)))
                },
                dailyChart(s).node(),
                groupTable(s),
                .unwrap(s.budgets.isEmpty ? nil : s.budgets) { budgetTable($0) },
                .p(.class("muted small"), "Estimate from list prices; the provider's invoice is authoritative.")),
            closeForm(page, s))
    }

    static func dailyChart(_ s: Statement) -> StackedBarChart {
        StackedBarChart(
            id: "statement-daily", title: "Daily spend", series: ["Spend"],
            bars: s.daily.map { d in
                StackedBarChart.Bar(label: Format.day(d.date), fullLabel: d.date.description, values: [d.cost.nanos])
            },
            format: { StatementFigures.money(USD(nanos: $0)) }, axisFormat: { Format.money(USD(nanos: $0)) })
    }

    static func groupTable(_ s: Statement) -> Node<HTML.BodyContext> {
        .div(
            .class("table-wrap"),
            .table(
                .id("statement-groups"),
                .thead(
                    .tr(
                        .th(.text(UsageExplorer.label(UsageDimension(rawValue: s.groupBy) ?? .project))),
                        .th(.class("num"), "Requests"), .th(.class("num"), "Tokens"), .th(.class("num"), "Cost"),
                        .th(.class("num"), "Share"), .th(.class("num"), .text("Cost in \(s.previous.label)")))),
                .tbody(
                    .forEach(s.groups) { g in
                        .tr(
                            .td(.text(g.name)), .td(.class("num"), .text(Format.integer(g.metrics.requests))),
                            .td(.class("num"), .text(Format.integer(g.metrics.tokens))),
                            .td(.class("num"), .text(StatementFigures.money(g.metrics.cost))),
                            .td(.class("num"), .text(StatementFigures.share(g.metrics.cost, of: s.totals.cost) + "%")),
                            .td(.class("num"), .text(StatementFigures.money(g.previousCost))))
                    }),
                .tfoot(
                    .tr(
                        .th("Total"), .td(.class("num"), .text(Format.integer(s.totals.requests))),
                        .td(.class("num"), .text(Format.integer(s.totals.tokens))),
                        .td(.class("num"), .text(StatementFigures.money(s.totals.cost))), .td(.class("num"), "100%"),
                        .td(.class("num"), .text(StatementFigures.money(s.previous.totals.cost)))))))
    }

    static func budgetTable(_ budgets: [StatementBudget]) -> Node<HTML.BodyContext> {
        .div(
            .class("table-wrap"),
            .table(
                .id("statement-budgets"),
                .thead(
                    .tr(
                        .th("Budget"), .th("Scope"), .th("Period"), .th(.class("num"), "Amount"),
                        .th(.class("num"), "Spent"), .th("Status"))),
                .tbody(
                    .forEach(budgets) { b in
                        .tr(
                            .td(.text(b.name)), .td(.text(b.scope)), .td(.text(b.period)),
                            .td(.class("num"), .text(StatementFigures.money(b.amount))),
                            .td(.class("num"), .text(StatementFigures.money(b.spent))), .td(.text(b.status)))
                    })))
    }

    /// Admins close a month that has ended, or reopen a closed one, through the API (audited there).
    static func closeForm(_ page: SignedInPage, _ s: Statement) -> Node<HTML.BodyContext> {
        guard s.period.kind == .month, page.allows(.editOrganization) else { return .empty }
        let month = URLText.percentEncoded(s.period.label)
        return .section(
            .class("card"), .attribute(named: "aria-labelledby", value: "close-heading"),
            .h2(.id("close-heading"), "Closing the books"),
            s.closure == nil
                ? .group(
                    .p(
                        .text(
                            "Closing a month numbers its statement and freezes it; re-pricing then leaves its events "
                                + "as they are until the month is reopened.")),
                    SettingsPages.apiForm(
                        "close-period", "POST /api/v1/periods/\(month)/close", submit: "Close \(s.period.label)"))
                : SettingsPages.apiForm(
                    "reopen-period", "POST /api/v1/periods/\(month)/reopen", submit: "Reopen \(s.period.label)"))
    }

    static func closedList(_ closed: [ClosedPeriod]) -> Node<HTML.BodyContext> {
        .section(
            .class("card"), .attribute(named: "aria-labelledby", value: "closed-heading"),
            .h2(.id("closed-heading"), "Closed months"),
            .if(
                closed.isEmpty, .p(.class("muted"), "No month is closed yet."),
                else: .ul(
                    .id("closed-months"),
                    .forEach(closed) { c in
                        .li(
                            .a(.href("/statements?period=" + URLText.percentEncoded(c.month)), .text(c.month)),
                            .text(" · \(c.number) · closed by \(c.closedBy)"))
                    })))
    }
}

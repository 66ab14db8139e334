import Plot
import TallyCore
import TallyForecast
import TallyServices

/// `/forecast`: where a scope's spend is heading: the history, the forecast's p50 and p10–p90 band, the period's end,
/// and with `budget=<id>` the budget's amount, risk and the day it is crossed; the figures come from
/// `ForecastSource` (`GET /api/v1/forecast` answers the same question).
package enum ForecastPage {
    /// The horizons offered (any in `Forecaster.horizons` is accepted in the URL).
    static let horizonChoices = [7, 14, 30, 60, 90]

    package struct Query: Sendable {
        /// The scope filters, read as the usage explorer reads them.
        package var scope: UsageExplorer.State
        package var budgetID: String?
        package var horizon = 30
        package var problems: [FieldProblem] = []

        package init(query: [String: String]) {
            scope = UsageExplorer.State(query: query.filter { UsageDimension(rawValue: $0.key) != nil })
            if let raw = query["budget"], !raw.isEmpty { budgetID = raw }
            if let raw = query["horizon"], !raw.isEmpty {
                if let h = Int(raw), Forecaster.horizons.contains(h) {
                    horizon = h
                } else {
                    problems.append(
                        FieldProblem(
                            field: "horizon",
                            reason: "must be a number of days from 1 to \(Forecaster.horizons.upperBound)"))
                }
            }
        }
    }

    package struct Model: Sendable {
        package var query: Query
        package var answer: ForecastAnswer
        /// The organization's budgets for the select, in name order.
        package var budgets: [(id: String, name: String)]
        package var today: CivilDate

        package init(query: Query, answer: ForecastAnswer, budgets: [(id: String, name: String)], today: CivilDate) {
            self.query = query
            self.answer = answer
            self.budgets = budgets
            self.today = today
        }
    }

    package static func load(
        forecasts: some ForecastSource, store: some BudgetStore & ProjectStore, page: SignedInPage, query: Query,
        now: Instant
    ) async throws -> Model {
        let org = page.organization.id
        let filters = query.scope.storeFilters(projects: try await store.projects(organizationID: org))
        let answer = try await forecasts.forecast(
            ForecastRequest(
                organizationID: org, filters: filters, horizon: query.horizon, budgetID: query.budgetID, now: now))
        let budgets = try await store.budgets(organizationID: org).sorted { $0.name < $1.name }
        return Model(
            query: query, answer: answer, budgets: budgets.map { ($0.id, $0.name) }, today: page.zone.localDate(of: now)
        )
    }

    // MARK: View

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        let a = m.answer
        return Layout.page(
            title: "Forecast", signedIn: page.header,
            .h1("Forecast"),
            .p(
                .class("muted"),
                .text(
                    "Daily cost in \(page.zone.identifier) days: what was spent, and what the next \(m.query.horizon) "
                        + "days will most likely cost, with the range the forecast expects 8 days in 10.")),
            form(m),
            outlook(m),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "daily-heading"),
                .h2(.id("daily-heading"), "Per day"),
                .raw(
                    BandChart(
                        id: "forecast-chart", title: "Cost per day: history and forecast",
                        history: a.history.suffix(90).map { .init(day: $0.day, value: $0.cost) },
                        forecast: a.forecast.map { .init(day: $0.day, band: $0.band) }, level: nil
                    ).svg()),
                legend(budget: false),
                .p(.id("backtest"), .class("muted"), .text(ForecastWords.backtest(a.backtest)))),
            periodChart(m),
            table(a),
            EstimateNote.node())
    }

    static func form(_ m: Model) -> Node<HTML.BodyContext> {
        let errors = Dictionary(m.query.problems.map { ($0.field, $0.reason) }, uniquingKeysWith: { a, _ in a })
        let budgets = [("", "None (this month)")] + m.budgets.map { ($0.id, $0.name) }
        return .form(
            .id("forecast-form"), .method(.get), .action("/forecast"), .class("card"),
            .attribute(named: "data-autosubmit", value: "true"), .attribute(named: "autocomplete", value: "off"),
            .div(
                .class("row"),
                UsageExplorer.select("budget", "Budget", budgets, selected: m.query.budgetID ?? "", error: nil),
                UsageExplorer.select(
                    "horizon", "Days ahead",
                    (Set(horizonChoices).union([m.query.horizon])).sorted().map { ("\($0)", "\($0) days") },
                    selected: "\(m.query.horizon)", error: errors["horizon"])),
            .if(m.query.budgetID == nil, UsageExplorer.filterDetails(m.query.scope)),
            .if(m.query.budgetID != nil, .p(.class("muted small"), "A budget's own scope and ledger apply.")),
            .button(.id("apply"), .type(.submit), "Apply"))
    }

    /// The period's end and, with a budget, its risk and crossing day.
    static func outlook(_ m: Model) -> Node<HTML.BodyContext> {
        let a = m.answer
        let end = a.periodEnd
        return .section(
            .id("outlook"), .class("card"), .attribute(named: "aria-labelledby", value: "outlook-heading"),
            .h2(.id("outlook-heading"), .text("By \(ForecastWords.day(end.day, thisYear: m.today.year))")),
            .p(
                .id("period-end"),
                .text("The period will most likely end at "),
                .strong(.class("p50"), .dataValue(end.band.p50.decimalString), .text(Format.money(end.band.p50))),
                .text(", between "),
                .span(.class("p10"), .dataValue(end.band.p10.decimalString), .text(Format.money(end.band.p10))),
                .text(" and "),
                .span(.class("p90"), .dataValue(end.band.p90.decimalString), .text(Format.money(end.band.p90))),
                .text(" (8 times in 10)."),
                .unwrap(a.periodStart) { start in
                    .text(
                        " Spent since \(ForecastWords.day(start, thisYear: m.today.year)): "
                            + "\(Format.money(a.periodSpent)).")
                }),
            .unwrap(a.budget) { outlook in
                .div(
                    .id("budget-outlook"), .data(named: "risk", value: outlook.risk.rawValue),
                    .p(
                        .text("Budget "), .strong(.text(outlook.budget.name)), .text(": "),
                        .span(
                            .class("amount"), .dataValue(outlook.budget.amount.decimalString),
                            .text(Format.money(outlook.budget.amount))), .text(".")),
                    .p(
                        .id("risk"), .class("risk \(outlook.risk.rawValue)"),
                        .text("Risk: " + ForecastWords.risk(outlook.risk))),
                    .p(.id("crossing"), .text(ForecastWords.crossing(outlook, thisYear: m.today.year))))
            })
    }

    /// The period so far and to its end, summed, against the budget's amount.
    static func periodChart(_ m: Model) -> Node<HTML.BodyContext> {
        let a = m.answer
        guard let start = a.periodStart, let today = a.forecast.first?.day else { return .empty }
        let inPeriod = a.history.filter { $0.day >= start && $0.day < today }
        var running = a.periodSpent - a.spentToday - inPeriod.reduce(USD.zero) { $0 + $1.cost }
        let history = inPeriod.map { day -> BandChart.Point in
            running += day.cost
            return .init(day: day.day, value: running)
        }
        let before = a.periodSpent - a.spentToday
        let forecast = a.forecast.filter { $0.day <= a.periodEnd.day }.map { day in
            BandChart.BandPoint(
                day: day.day,
                band: Quantiles(
                    p1: before + day.cumulative.p1, p10: before + day.cumulative.p10, p50: before + day.cumulative.p50,
                    p90: before + day.cumulative.p90, p99: before + day.cumulative.p99))
        }
        let level = a.budget.map { ($0.budget.amount, "Budget " + Format.money($0.budget.amount)) }
        return .section(
            .class("card"), .attribute(named: "aria-labelledby", value: "period-heading"),
            .h2(.id("period-heading"), "The period, summed"),
            .raw(
                BandChart(
                    id: "period-chart", title: "Spend since the period began, and where it ends", history: history,
                    forecast: forecast, level: level
                ).svg()),
            legend(budget: level != nil))
    }

    static func legend(budget: Bool) -> Node<HTML.BodyContext> {
        .ul(
            .class("legend"),
            .li(.span(.class("swatch history"), .attribute(named: "aria-hidden", value: "true")), "Spent"),
            .li(.span(.class("swatch p50"), .attribute(named: "aria-hidden", value: "true")), "Forecast (p50)"),
            .li(
                .span(.class("swatch band"), .attribute(named: "aria-hidden", value: "true")), "Likely range (p10–p90)"),
            .if(budget, .li(.span(.class("swatch level"), .attribute(named: "aria-hidden", value: "true")), "Budget")))
    }

    static func table(_ a: ForecastAnswer) -> Node<HTML.BodyContext> {
        .element(
            named: "details",
            nodes: [
                .element(named: "summary", text: "Show the forecast as a table"),
                .div(
                    .class("table-wrap"),
                    .table(
                        .id("forecast-table"),
                        .caption("Forecast per day (\(a.method))"),
                        .thead(
                            .tr(
                                .th("Day"), .th(.class("num"), "p10"), .th(.class("num"), "p50"),
                                .th(.class("num"), "p90"), .th(.class("num"), "Sum so far (p50)"))),
                        .tbody(
                            .forEach(a.forecast) { d in
                                .tr(
                                    .td(.text(d.day.description)), .td(.class("num"), .text(Format.money(d.band.p10))),
                                    .td(.class("num"), .text(Format.money(d.band.p50))),
                                    .td(.class("num"), .text(Format.money(d.band.p90))),
                                    .td(.class("num"), .text(Format.money(d.cumulative.p50))))
                            }))),
            ])
    }
}

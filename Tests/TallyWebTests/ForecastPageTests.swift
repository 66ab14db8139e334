import Foundation
import TallyCore
import TallyForecast
import TallyServices
import TallyTestSupport
import Testing

@testable import TallyWeb

/// The Forecast page (issue 18), rendered from a fixed answer.
@Suite struct ForecastPageTests {
    static let today = CivilDate(year: 2026, month: 11, day: 23)

    static func usd(_ text: String) -> USD { USD(decimal: text)! }

    static func band(_ p50: Int64) -> Quantiles {
        Quantiles(
            p1: USD(nanos: p50 * 400_000_000), p10: USD(nanos: p50 * 700_000_000), p50: USD(nanos: p50 * 1_000_000_000),
            p90: USD(nanos: p50 * 1_300_000_000), p99: USD(nanos: p50 * 1_800_000_000))
    }

    static func answer(budget name: String = "Search", risk: BudgetRisk = .high, crossing: Int? = 4) -> ForecastAnswer {
        let history = (1...14).map { i in
            DayCost(day: today.addingDays(Int64(i - 15)), cost: USD(nanos: Int64(10 + i % 7) * 1_000_000_000))
        }
        var sum: Int64 = 0
        let forecast = (0..<8).map { i -> DayForecast in
            sum += 12
            return DayForecast(day: today.addingDays(Int64(i)), band: band(12), cumulative: band(sum))
        }
        let budget = Budget(
            id: "bud_search", organizationID: Sample.organization.id, name: name, scope: [.feature: ["search"]],
            period: .month, amount: usd("300"), thresholds: [100], channelIDs: [], createdAt: Sample.now,
            updatedAt: Sample.now)
        return ForecastAnswer(
            method: Forecaster.method, history: history, forecast: forecast,
            periodEnd: (CivilDate(year: 2026, month: 11, day: 30), band(330)),
            budget: BudgetOutlook(
                budget: budget, risk: risk, exceedDayP50: crossing.map { today.addingDays(Int64($0)) },
                daysUntilExceeded: crossing),
            backtest: Backtest(mase: 0.8, mape: 0.123, coverageP10P90: 0.79, days: 56), spentToday: usd("3"),
            periodStart: CivilDate(year: 2026, month: 11, day: 1), periodSpent: usd("250"))
    }

    static func model(_ answer: ForecastAnswer, query: [String: String] = ["budget": "bud_search"])
        -> ForecastPage.Model
    {
        ForecastPage.Model(
            query: ForecastPage.Query(query: query), answer: answer,
            budgets: [("bud_search", answer.budget?.budget.name ?? "Search")],
            today: today)
    }

    @Test func theChartTheBandTheBudgetAndTheWords() throws {
        let html = ForecastPage.render(Sample.page(section: .forecast), Self.model(Self.answer()))
        try Snapshot.check(html, "forecast-budget")
        #expect(html.contains(#"<a href="/forecast" aria-current="page">Forecast</a>"#))
        #expect(html.contains(#"<polygon class="band""#))
        #expect(html.contains(#"<polyline class="p50""#))
        #expect(html.contains(#"<polyline class="history""#))
        #expect(html.contains(#"<line class="level""#))
        #expect(html.contains("Crosses the budget on Friday, 27 November, in 4 days."))
        #expect(html.contains(#"data-risk="high""#))
        #expect(html.contains("Risk: High: the likely total is over the budget."))
        #expect(html.contains(#"<strong class="p50" data-value="330">$330.00</strong>"#))
        #expect(
            html.contains(
                "Over the last 56 days, forecasts made from this scope's own history were off by 12% a day on average, and 79% of days fell inside the shaded range (the aim is 80%); that is 20% closer than repeating the same weekday of the week before."
            ))
        #expect(html.contains(#"<option value="bud_search" label="Search" selected"#))
    }

    @Test func withoutACrossingItStaysUnder() {
        let html = ForecastPage.render(
            Sample.page(section: .forecast), Self.model(Self.answer(risk: .low, crossing: nil)))
        #expect(html.contains("Stays under the budget."))
        #expect(html.contains("Risk: Low"))
    }

    @Test func aNewScopeSaysItsRangeIsWide() {
        var answer = Self.answer()
        answer.budget = nil
        answer.backtest = Backtest(mase: nil, mape: nil, coverageP10P90: nil, days: 0)
        let html = ForecastPage.render(Sample.page(.viewer, section: .forecast), Self.model(answer, query: [:]))
        #expect(html.contains("too little history to check this forecast"))
        #expect(!html.contains(#"<line class="level""#))
        #expect(html.contains(#"id="filter-feature""#))
    }

    @Test func aBadHorizonIsNamed() {
        let query = ForecastPage.Query(query: ["horizon": "9999", "feature": "search"])
        #expect(query.problems.map(\.field) == ["horizon"])
        #expect(query.horizon == 30)
        #expect(query.scope.filters == [.feature: "search"])
    }

    /// Budget names and scope filters are anyone's text: they stay text.
    @Test func hostileNamesAreEscaped() {
        let hostile = #"x"><script>alert(1)</script>"#
        let html = ForecastPage.render(
            Sample.page(section: .forecast),
            Self.model(Self.answer(budget: hostile), query: ["budget": "bud_search", "feature": hostile]))
        #expect(!html.contains("<script>alert(1)"))
        #expect(html.contains("x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"))
    }
}

import TallyCore
import TallyDocuments
import Testing

@testable import TallyWeb

/// The Statements page rendered from fixed models: the figures as the documents print them, hostile names escaped,
/// the downloads carrying the page's query, closing for admins only, a closed month saying who closed it.
@Suite struct StatementsPageTests {
    static let hostile = "<img src=x onerror=alert(1)>\"team"

    static func statement(closed: Bool = false) -> Statement {
        var totals = UsageMetrics()
        totals.requests = 1_234
        totals.inputTokens = 1_000_000
        totals.outputTokens = 20_000
        totals.cost = USD(decimal: "12.345")!
        var growth = totals
        growth.cost = USD(decimal: "10")!
        var rest = totals
        rest.cost = USD(decimal: "2.345")!
        let first = CivilDate(year: 2026, month: 11, day: 1)
        return Statement(
            organizationName: "Acme <Research>", timeZone: "UTC",
            period: StatementPeriod(
                kind: .month, label: "2026-11", firstDay: first, lastDay: CivilDate(year: 2026, month: 11, day: 30),
                range: TimeRange(from: Instant(seconds: 1_793_491_200), to: Instant(seconds: 1_796_083_200))),
            groupBy: "team", totals: totals,
            groups: [
                StatementGroup(key: hostile, name: hostile, metrics: growth, previousCost: USD(decimal: "3")!),
                StatementGroup(key: nil, name: "no team", metrics: rest, previousCost: .zero),
            ],
            daily: (0..<30).map { StatementDay(date: first.addingDays(Int64($0)), cost: USD(nanos: Int64($0) * 1000)) },
            previous: StatementPrevious(
                label: "2026-10", firstDay: CivilDate(year: 2026, month: 10, day: 1),
                lastDay: CivilDate(year: 2026, month: 10, day: 31), totals: UsageMetrics(), daily: []),
            budgets: [
                StatementBudget(
                    name: hostile, scope: "project web", period: "month 2026-11-01 – 2026-11-30",
                    amount: USD(decimal: "100")!, spent: USD(decimal: "12.345")!, status: "ok")
            ],
            providerBilled: USD(decimal: "12.10"),
            closure: closed
                ? StatementClosure(
                    number: "ST-202611-1", closedAt: Instant(seconds: 1_796_200_000), closedBy: "ana@example.com")
                : nil,
            generatedAt: Instant(seconds: 1_796_200_000))
    }

    static func model(closed: Bool = false) -> StatementsPage.Model {
        StatementsPage.Model(
            query: StatementsPage.Query(query: ["period": "2026-11", "group_by": "team"]),
            statement: statement(closed: closed), problem: nil, closed: [])
    }

    @Test func theStatementShowsItsFiguresEscapedWithDownloads() throws {
        let html = StatementsPage.render(Sample.page(.owner, section: .statements), Self.model())
        try Snapshot.check(html, "statements-open")
        #expect(!html.contains("<img src=x"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(html.contains("$12.345") && html.contains("$10.00") && html.contains("81.0%") && html.contains("1,234"))
        #expect(html.contains("Provider-billed (cost reports): $12.10"))
        for format in ["pdf", "csv", "txt", "json"] {
            #expect(html.contains("/api/v1/statements?period=2026-11&amp;group_by=team&amp;format=\(format)"))
        }
        #expect(html.contains("data-api=\"POST /api/v1/periods/2026-11/close\""))
    }

    @Test func viewersCannotCloseAndAClosedMonthSaysWhoClosedIt() throws {
        let viewer = StatementsPage.render(Sample.page(.viewer, section: .statements), Self.model())
        #expect(!viewer.contains("/close\"") && !viewer.contains("/reopen\""))
        let closed = StatementsPage.render(Sample.page(.admin, section: .statements), Self.model(closed: true))
        try Snapshot.check(closed, "statements-closed")
        #expect(closed.contains("Statement ST-202611-1: closed on") && closed.contains("by ana@example.com"))
        #expect(closed.contains("data-api=\"POST /api/v1/periods/2026-11/reopen\""))
    }

    @Test func theQueryKeepsOnlyWhatAStatementTakes() {
        let q = StatementsPage.Query(query: ["period": "2026-W47", "group_by": "api_key", "billing_cycle": ""])
        #expect(q.period == "2026-W47" && q.billingCycle == nil && q.groupBy == .project)
        #expect(q.apiQuery == "period=2026-W47&group_by=project")
    }
}

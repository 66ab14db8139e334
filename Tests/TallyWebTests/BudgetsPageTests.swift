import Foundation
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyWeb

/// The Budgets page and the overview's banner (issue 17), rendered from fixed models.
@Suite struct BudgetsPageTests {
    static let channel = AlertChannel(
        id: "ch_ops", organizationID: Sample.organization.id, name: "Ops mail", kind: .email,
        targets: ["ops@example.com"], sealedSecret: nil, createdAt: Sample.now, updatedAt: Sample.now)

    static func row(
        _ name: String, amount: String, spent: String, percent: String, thresholds: [Int] = [80, 90, 100],
        fired: [Int: Instant] = [:]
    ) -> BudgetsPage.Row {
        let budget = Budget(
            id: "bud_" + name.filter(\.isLetter).lowercased(), organizationID: Sample.organization.id, name: name,
            scope: [.project: ["prj_web"], .model: ["gpt-4o"]], period: .month, amount: USD(decimal: amount)!,
            thresholds: thresholds, channelIDs: ["ch_ops"], createdAt: Sample.now, updatedAt: Sample.now)
        let period = BudgetPeriod(
            firstDay: CivilDate(year: 2026, month: 11, day: 1), lastDay: CivilDate(year: 2026, month: 11, day: 30),
            zone: Sample.zone)
        let spentUSD = USD(decimal: spent)!
        let status = BudgetStatus(
            period: period.range, firstDay: period.firstDay, lastDay: period.lastDay, spent: spentUSD,
            percent: percent, remaining: budget.amount > spentUSD ? budget.amount - spentUSD : .zero,
            thresholds: thresholds.map { ($0, fired[$0]) })
        return BudgetsPage.Row(
            budget: budget, status: status, daysLeft: period.daysLeft(at: Sample.now, zone: Sample.zone),
            scope: [(.project, ["web"]), (.model, ["gpt-4o"])], channels: ["Ops mail"])
    }

    static let rows = [
        row("Search", amount: "250.00", spent: "226.125", percent: "90.45", fired: [80: Sample.now, 90: Sample.now]),
        row("Batch jobs", amount: "1000", spent: "12.5", percent: "1.25", thresholds: [50, 150]),
    ]

    @Test func adminsSeeBarsThresholdsDaysLeftChannelsAndForms() throws {
        let html = BudgetsPage.render(
            Sample.page(section: .budgets),
            BudgetsPage.Model(rows: Self.rows, channels: [Self.channel], canEdit: true))
        try Snapshot.check(html, "budgets-admin")
        #expect(html.contains(#"data-budget-id="bud_search""#))
        #expect(html.contains(#"<line class="mark" data-threshold="90""#))
        // The Search bar: 90.45% of a 100% scale; Batch jobs is scaled to its 150% threshold.
        #expect(html.contains(#"<rect class="fill near" x="0" y="0" width="90.45""#))
        #expect(html.contains(#"data-threshold="150" x1="100.00""#))
        #expect(html.contains("8 days left"))
        #expect(html.contains("Channels: Ops mail"))
        #expect(html.contains(#"data-api="POST /api/v1/budgets""#))
        #expect(html.contains(#"data-api="PATCH /api/v1/budgets/bud_search""#))
        #expect(html.contains(#"data-error-for="amount_usd""#))
        #expect(html.contains(#"data-error-for="scope.project""#))
    }

    /// Issue 19: an enforced budget says so and shows what calls in flight hold of it; the form carries the box.
    @Test func anEnforcedBudgetShowsItsReservations() {
        var row = Self.row("Hard", amount: "10", spent: "4", percent: "40.00")
        row.budget.enforce = true
        row.reserved = USD(decimal: "1.25")!
        let html = BudgetsPage.render(
            Sample.page(section: .budgets), BudgetsPage.Model(rows: [row, Self.rows[0]], channels: [], canEdit: true))
        #expect(html.components(separatedBy: "badge enforced").count == 2)
        #expect(html.contains(#"<span class="reserved" data-value="1.25">$1.25 reserved by calls in flight</span>"#))
        #expect(html.components(separatedBy: "reserved by calls in flight").count == 2)
        #expect(html.contains(#"id="budget-bud_hard-enforce" type="checkbox" name="enforce""#))
        #expect(html.contains(#"data-error-for="enforce""#))
    }

    @Test func viewersSeeNoForms() throws {
        let html = BudgetsPage.render(
            Sample.page(.viewer, section: .budgets), BudgetsPage.Model(rows: Self.rows, channels: [], canEdit: false))
        try Snapshot.check(html, "budgets-viewer")
        #expect(!html.contains("<form id=\"budget"))
        #expect(!html.contains("DELETE /api/v1/budgets"))
        #expect(html.contains("Only admins and above can create and change budgets."))
    }

    @Test func noBudgetYet() {
        let html = BudgetsPage.render(
            Sample.page(section: .budgets), BudgetsPage.Model(rows: [], channels: [], canEdit: true))
        #expect(html.contains(#"id="no-budgets""#))
    }

    /// A budget's name and scope are anyone's text: they stay text, in the page, the bar's label and the forms.
    @Test func hostileNamesAreEscaped() {
        let hostile = #"x"><script>alert(1)</script>"#
        var row = Self.row(hostile, amount: "10", spent: "1", percent: "10.00")
        row.scope = [(.feature, [hostile])]
        row.channels = [hostile]
        let html = BudgetsPage.render(
            Sample.page(section: .budgets), BudgetsPage.Model(rows: [row], channels: [], canEdit: true))
        #expect(!html.contains("<script>alert"))
        #expect(html.contains("&quot;&gt;&lt;script&gt;"))
        #expect(
            !BudgetsPage.render(
                Sample.page(section: .budgets), BudgetsPage.Model(rows: [row], channels: [], canEdit: false)
            ).contains("<script>alert"))
    }

    /// Exactly above 80%: 80.00% is not, 80.000000001% is.
    @Test func aboveEightyIsExact() {
        #expect(!Self.row("a", amount: "100", spent: "80", percent: "80.00").isAbove(percent: 80))
        #expect(Self.row("a", amount: "100", spent: "80.000000001", percent: "80.00").isAbove(percent: 80))
    }

    @Test func theOverviewBannerListsBudgetsAbove80() throws {
        let banner = Layout.page(title: "t", BudgetsPage.banner([Self.rows[0]]))
        #expect(banner.contains(#"id="budgets-alert""#))
        #expect(banner.contains("Search"))
        #expect(banner.contains("(90.45%), 8 days left"))
        // On the overview it comes first, above the cards; without such a budget there is none.
        var model = DashboardViewTests().overviewModel()
        model.budgetsAbove80 = [Self.rows[0]]
        let html = OverviewPage.render(Sample.page(), model)
        let alert = try #require(html.range(of: #"id="budgets-alert""#))
        let cards = try #require(html.range(of: #"id="card-spend""#))
        #expect(alert.lowerBound < cards.lowerBound)
        #expect(!OverviewPage.render(Sample.page(), DashboardViewTests().overviewModel()).contains("budgets-alert"))
    }
}

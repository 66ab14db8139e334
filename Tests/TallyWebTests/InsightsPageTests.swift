import TallyCore
import Testing

@testable import TallyWeb

/// The Insights page rendered from fixed models: the finding, its figures and saving, the explorer link, hostile
/// names escaped, the dismiss button only on new insights for members and above, the status filter.
@Suite struct InsightsPageTests {
    static let seen = Instant(rfc3339: "2026-11-23T09:15:00Z")!

    static func insight(status: InsightStatus = .new) -> Insight {
        Insight(
            id: "in_0123456789abcdef01234567", organizationID: Sample.organization.id,
            finding: InsightFinding(
                kind: .expensiveModelForSimpleTasks,
                key: "expensive_model_for_simple_tasks:feature:<img src=x onerror=alert(1)>:openai:gpt-4o",
                title: "Feature <img src=x onerror=alert(1)> sends short requests to gpt-4o",
                detail: "Over the last 30 days, feature <b>x</b> made 20,000 requests.",
                evidence: [
                    InsightFigure("feature", .text("<img src=x onerror=alert(1)>")),
                    InsightFigure("requests", .count(20_000)), InsightFigure("cost_usd", .usd(USD(decimal: "25")!)),
                    InsightFigure("share_percent", .percent("62.5")),
                ], estimatedMonthlySavings: USD(decimal: "24"),
                explorerURL: "/usage?group_by=model&feature=%3Cimg%20src%3Dx%3E&provider=openai\"onclick=\"x"),
            status: status, firstSeen: seen, lastSeen: seen)
    }

    @Test func anInsightShowsItsFiguresSavingAndLinkEscaped() {
        let html = InsightsPage.render(
            Sample.page(.member, section: .insights),
            InsightsPage.Model(status: .new, insights: [Self.insight()], computedAt: Self.seen))
        #expect(html.contains("data-insight-id=\"in_0123456789abcdef01234567\""))
        #expect(html.contains("Expensive model for simple tasks"))
        #expect(!html.contains("<img src=x") && !html.contains("<b>x</b>"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(html.contains("$24.00") && html.contains("$25.00") && html.contains("62.5%") && html.contains("20,000"))
        #expect(html.contains("<dt>Share</dt>") && html.contains("<dt>Cost</dt>"))
        #expect(!html.contains("\"onclick=\""), "the explorer link's quote is escaped")
        #expect(
            html.contains(
                "href=\"/usage?group_by=model&amp;feature=%3Cimg%20src%3Dx%3E&amp;provider=openai&quot;onclick=&quot;x\""
            ))
        #expect(html.contains("data-api=\"POST /api/v1/insights/in_0123456789abcdef01234567/dismiss\""))
        #expect(html.contains("<meta name=\"csrf-token\" content=\"csrf-token\""))
        #expect(
            html.contains("href=\"/insights\" aria-current=\"page\"")
                || html.contains("aria-current=\"page\" href=\"/insights\""))
    }

    @Test func viewersAndDismissedInsightsHaveNoButton() {
        let viewer = InsightsPage.render(
            Sample.page(.viewer, section: .insights),
            InsightsPage.Model(status: .new, insights: [Self.insight()], computedAt: nil))
        #expect(!viewer.contains("/dismiss"))
        let dismissed = InsightsPage.render(
            Sample.page(.owner, section: .insights),
            InsightsPage.Model(status: nil, insights: [Self.insight(status: .dismissed)], computedAt: nil))
        #expect(!dismissed.contains("/dismiss"))
        #expect(dismissed.contains("data-insight-status=\"dismissed\""))
    }

    @Test func theStatusFilterAndAnEmptyList() {
        #expect(InsightsPage.status(query: [:]) == .new)
        #expect(InsightsPage.status(query: ["status": "all"]) == nil)
        #expect(InsightsPage.status(query: ["status": "resolved"]) == .resolved)
        #expect(InsightsPage.status(query: ["status": "<script>"]) == .new)
        let html = InsightsPage.render(
            Sample.page(.owner, section: .insights), InsightsPage.Model(status: nil, insights: [], computedAt: nil))
        #expect(html.contains("id=\"no-insights\""))
        #expect(html.contains("<option value=\"all\" label=\"all\" selected"))
    }

    @Test func adminsGetTheThresholdsFormPrefilled() {
        var settings = InsightSettings()
        settings.growthPercent = 75
        settings.batchFeatures = ["nightly <report>"]
        let admin = InsightsPage.render(
            Sample.page(.admin, section: .insights),
            InsightsPage.Model(status: .new, insights: [], computedAt: nil, settings: settings))
        #expect(admin.contains("data-api=\"PUT /api/v1/insight-settings\""))
        #expect(admin.contains("name=\"growth_percent\"") && admin.contains("value=\"75\""))
        #expect(admin.contains("value=\"nightly &lt;report&gt;\""))
        #expect(admin.contains("value=\"10.00\""))
        let member = InsightsPage.render(
            Sample.page(.member, section: .insights), InsightsPage.Model(status: .new, insights: [], computedAt: nil))
        #expect(!member.contains("insight-settings\""))
        #expect(member.contains("Only admins and above can change the thresholds."))
    }
}

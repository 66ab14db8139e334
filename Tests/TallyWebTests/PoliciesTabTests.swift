import TallyCore
import TallyTestSupport
import Testing

@testable import TallyWeb

/// Settings → Policies (issue 19): each policy's mode, scope, rules and 7-day counts; the newest hits; the create form
/// (monitor by default), the mode switch and delete through the CSRF-protected API; hostile values kept as text.
@Suite struct PoliciesTabTests {
    static let hostile = #"x'"></td><script>alert(1)</script>"#

    static func model(name: String = "Batch jobs", canEdit: Bool = true) -> SettingsPages.PoliciesTab.Model {
        let monitor = Policy(
            id: "pol_batch", organizationID: "org_acme", name: name,
            scope: PolicyScope(projectID: "prj_web", feature: "nightly"), mode: .monitor,
            rules: PolicyRules(
                modelsAllow: ["gpt-5.4-mini*"], maxOutputTokens: 4096, maxCostPerRequest: USD(decimal: "0.5"),
                requestsPerMinute: 120),
            createdAt: Sample.now, updatedAt: Sample.now)
        let enforce = Policy(
            id: "pol_cap", organizationID: "org_acme", name: "Cap", scope: PolicyScope(), mode: .enforce,
            rules: PolicyRules(modelsDeny: ["o3-pro*"], tokensPerMinute: 400_000, maxConcurrent: 8),
            createdAt: Sample.now, updatedAt: Sample.now)
        let hit = PolicyHit(
            organizationID: "org_acme", policyID: "pol_batch", budgetID: nil, rule: .requestsPerMinute, mode: .monitor,
            at: Sample.now, projectID: "prj_web", model: "gpt-5.4-mini",
            message: "Tally gateway: blocked by policy '\(name)' (requests_per_minute: 120 per minute); retry in 23 s")
        let budgetHit = PolicyHit(
            organizationID: "org_acme", policyID: nil, budgetID: "bud_team", rule: .budget, mode: .enforce,
            at: Sample.now, projectID: "prj_web", model: "gpt-5.4", message: "Tally gateway: budget 'Team' is exhausted"
        )
        return .init(
            rows: [
                .init(policy: monitor, projectName: "web", blocked7d: 0, wouldHaveBlocked7d: 1234),
                .init(policy: enforce, projectName: nil, blocked7d: 7, wouldHaveBlocked7d: 0),
            ],
            hits: [
                .init(hit: hit, source: name, projectName: "web"),
                .init(hit: budgetHit, source: "budget Team", projectName: "web"),
            ],
            canEdit: canEdit)
    }

    @Test func policiesTheirCountsHitsAndForms() throws {
        let html = SettingsPages.PoliciesTab.render(Sample.page(.admin, section: .settings), Self.model())
        try Snapshot.check(html, "settings-policies")
        #expect(html.contains(#"href="/settings/policies""#))
        #expect(html.contains(#"data-policy-id="pol_batch""#) && html.contains(#"data-policy-id="pol_cap""#))
        #expect(html.contains("project web; feature nightly") && html.contains("the whole organization"))
        #expect(html.contains("models allowed: gpt-5.4-mini*") && html.contains("max $0.50 per call"))
        #expect(html.contains("1,234") && html.contains("would have blocked"))
        // The switch: monitor → enforce (asking first), enforce → monitor.
        #expect(html.contains(#"data-api="PATCH /api/v1/policies/pol_batch""#))
        #expect(html.contains(#"data-body="{&quot;mode&quot;:&quot;enforce&quot;}""#))
        #expect(html.contains(#"data-body="{&quot;mode&quot;:&quot;monitor&quot;}""#))
        #expect(html.contains(#"data-api="DELETE /api/v1/policies/pol_cap""#))
        // The create form posts to the API in monitor mode; errors land beside their fields.
        #expect(html.contains(#"id="policy-new" data-api="POST /api/v1/policies""#))
        #expect(html.contains(#"name="mode" value="monitor""#))
        #expect(html.contains(#"data-error-for="rules.max_cost_per_request_usd""#))
        #expect(html.contains(#"data-error-for="scope.project""#) && html.contains(#"data-error-for="rules""#))
        #expect(html.contains("budget Team"))
    }

    @Test func viewersOfThePageWithoutTheRightGetNoForms() {
        let html = SettingsPages.PoliciesTab.render(
            Sample.page(.admin, section: .settings), Self.model(canEdit: false))
        #expect(!html.contains("data-api="))
        #expect(html.contains("Only admins and above can create and change policies."))
    }

    @Test func hostileNamesStayText() {
        let html = SettingsPages.PoliciesTab.render(
            Sample.page(.owner, section: .settings), Self.model(name: Self.hostile))
        #expect(!html.contains("<script>alert(1)"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains(#"'"></td>"#))
    }

    @Test func noPolicyYet() {
        let html = SettingsPages.PoliciesTab.render(
            Sample.page(.admin, section: .settings), .init(rows: [], hits: [], canEdit: true))
        #expect(html.contains(#"id="no-policies""#) && html.contains(#"id="no-policy-hits""#))
    }

    @Test func theTabIsForAdmins() {
        #expect(SettingsPages.Tab.policies.permission == .manageAlerts)
        let viewer = SettingsPages.AlertChannelsTab.render(
            Sample.page(.viewer, section: .settings), .init(channels: []))
        #expect(!viewer.contains(#"href="/settings/policies""#))
    }
}

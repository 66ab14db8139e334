import TallyCore
import Testing

@testable import TallyWeb

/// Settings → Alert channels: the list with each channel's target (secrets never), the forms per type carrying the
/// CSRF-protected API path, the test button whose result lands beside it, and hostile names kept as text.
@Suite struct AlertChannelsTabTests {
    static let hostile = #"x'"></td><script>alert(1)</script>"#

    static func channels() -> [AlertChannel] {
        [
            AlertChannel(
                id: "ch_mail", organizationID: "org_acme", name: "Finance " + hostile, kind: .email,
                targets: ["fin@example.com", "ops@example.com"], sealedSecret: nil, createdAt: Sample.now,
                updatedAt: Sample.now),
            AlertChannel(
                id: "ch_hook", organizationID: "org_acme", name: "Hook", kind: .webhook,
                targets: ["https://hooks.example.com/tally?x=" + hostile], sealedSecret: "v1.abc.SEALED",
                createdAt: Sample.now, updatedAt: Sample.now),
            AlertChannel(
                id: "ch_slack", organizationID: "org_acme", name: "Slack", kind: .slack,
                targets: ["https://hooks.slack.com/…"], sealedSecret: "v1.abc.SEALEDURL", createdAt: Sample.now,
                updatedAt: Sample.now),
        ]
    }

    @Test func theListFormsAndTestButtons() throws {
        let page = Sample.page(.admin, section: .settings)
        let html = SettingsPages.AlertChannelsTab.render(page, .init(channels: Self.channels()))
        #expect(html.contains(#"href="/settings/alert-channels""#))
        #expect(html.contains("fin@example.com, ops@example.com"))
        #expect(html.contains("https://hooks.slack.com/…"))
        #expect(html.contains("(signed)"))
        #expect(!html.contains("SEALED"))
        for id in ["ch_mail", "ch_hook", "ch_slack"] {
            #expect(html.contains(#"data-api="POST /api/v1/alert-channels/\#(id)/test""#))
            #expect(html.contains(#"data-api="DELETE /api/v1/alert-channels/\#(id)""#))
        }
        #expect(html.contains(#"data-on-success="show-delivery""#))
        for kind in ["email", "webhook", "slack", "discord"] {
            #expect(html.contains(#"id="new-\#(kind)" data-api="POST /api/v1/alert-channels""#))
            #expect(html.contains(#"name="type" value="\#(kind)""#))
        }
        // Field errors land beside their fields.
        #expect(html.contains(#"data-error-for="to""#) && html.contains(#"data-error-for="url""#))
        #expect(html.contains(#"data-error-for="webhook_url""#) && html.contains(#"data-error-for="name""#))
        #expect(html.contains(#"data-kind="list""#))
    }

    @Test func hostileNamesAndTargetsStayText() {
        let html = SettingsPages.AlertChannelsTab.render(
            Sample.page(.owner, section: .settings), .init(channels: Self.channels()))
        #expect(!html.contains("<script>alert(1)"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains(#"'"></td>"#))
    }

    @Test func noChannelYetAndTheTabIsForAdmins() {
        let html = SettingsPages.AlertChannelsTab.render(Sample.page(.admin, section: .settings), .init(channels: []))
        #expect(html.contains("No alert channel yet."))
        #expect(SettingsPages.Tab.alertChannels.permission.minimumRole == .admin)
        let viewer = SettingsPages.OrganizationTab.render(Sample.page(.viewer, section: .settings))
        #expect(!viewer.contains("/settings/alert-channels"))
    }
}

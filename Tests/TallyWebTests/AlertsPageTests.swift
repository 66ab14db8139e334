import TallyCore
import Testing

@testable import TallyWeb

/// The Alerts page rendered from fixed models: figures and deliveries shown, hostile names escaped, the acknowledge
/// button only for open alerts and members and above, the filters kept.
@Suite struct AlertsPageTests {
    static let firedAt = Instant(rfc3339: "2026-11-23T09:15:00Z")!

    static func item(status: AlertStatus = .open) -> AlertsPage.Item {
        let alert = Alert(
            id: "al_1", organizationID: Sample.organization.id, type: .budgetThreshold,
            dedupeKey: "budget:bud_1:0:90", status: status, firedAt: firedAt, budgetID: "bud_1",
            scope: [.project: ["prj_web"], .feature: ["<img src=x onerror=alert(1)>"]],
            figures: AlertFigures(
                periodStart: Instant(rfc3339: "2026-10-31T23:00:00Z")!,
                periodEnd: Instant(rfc3339: "2026-11-30T23:00:00Z")!, spent: USD(decimal: "226.13")!,
                amount: USD(decimal: "250")!, percent: "90.45", threshold: 90,
                summary: "Budget '<b>Search</b>' passed 90% of $250.00: $226.13 spent"),
            acknowledgedAt: status == .acknowledged ? firedAt : nil,
            acknowledgedBy: status == .acknowledged ? "user:ada@example.com" : nil)
        let deliveries = [
            AlertDelivery(
                id: "dl_1", organizationID: Sample.organization.id, alertID: "al_1", channelID: "ch_mail",
                status: .delivered, attempts: 1, nextAttemptAt: firedAt, deliveredAt: firedAt, createdAt: firedAt),
            AlertDelivery(
                id: "dl_2", organizationID: Sample.organization.id, alertID: "al_1", channelID: "ch_gone",
                status: .pending, attempts: 2, lastError: "HTTP 500 from <hook>", nextAttemptAt: firedAt,
                createdAt: firedAt),
        ]
        return AlertsPage.Item(alert: alert, deliveries: deliveries)
    }

    static func model(_ items: [AlertsPage.Item], filter: AlertsPage.Filter = .init()) -> AlertsPage.Model {
        AlertsPage.Model(
            filter: filter, items: items, channelNames: ["ch_mail": "Finance <team>"],
            projectNames: ["prj_web": "web"], budgetNames: ["bud_1": "Search & Co"], more: false)
    }

    @Test func anAlertShowsItsFiguresAndDeliveriesEscaped() {
        let html = AlertsPage.render(Sample.page(.member, section: .alerts), Self.model([Self.item()]))
        #expect(html.contains("data-alert-id=\"al_1\""))
        #expect(html.contains("Budget threshold"))
        #expect(
            html.contains("Budget &apos;&lt;b&gt;Search&lt;/b&gt;&apos; passed 90%")
                || html.contains("Budget '&lt;b&gt;Search&lt;/b&gt;' passed 90%"))
        #expect(!html.contains("<b>Search</b>"))
        #expect(!html.contains("<img src=x"))
        #expect(html.contains("project web"))
        #expect(html.contains("Search &amp; Co"))
        #expect(html.contains("$226.13") && html.contains("$250.00") && html.contains("90.45%"))
        #expect(html.contains("Finance &lt;team&gt;"))
        #expect(html.contains("ch_gone"))  // a deleted channel shows its id
        #expect(html.contains("HTTP 500 from &lt;hook&gt;"))
        #expect(html.contains("data-api=\"POST /api/v1/alerts/al_1/acknowledge\""))
        #expect(html.contains("<meta name=\"csrf-token\" content=\"csrf-token\""))
        #expect(
            html.contains("href=\"/alerts\" aria-current=\"page\"")
                || html.contains("aria-current=\"page\" href=\"/alerts\""))
    }

    @Test func viewersAndAcknowledgedAlertsHaveNoButton() {
        let viewer = AlertsPage.render(Sample.page(.viewer, section: .alerts), Self.model([Self.item()]))
        #expect(!viewer.contains("/acknowledge"))
        let done = AlertsPage.render(
            Sample.page(.owner, section: .alerts), Self.model([Self.item(status: .acknowledged)]))
        #expect(!done.contains("/acknowledge"))
        #expect(done.contains("by user:ada@example.com"))
        #expect(done.contains("data-alert-status=\"acknowledged\""))
    }

    @Test func theFiltersAreKeptAndAnEmptyListSaysSo() {
        let filter = AlertsPage.Filter(query: ["type": "spike", "status": "resolved", "x": "<script>"])
        #expect(filter == AlertsPage.Filter(type: .spike, status: .resolved))
        #expect(AlertsPage.Filter(query: ["type": "nonsense"]) == AlertsPage.Filter())
        let html = AlertsPage.render(Sample.page(.owner, section: .alerts), Self.model([], filter: filter))
        #expect(html.contains("id=\"no-alerts\""))
        #expect(html.contains("<option value=\"spike\" label=\"Spend spike\" selected"))
        #expect(html.contains("<option value=\"resolved\" label=\"resolved\" selected"))
    }
}

import Plot
import TallyCore

/// `/insights`: what the organization could change, as cards with the finding in plain words, its figures, the
/// estimated monthly saving, a link to the usage explorer showing the evidence, and a dismiss button (members and
/// above). Computed daily; the filter shows new (default), dismissed, resolved or all insights.
package enum InsightsPage {
    package struct Model: Sendable {
        /// nil: every status.
        package var status: InsightStatus?
        package var insights: [Insight]
        package var computedAt: Instant?
    }

    /// From the page's query: `status=new|dismissed|resolved|all`; an unknown value is the default (new).
    package static func status(query: [String: String]) -> InsightStatus? {
        query["status"] == "all" ? nil : query["status"].flatMap(InsightStatus.init(rawValue:)) ?? .new
    }

    package static func load(store: some InsightStore, organizationID: String, status: InsightStatus?) async throws
        -> Model
    {
        Model(
            status: status, insights: try await store.insights(organizationID: organizationID, status: status),
            computedAt: try await store.insightsComputedAt(organizationID: organizationID))
    }

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        Layout.page(
            title: "Insights", signedIn: page.header,
            .h1("Insights"),
            .p(
                .class("muted"),
                .text(
                    "What the last 30 days of usage suggest changing, computed once a day"
                        + (m.computedAt.map { " (last: \(Format.localTime($0, zone: page.zone)))" } ?? "")
                        + ". Savings are estimates at today's catalog prices.")),
            filterForm(m.status),
            .if(
                m.insights.isEmpty, .p(.id("no-insights"), .class("card"), "No insights match."),
                else: .div(.id("insights"), .forEach(m.insights) { card(page, $0) })))
    }

    static func filterForm(_ status: InsightStatus?) -> Node<HTML.BodyContext> {
        .form(
            .id("insights-filter"), .method(.get), .action("/insights"), .class("card"),
            .attribute(named: "data-autosubmit", value: "true"),
            .div(
                .label(.for("insight-status"), "Status"),
                .select(
                    .id("insight-status"), .attribute(named: "name", value: "status"),
                    .forEach(InsightStatus.allCases) { s in
                        .option(.value(s.rawValue), .label(s.rawValue), .isSelected(status == s))
                    },
                    .option(.value("all"), .label("all"), .isSelected(status == nil)))),
            .button(.type(.submit), "Filter"))
    }

    static func label(_ kind: InsightKind) -> String {
        switch kind {
        case .concentration: "Concentration"
        case .growth: "Growth"
        case .expensiveModelForSimpleTasks: "Expensive model for simple tasks"
        case .featureSpike: "Feature spike"
        case .lowCacheUse: "Low cache use"
        case .errorSpend: "Spend on errors"
        case .batchCandidate: "Batch candidate"
        }
    }

    /// `cost_usd` → "Cost"; `share_percent` → "Share".
    static func figureName(_ name: String) -> String {
        var words = name.split(separator: "_").map(String.init)
        if let last = words.last, ["usd", "percent"].contains(last), words.count > 1 { words.removeLast() }
        let text = words.joined(separator: " ")
        return text.prefix(1).uppercased() + text.dropFirst()
    }

    static func figureValue(_ value: InsightValue) -> String {
        switch value {
        case .usd(let v): Format.money(v)
        case .count(let n): Format.integer(n)
        case .percent(let p): p + "%"
        case .text(let t): t
        }
    }

    static func card(_ page: SignedInPage, _ i: Insight) -> Node<HTML.BodyContext> {
        .section(
            .class("card insight"), .data(named: "insight-id", value: i.id),
            .data(named: "insight-kind", value: i.finding.kind.rawValue),
            .data(named: "insight-status", value: i.status.rawValue),
            .p(
                .class("muted small"), .text(label(i.finding.kind)), .text(" · "),
                .span(.class("row-status"), .text(i.status.rawValue))),
            .h2(.class("insight-title"), .text(i.finding.title)),
            .p(.class("insight-detail"), .text(i.finding.detail)),
            .unwrap(i.finding.estimatedMonthlySavings) { saving in
                .p(
                    .class("insight-savings"), .text("Estimated saving: "),
                    .strong(.dataValue(saving.decimalString), .text(Format.money(saving))), .text(" a month"))
            },
            .dl(
                .class("figures"),
                .forEach(i.finding.evidence) { f in
                    .group(
                        .dt(.text(figureName(f.name))),
                        .dd(.data(named: "figure", value: f.name), .text(figureValue(f.value))))
                },
                .dt("First seen"), .dd(.text(Format.localTime(i.firstSeen, zone: page.zone))),
                .dt("Last seen"), .dd(.text(Format.localTime(i.lastSeen, zone: page.zone)))),
            .p(.a(.class("insight-explorer"), .href(i.finding.explorerURL), "See the usage behind it")),
            .if(
                i.status == .new && page.role >= .member,
                SettingsPages.actionButton(
                    "Dismiss", api: "POST /api/v1/insights/\(i.id)/dismiss", action: "dismiss")))
    }
}

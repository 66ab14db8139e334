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
        package var settings = InsightSettings()
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
            computedAt: try await store.insightsComputedAt(organizationID: organizationID),
            settings: try await store.insightSettings(organizationID: organizationID))
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
                else: .div(.id("insights"), .forEach(m.insights) { card(page, $0) })),
            .if(
                page.allows(.manageAlerts),
                .section(
                    .class("card"), .attribute(named: "aria-labelledby", value: "insight-settings-heading"),
                    .h2(.id("insight-settings-heading"), "Thresholds"),
                    settingsForm(m.settings)),
                else: SettingsPages.onlyFor(.admin, "change the thresholds")))
    }

    /// The thresholds, prefilled, saved through `PUT /api/v1/insight-settings` (field errors beside the fields).
    static func settingsForm(_ s: InsightSettings) -> Node<HTML.BodyContext> {
        let id = "insight-settings"
        let labels: [String: String] = [
            "concentration_percent": "Concentration: share of the 30 days' cost (%)",
            "growth_percent": "Growth, week over week or month over month (%)",
            "simple_max_input_tokens": "Short requests: average input tokens under",
            "simple_max_output_tokens": "Short requests: average output tokens under",
            "cheaper_model_factor": "A cheaper model at least this many times cheaper",
            "feature_spike_percent": "Feature spike: 30-day growth (%)",
            "long_prompt_input_tokens": "Long prompts: average input tokens over",
            "low_cache_share_percent": "Low cache use: cached share under (%)",
            "cache_target_share_percent": "Saving counted at this cached share (%)",
        ]
        return SettingsPages.apiForm(
            id, "PUT /api/v1/insight-settings", submit: "Save thresholds",
            .forEach(InsightSettings.integerFields) { f in
                SettingsPages.field(
                    id, labels[f.name] ?? f.name, name: f.name, type: .number, value: String(s[keyPath: f.keyPath]),
                    hint: "From \(f.range.lowerBound) to \(f.range.upperBound).", required: true, kind: "int")
            },
            SettingsPages.field(
                id, "Floor (USD)", name: "floor_usd", value: InsightSettings.amount(s.floor),
                hint: "The least cost in the period before an insight names a scope.", required: true),
            SettingsPages.field(
                id, "Batch-able features", name: "batch_features", value: s.batchFeatures.joined(separator: ", "),
                hint: "Features whose requests may wait for the batch API, separated by commas.", kind: "list"))
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
        case .truncatedAnswers: "Truncated answers"
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

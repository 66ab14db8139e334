import Plot
import TallyCore

/// Alerts: the organization's alert history, newest first, filtered by type and status; each alert with its figures
/// and its deliveries, and a button to acknowledge it (members and above).
package enum AlertsPage {
    package struct Filter: Sendable, Equatable {
        package var type: AlertType?
        package var status: AlertStatus?

        /// From the page's query; an unknown value is no filter.
        package init(query: [String: String]) {
            type = query["type"].flatMap(AlertType.init(rawValue:))
            status = query["status"].flatMap(AlertStatus.init(rawValue:))
        }

        package init(type: AlertType? = nil, status: AlertStatus? = nil) {
            self.type = type
            self.status = status
        }
    }

    package struct Item: Sendable {
        package var alert: Alert
        package var deliveries: [AlertDelivery]
    }

    package struct Model: Sendable {
        package var filter: Filter
        package var items: [Item]
        /// Channel id → name (a deleted channel shows its id).
        package var channelNames: [String: String]
        package var projectNames: [String: String]
        package var budgetNames: [String: String]
        /// Whether more alerts match than the page shows.
        package var more: Bool
    }

    /// How many alerts the page shows.
    package static let limit = 100

    package static func load(
        store: some AlertStore & AlertDeliveryStore & AlertChannelStore & ProjectStore & BudgetStore,
        organizationID: String, filter: Filter
    ) async throws -> Model {
        var alerts = try await store.alerts(
            AlertQuery(
                organizationID: organizationID, type: filter.type, status: filter.status, limit: limit + 1))
        let more = alerts.count > limit
        if more { alerts.removeLast() }
        var items: [Item] = []
        for alert in alerts {
            items.append(
                Item(
                    alert: alert,
                    deliveries: try await store.deliveries(organizationID: organizationID, alertID: alert.id)))
        }
        func names<T>(_ list: [T], _ id: KeyPath<T, String>, _ name: KeyPath<T, String>) -> [String: String] {
            Dictionary(list.map { ($0[keyPath: id], $0[keyPath: name]) }, uniquingKeysWith: { a, _ in a })
        }
        return Model(
            filter: filter, items: items,
            channelNames: names(try await store.alertChannels(organizationID: organizationID), \.id, \.name),
            projectNames: names(try await store.projects(organizationID: organizationID), \.id, \.name),
            budgetNames: names(try await store.budgets(organizationID: organizationID), \.id, \.name), more: more)
    }

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        Layout.page(
            title: "Alerts", signedIn: page.header,
            .h1("Alerts"),
            .p(
                .class("muted"),
                .text(
                    "Budget thresholds, spend spikes, provider connections that fail and models without a price, "
                        + "newest first. Each fires once; its deliveries are retried until they succeed.")),
            filterForm(m.filter),
            .if(
                m.items.isEmpty, .p(.id("no-alerts"), .class("card"), "No alerts match."),
                else: .div(.id("alerts"), .forEach(m.items) { item in card(page, m, item) })),
            .if(
                m.more,
                .p(.class("muted"), .text("Showing the newest \(limit). Narrow the filters to see older alerts."))))
    }

    static func filterForm(_ filter: Filter) -> Node<HTML.BodyContext> {
        .form(
            .id("alerts-filter"), .method(.get), .action("/alerts"), .class("card"),
            .attribute(named: "data-autosubmit", value: "true"),
            .div(
                .class("row"),
                .div(
                    .label(.for("alert-type"), "Type"),
                    .select(
                        .id("alert-type"), .attribute(named: "name", value: "type"),
                        .option(.value(""), .label("Any"), .isSelected(filter.type == nil)),
                        .forEach(AlertType.allCases) { t in
                            .option(.value(t.rawValue), .label(label(t)), .isSelected(filter.type == t))
                        })),
                .div(
                    .label(.for("alert-status"), "Status"),
                    .select(
                        .id("alert-status"), .attribute(named: "name", value: "status"),
                        .option(.value(""), .label("Any"), .isSelected(filter.status == nil)),
                        .forEach(AlertStatus.allCases) { s in
                            .option(.value(s.rawValue), .label(s.rawValue), .isSelected(filter.status == s))
                        }))),
            .button(.type(.submit), "Filter"))
    }

    static func label(_ type: AlertType) -> String {
        switch type {
        case .budgetThreshold: "Budget threshold"
        case .spike: "Spend spike"
        case .providerConnection: "Provider connection"
        case .unpricedModel: "Unpriced model"
        case .forecastOverrun: "Forecast overrun"
        case .policyBlock: "Policy block"
        case .anomaly: "Anomaly"
        }
    }

    static func card(_ page: SignedInPage, _ m: Model, _ item: Item) -> Node<HTML.BodyContext> {
        let a = item.alert
        let f = a.figures
        return .section(
            .class("card alert"), .data(named: "alert-id", value: a.id),
            .data(named: "alert-status", value: a.status.rawValue),
            .h2(.text(label(a.type)), .text(" · "), .span(.class("row-status"), .text(a.status.rawValue))),
            .p(.class("alert-summary"), .text(f.summary)),
            .dl(
                .class("figures"),
                .dt("Fired"), .dd(.text(Format.localTime(a.firedAt, zone: page.zone))),
                .unwrap(a.budgetID) { id in
                    .group(.dt("Budget"), .dd(.a(.href("/budgets"), .text(m.budgetNames[id] ?? id))))
                },
                .unwrap(scopeText(a.scope, m.projectNames)) { .group(.dt("Scope"), .dd(.text($0))) },
                .unwrap(f.periodStart) { start in
                    .group(
                        .dt("Period"),
                        .dd(
                            .text(
                                Format.localTime(start, zone: page.zone)
                                    + (f.periodEnd.map { " – " + Format.localTime($0, zone: page.zone) } ?? ""))))
                },
                .unwrap(f.spent) { .group(.dt("Spent"), .dd(.text(Format.money($0)))) },
                .unwrap(f.amount) { amount in
                    .group(
                        .dt(.text(a.type == .spike ? "7-day daily average" : "Amount")),
                        .dd(.text(Format.money(amount))))
                },
                .unwrap(f.percent) { .group(.dt("Percent"), .dd(.text($0 + "%"))) },
                .unwrap(f.threshold) { .group(.dt("Threshold"), .dd(.text("\($0)%"))) },
                .unwrap(a.acknowledgedAt) { at in
                    .group(
                        .dt("Acknowledged"),
                        .dd(
                            .text(
                                Format.localTime(at, zone: page.zone)
                                    + (a.acknowledgedBy.map { " by \($0)" } ?? ""))))
                },
                .unwrap(a.resolvedAt) { .group(.dt("Resolved"), .dd(.text(Format.localTime($0, zone: page.zone)))) }),
            deliveries(item.deliveries, m.channelNames, page.zone),
            .if(
                a.status == .open && page.role >= .member,
                SettingsPages.actionButton(
                    "Acknowledge", api: "POST /api/v1/alerts/\(a.id)/acknowledge", action: "acknowledge")))
    }

    static func deliveries(_ list: [AlertDelivery], _ channelNames: [String: String], _ zone: TimeZoneRules)
        -> Node<HTML.BodyContext>
    {
        guard !list.isEmpty else { return .p(.class("muted small"), "No channel: shown here only.") }
        return .div(
            .class("table-wrap"),
            .table(
                .class("deliveries"),
                .thead(.tr(.th("Channel"), .th("Delivery"), .th("Attempts"), .th("Last error"))),
                .tbody(
                    .forEach(list) { d in
                        .tr(
                            .td(.text(channelNames[d.channelID] ?? d.channelID)),
                            .td(
                                .text(
                                    d.status == .delivered
                                        ? "delivered " + (d.deliveredAt.map { Format.localTime($0, zone: zone) } ?? "")
                                        : d.status.rawValue)),
                            .td(.text(String(d.attempts))), .td(.text(d.lastError ?? "—")))
                    })))
    }

    /// "project web, checkout · model gpt-4o"; nil for the whole organization.
    static func scopeText(_ scope: BudgetScope, _ projectNames: [String: String]) -> String? {
        guard !scope.isEmpty else { return nil }
        return scope.keys.sorted().map { d in
            d.rawValue.split(separator: "_").joined(separator: " ") + " "
                + (scope[d] ?? []).map { d == .project ? projectNames[$0] ?? $0 : $0 }.joined(separator: ", ")
        }.joined(separator: " · ")
    }
}

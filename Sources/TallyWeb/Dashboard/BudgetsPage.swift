import Foundation
import Plot
import TallyCore
import TallyServices

/// `/budgets`: each budget's spend against its amount as a bar with the thresholds marked, the period and the days
/// left in it, its channels; admins create, edit and delete them through the JSON API (`/api/v1/budgets`).
package enum BudgetsPage {
    package struct Row: Sendable {
        package var budget: Budget
        package var status: BudgetStatus
        package var daysLeft: Int
        /// The scope as people read it (projects by name).
        package var scope: [(dimension: UsageDimension, values: [String])]
        /// Channel names (an id whose channel is gone shows as the id).
        package var channels: [String]
        /// What the gateway's calls in flight hold of the current period (an enforced budget's reservations).
        package var reserved: USD = .zero

        /// Spent above `percent` of the amount, exactly.
        package func isAbove(percent: Int) -> Bool {
            Int128(status.spent.nanos) * 100 > Int128(budget.amount.nanos) * Int128(percent)
        }
    }

    package struct Model: Sendable {
        package var rows: [Row]
        package var channels: [AlertChannel]
        package var canEdit: Bool
    }

    // MARK: Query

    package static func load<Store: TallyStore>(
        budgets: BudgetService<Store>, page: SignedInPage, now: Instant, guardCounters: (any GuardCounterStore)? = nil
    ) async throws -> Model {
        let org = page.organization.id
        let channels = try await budgets.store.alertChannels(organizationID: org)
        var rows = try await rows(budgets: budgets, page: page, channels: channels, now: now)
        let enforced = rows.indices.filter { rows[$0].budget.enforce }
        if let guardCounters, !enforced.isEmpty {
            let keys = enforced.map { GuardKeys.budget(rows[$0].budget.id, firstDay: rows[$0].status.firstDay) }
            let counters = try await guardCounters.guardCounters(organizationID: org, keys: keys)
            for (i, key) in zip(enforced, keys) { rows[i].reserved = USD(nanos: max(0, counters[key]?.reserved ?? 0)) }
        }
        return Model(rows: rows, channels: channels, canEdit: page.allows(.manageAlerts))
    }

    /// The rows of every budget, in name order.
    package static func rows<Store: TallyStore>(
        budgets: BudgetService<Store>, page: SignedInPage, channels: [AlertChannel]? = nil, now: Instant
    ) async throws -> [Row] {
        let org = page.organization.id
        let list = try await budgets.list(organizationID: org)
        guard !list.isEmpty else { return [] }
        let names = try await budgets.projectNames(organizationID: org)
        var known = channels ?? []
        if channels == nil { known = try await budgets.store.alertChannels(organizationID: org) }
        let channelNames = Dictionary(known.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        return try await budgets.withStatus(list, organizationID: org, at: now).map { b, status in
            let period = BudgetPeriod(firstDay: status.firstDay, lastDay: status.lastDay, zone: page.zone)
            return Row(
                budget: b, status: status, daysLeft: period.daysLeft(at: now, zone: page.zone),
                scope: b.scope.keys.sorted().map { d in
                    (d, (b.scope[d] ?? []).map { d == .project ? names[$0] ?? $0 : $0 })
                },
                channels: b.channelIDs.map { channelNames[$0] ?? $0 })
        }
    }

    // MARK: View

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        Layout.page(
            title: "Budgets", signedIn: page.header,
            .h1("Budgets"),
            .p(
                .class("muted"),
                .text(
                    "Spend against each budget in its current period, in \(page.zone.identifier) days. "
                        + "Marks on a bar are the thresholds at which alerts fire.")),
            EstimateNote.node(),
            .if(
                m.rows.isEmpty,
                .section(.class("card"), .p(.id("no-budgets"), "No budget yet.")),
                else: .div(.id("budgets"), .forEach(m.rows) { card($0, canEdit: m.canEdit, channels: m.channels) })),
            .if(
                m.canEdit,
                .section(
                    .class("card"), .attribute(named: "aria-labelledby", value: "new-budget-heading"),
                    .h2(.id("new-budget-heading"), "New budget"),
                    form("budget-new", "POST /api/v1/budgets", nil, channels: m.channels, submit: "Create budget")),
                else: SettingsPages.onlyFor(.admin, "create and change budgets"))
        )
    }

    static func card(_ row: Row, canEdit: Bool, channels: [AlertChannel]) -> Node<HTML.BodyContext> {
        let b = row.budget
        let s = row.status
        return .section(
            .class("card budget"), .data(named: "budget-id", value: b.id),
            .attribute(named: "aria-label", value: "Budget " + b.name),
            .h2(
                .text(b.name), .if(!b.enabled, .span(.class("badge"), " disabled")),
                .if(b.enforce, .span(.class("badge enforced"), " enforced"))),
            .p(
                .class("budget-figures"),
                .span(.class("spent"), .dataValue(s.spent.decimalString), .text(Format.money(s.spent))),
                .text(" of "),
                .span(.class("amount"), .dataValue(b.amount.decimalString), .text(Format.money(b.amount))),
                .text(" · "),
                .span(.class("percent"), .text((s.percent ?? "—") + "%")),
                .text(" · "), .text(Format.money(s.remaining) + " left"),
                .if(
                    b.enforce,
                    .group(
                        .text(" · "),
                        .span(
                            .class("reserved"), .dataValue(row.reserved.decimalString),
                            .text(Format.money(row.reserved) + " reserved by calls in flight"))))),
            .raw(bar(row)),
            .p(
                .class("muted budget-period"),
                .text(
                    "\(periodName(b.period)): \(Format.day(s.firstDay, year: true)) – \(Format.day(s.lastDay, year: true))"
                ),
                .text(" · "),
                .span(.class("days-left"), .text(row.daysLeft == 1 ? "1 day left" : "\(row.daysLeft) days left"))),
            .p(
                .class("muted"),
                .text(
                    "Scope: "
                        + (row.scope.isEmpty
                            ? "the whole organization"
                            : row.scope.map { "\($0.dimension.rawValue) \($0.values.joined(separator: ", "))" }
                                .joined(separator: "; "))
                        + " · Ledger: \(b.ledger.rawValue)")),
            .p(
                .class("muted budget-channels"),
                .text("Channels: " + (row.channels.isEmpty ? "none" : row.channels.joined(separator: ", ")))),
            .if(
                canEdit,
                .div(
                    .class("budget-edit"),
                    .h3("Edit"),
                    form(
                        "budget-\(b.id)", "PATCH /api/v1/budgets/\(b.id)", row, channels: channels, submit: "Save"),
                    SettingsPages.actionButton(
                        "Delete", api: "DELETE /api/v1/budgets/\(b.id)", confirm: "Delete the budget '\(b.name)'?",
                        danger: true, action: "delete"),
                    .p(.class("row-status"))))
        )
    }

    static func periodName(_ kind: BudgetPeriodKind) -> String {
        switch kind {
        case .day: "Day"
        case .week: "Week"
        case .month: "Month"
        case .billingCycle: "Billing cycle"
        case .custom: "Custom period"
        }
    }

    /// Spent vs amount as an SVG bar (no inline style: the CSP allows none), scaled to the highest of 100%, the top
    /// threshold and the spend (at most 1000%), with a mark per threshold.
    static func bar(_ row: Row) -> String {
        let amount = max(row.budget.amount.nanos, 1)
        let spentPercent = min(Double(max(row.status.spent.nanos, 0)) / Double(amount) * 100, 1000)
        let scale = max(100, Double(row.budget.thresholds.max() ?? 100), spentPercent)
        func x(_ percent: Double) -> String { String(format: "%.2f", percent / scale * 100) }
        var out =
            "<svg class=\"budget-bar\" viewBox=\"0 0 100 8\" preserveAspectRatio=\"none\" role=\"img\" "
            + "aria-label=\"\(escape(row.status.percent ?? "0"))% of the budget spent\">"
            + "<rect class=\"track\" x=\"0\" y=\"0\" width=\"100\" height=\"8\"></rect>"
        let over = row.isAbove(percent: 100) ? " over" : row.isAbove(percent: 80) ? " near" : ""
        out += "<rect class=\"fill\(over)\" x=\"0\" y=\"0\" width=\"\(x(spentPercent))\" height=\"8\"></rect>"
        for t in row.budget.thresholds {
            out +=
                "<line class=\"mark\" data-threshold=\"\(t)\" x1=\"\(x(Double(t)))\" x2=\"\(x(Double(t)))\" y1=\"0\" y2=\"8\">"
                + "<title>\(t)%</title></line>"
        }
        return out + "</svg>"
    }

    /// The create form (`row` nil) or a budget's edit form, prefilled. Empty fields are left out of the request.
    static func form(
        _ id: String, _ api: String, _ row: Row?, channels: [AlertChannel], submit: String
    ) -> Node<HTML.BodyContext> {
        let b = row?.budget
        let scope = Dictionary(row?.scope.map { ($0.dimension, $0.values.joined(separator: ", ")) } ?? []) { a, _ in a }
        let scopeFields = Budget.scopeDimensions.map { d -> Node<HTML.FormContext> in
            SettingsPages.field(
                id, "Scope: \(d.rawValue)", name: "scope.\(d.rawValue)", value: scope[d] ?? "",
                hint: d == .project ? "Project names, comma-separated." : nil, kind: "list")
        }
        return SettingsPages.apiForm(
            id, api, submit: submit,
            SettingsPages.field(id, "Name", name: "name", value: b?.name ?? "", required: true),
            SettingsPages.field(
                id, "Amount (USD)", name: "amount_usd", value: b.map { $0.amount.decimalString } ?? "",
                hint: "An exact amount such as 250.00.", required: true),
            SettingsPages.select(
                id, "Period", name: "period",
                BudgetPeriodKind.allCases.map { ($0.rawValue, periodName($0)) }, selected: b?.period.rawValue ?? "month"
            ),
            SettingsPages.field(
                id, "From (custom period)", name: "from", type: .date, value: b?.customFrom?.description ?? ""),
            SettingsPages.field(
                id, "To (custom period)", name: "to", type: .date, value: b?.customTo?.description ?? ""),
            SettingsPages.field(
                id, "Thresholds (%)", name: "thresholds",
                value: (b?.thresholds ?? Budget.defaultThresholds).map(String.init).joined(separator: ", "),
                hint: "Comma-separated percents from 1 to 1000.", kind: "ints"),
            SettingsPages.select(
                id, "Ledger", name: "ledger",
                [("observed", "Observed (Tally's estimate)"), ("provider", "Provider-billed")],
                selected: b?.ledger.rawValue ?? "observed"),
            .group(scopeFields),
            .fieldset(
                .element(named: "legend", text: "Channels"),
                .if(channels.isEmpty, .p(.class("muted small"), "No alert channel yet (Settings → Alert channels).")),
                .forEach(channels) { c in
                    .label(
                        .class("check"),
                        .input(
                            .type(.checkbox), .name("channels"), .value(c.id),
                            .attribute(named: "checked", value: b?.channelIDs.contains(c.id) == true ? "checked" : nil)),
                        .text(c.name))
                },
                .p(.id("\(id)-channels-error"), .data(named: "error-for", value: "channels"))),
            .div(
                .label(
                    .class("check"),
                    .input(
                        .id("\(id)-enabled"), .type(.checkbox), .name("enabled"), .data(named: "kind", value: "bool"),
                        .attribute(named: "checked", value: b?.enabled ?? true ? "checked" : nil)),
                    .text("Enabled")),
                .p(.data(named: "error-for", value: "enabled"))),
            .div(
                .label(
                    .class("check"),
                    .input(
                        .id("\(id)-enforce"), .type(.checkbox), .name("enforce"), .data(named: "kind", value: "bool"),
                        .attribute(named: "checked", value: b?.enforce == true ? "checked" : nil)),
                    .text("Enforce: stop gateway calls in scope once the amount is spent (observed ledger only)")),
                .p(.data(named: "error-for", value: "enforce")))
        )
    }

    // MARK: The overview's banner

    /// The budgets above 80% of their amount, for the top of the overview.
    package static func banner(_ rows: [Row]) -> Node<HTML.BodyContext> {
        .section(
            .id("budgets-alert"), .class("card notice"), .attribute(named: "aria-label", value: "Budgets above 80%"),
            .h2("Budgets above 80%"),
            .ul(
                .forEach(rows) { row in
                    .li(
                        .data(named: "budget-id", value: row.budget.id),
                        .a(.href("/budgets"), .text(row.budget.name)),
                        .text(
                            ": \(Format.money(row.status.spent)) of \(Format.money(row.budget.amount)) "
                                + "(\(row.status.percent ?? "—")%), \(row.daysLeft) days left"))
                }))
    }
}

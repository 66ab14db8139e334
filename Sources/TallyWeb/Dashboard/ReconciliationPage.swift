import Plot
import TallyAggregate
import TallyCore
import TallyServices

/// `/reconciliation`: what Tally estimated from the calls it saw beside what the providers reported and billed.
package enum ReconciliationPage {
    package struct Model: Sendable {
        package var from: CivilDate
        package var to: CivilDate
        package var groupBy: UsageDimension
        package var thresholdPercent: Int64
        package var lines: [ProviderLedger.Line]
        package var hasConnections: Bool

        package init(
            from: CivilDate, to: CivilDate, groupBy: UsageDimension, thresholdPercent: Int64,
            lines: [ProviderLedger.Line], hasConnections: Bool
        ) {
            self.from = from
            self.to = to
            self.groupBy = groupBy
            self.thresholdPercent = thresholdPercent
            self.lines = lines
            self.hasConnections = hasConnections
        }
    }

    /// What the page's query asks for: UTC days `from` through `to` (inclusive, either order), the last 30 by default;
    /// grouped by model, project or provider; rows flagged above `threshold` percent (0-1000, default 10).
    package struct Query: Sendable, Equatable {
        package var from: CivilDate
        package var to: CivilDate
        package var groupBy: UsageDimension
        package var thresholdPercent: Int64

        package init(query: [String: String], now: Instant) {
            let today = TimeZoneRules.utc.localDate(of: now)
            let to = query["to"].flatMap { CivilDate(parsing: $0) } ?? today
            let from = query["from"].flatMap { CivilDate(parsing: $0) } ?? to.addingDays(-29)
            self.from = min(from, to)
            self.to = max(from, to)
            groupBy =
                switch query["group_by"] {
                case "project": .project
                case "provider": .provider
                default: .model
                }
            thresholdPercent = min(max(query["threshold"].flatMap { Int64($0) } ?? 10, 0), 1000)
        }
    }

    package static func load<Store: LedgerServiceStore>(
        ledger: LedgerService<Store>, store: some ConnectionStore, organizationID: String,
        query q: Query
    ) async throws -> Model {
        let lines = try await ledger.reconcile(
            organizationID: organizationID, from: TimeZoneRules.utc.startOfDay(q.from),
            to: TimeZoneRules.utc.startOfDay(q.to.addingDays(1)), grain: .day,
            dimension: q.groupBy, thresholdBasisPoints: q.thresholdPercent * 100)
        let connected = try await store.connections(organizationID: organizationID).contains { $0.adminKeyMask != nil }
        return Model(
            from: q.from, to: q.to, groupBy: q.groupBy, thresholdPercent: q.thresholdPercent, lines: lines,
            hasConnections: connected)
    }

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        let flagged = m.lines.filter(\.flagged).count
        return Layout.page(
            title: "Reconciliation", signedIn: page.header,
            .h1("Reconciliation"),
            .p(
                .class("muted"),
                .text(
                    "Per UTC day: usage Tally observed (API, gateway) and its estimated cost, beside what the providers' own reports "
                        + "say and what their cost reports billed. The two ledgers are never added together. Rows differing by more than "
                        + "\(m.thresholdPercent)% of the bill, or seen on one side only, are flagged.")),
            .form(
                .id("reconciliation-form"), .method(.get), .action("/reconciliation"), .class("card"),
                .attribute(named: "data-autosubmit", value: "true"), .attribute(named: "autocomplete", value: "off"),
                .div(
                    .class("row"),
                    .div(
                        .label(.for("group_by"), "Compare by"),
                        .select(
                            .id("group_by"), .attribute(named: "name", value: "group_by"),
                            .option(.value("model"), .label("Model"), .isSelected(m.groupBy == .model)),
                            .option(.value("project"), .label("Project"), .isSelected(m.groupBy == .project)),
                            .option(.value("provider"), .label("Provider"), .isSelected(m.groupBy == .provider)))),
                    .div(
                        .label(.for("from"), "From (UTC)"),
                        .input(.id("from"), .name("from"), .type(.date), .value(m.from.description))),
                    .div(
                        .label(.for("to"), "To (UTC, inclusive)"),
                        .input(.id("to"), .name("to"), .type(.date), .value(m.to.description))),
                    .div(
                        .label(.for("threshold"), "Flag above (%)"),
                        .input(.id("threshold"), .name("threshold"), .type(.number), .value(String(m.thresholdPercent)))
                    )),
                .button(.type(.submit), "Compare")),
            .if(
                !m.hasConnections,
                .p(
                    .class("notice"), .text("No provider connection has an admin key yet: add one in "),
                    .a(.href("/settings/providers"), "Settings → Providers"),
                    .text(" so Tally can read the providers' usage and cost reports."))),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "recon-heading"),
                .h2(.id("recon-heading"), .text("\(m.lines.count) groups, \(flagged) flagged")),
                .div(
                    .class("table-wrap"),
                    .table(
                        .id("reconciliation"),
                        .thead(
                            .tr(
                                .th("Day"),
                                .th(
                                    .text(
                                        m.groupBy == .model ? "Model" : m.groupBy == .project ? "Project" : "Provider")),
                                .th(.class("num"), "Observed tokens"), .th(.class("num"), "Estimated"),
                                .th(.class("num"), "Reported tokens"), .th(.class("num"), "Billed"),
                                .th(.class("num"), "Difference"), .th("Flag"))),
                        .tbody(
                            .if(
                                m.lines.isEmpty,
                                .tr(
                                    .class("empty"),
                                    .td(.attribute(named: "colspan", value: "8"), "Nothing in this range.")),
                                else: .forEach(m.lines) { line in
                                    .tr(
                                        .if(line.flagged, .class("flagged")),
                                        .td(.text(line.period ?? "")), .td(.text(line.value ?? "(none)")),
                                        .td(
                                            .class("num"),
                                            .text(
                                                Format.integer(line.observed.inputTokens &+ line.observed.outputTokens))
                                        ),
                                        .td(
                                            .class("num"), .dataValue(line.observed.knownCost?.decimalString ?? ""),
                                            .text(Format.money(line.observed.knownCost))),
                                        .td(
                                            .class("num"),
                                            .text(
                                                Format.integer(line.provider.inputTokens &+ line.provider.outputTokens))
                                        ),
                                        .td(
                                            .class("num"), .dataValue(line.provider.providerCost.decimalString),
                                            .text(Format.money(line.provider.providerCost))),
                                        .td(.class("num"), .text(differenceText(line))),
                                        .td(line.flagged ? .span(.class("badge error"), "check") : .text("")))
                                }))))),
            EstimateNote.node()
        )
    }

    package static func differenceText(_ line: ProviderLedger.Line) -> String {
        (line.difference.map { Format.money($0) } ?? "—")
            + (line.differenceBasisPoints.map { " (\(percent($0)))" } ?? "")
    }

    package static func percent(_ basisPoints: Int64) -> String {
        let sign = basisPoints > 0 ? "+" : basisPoints < 0 ? "−" : "±"
        let m = basisPoints.magnitude
        return "\(sign)\(m / 100).\(String(m % 100).leftPadded(2))%"
    }
}

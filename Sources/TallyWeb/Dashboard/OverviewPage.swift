import Foundation
import Plot
import TallyCore
import TallyServices

/// `/`: this billing cycle at a glance. Model, query and view.
package enum OverviewPage {
    package struct Ranked: Sendable, Equatable {
        package var name: String
        package var metrics: UsageMetrics
    }

    package struct Model: Sendable {
        package var cycle: BillingCycle
        package var now: Instant
        /// From the cycle's start to now, and the previous cycle up to the same point.
        package var current: TimeRange
        package var previous: TimeRange
        package var currentTotals: UsageMetrics
        package var previousTotals: UsageMetrics
        package var days: Int
        package var daily: StackedBarChart
        package var topModels: [Ranked]
        package var topProjects: [Ranked]
        package var topFeatures: [Ranked]
        /// False when the organization has never received an event: the page shows how to start instead.
        package var hasEvents: Bool
        /// What the providers' cost reports billed in this cycle (UTC days), when a connection syncs them.
        package var billed: USD?
        /// The project the getting-started token is for: the first active one, or `default` (created with the token).
        package var snippetProject = "default"
        /// Enabled budgets above 80% of their amount, shown at the top (issue 17).
        package var budgetsAbove80: [BudgetsPage.Row] = []
    }

    // MARK: Query

    package static func load(
        store: some UsageStore & ProjectStore & EventStore & ProviderSyncStore, organization: Organization,
        zone: TimeZoneRules, now: Instant, days: Int,
        projectScope: [String]?, anomalies: (any ForecastSource)? = nil
    ) async throws -> Model {
        let cycle = BillingCycle.containing(now, startDay: organization.billingCycleDay, zone: zone)
        let current = TimeRange(from: cycle.range.from, to: now)
        let previous = cycle.previous(zone: zone).elapsed(matching: current)
        let today = zone.localDate(of: now)
        let chartFrom = zone.startOfDay(today.addingDays(Int64(1 - days)))
        let chartTo = zone.startOfDay(today.addingDays(1))
        var filters: DimensionFilters = [:]
        if let projectScope { filters[.project] = projectScope }
        let org = organization.id
        func query(_ range: TimeRange, _ grain: TimeGrain?, _ dims: [UsageDimension]) -> SummaryQuery {
            SummaryQuery(
                organizationID: org, from: range.from, to: range.to, timeZone: zone, grain: grain, dimensions: dims,
                filters: filters)
        }
        // Three queries: the cycle by model × project × feature (its totals and the three top lists), the previous
        // cycle's totals, and the chart's days by provider.
        let breakdownQuery = query(current, nil, [.model, .project, .feature])
        let beforeQuery = query(previous, nil, [])
        let chartQuery = query(TimeRange(from: chartFrom, to: chartTo), .day, [.provider])
        async let breakdown = store.summary(breakdownQuery)
        async let before = store.summary(beforeQuery)
        async let chartResult = store.summary(chartQuery)
        async let projectList = store.projects(organizationID: org)
        let (cycleResult, previousResult, chart, projects) = try await (breakdown, before, chartResult, projectList)
        var hasEvents = cycleResult.totals.requests > 0 || previousResult.totals.requests > 0 || !chart.groups.isEmpty
        if !hasEvents {
            hasEvents =
                !(try await store.events(EventQuery(organizationID: org, filters: filters, limit: 1)).events.isEmpty)
        }
        let projectNames = Dictionary(projects.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let first = today.addingDays(Int64(1 - days))
        var daily = dailyChart(chart, from: first, days: days)
        await AnomalyMarkers.mark(
            &daily, source: anomalies, organizationID: org, days: first...today, filters: filters, now: now,
            day: { first.addingDays(Int64($0)) })
        return Model(
            cycle: cycle, now: now, current: current, previous: previous,
            currentTotals: cycleResult.totals, previousTotals: previousResult.totals, days: days,
            daily: daily,
            topModels: ranked(cycleResult.groups, by: .model),
            topProjects: ranked(cycleResult.groups, by: .project) { projectNames[$0] ?? $0 },
            topFeatures: ranked(cycleResult.groups, by: .feature),
            hasEvents: hasEvents,
            billed: try await billedCosts(store: store, org: org, from: current.from, to: now),
            snippetProject: projects.first { $0.archivedAt == nil }?.name ?? "default"
        )
    }

    /// The cost reports' total over whole UTC days from `from`'s day; nil when no connection has synced any.
    package static func billedCosts(store: some ProviderSyncStore, org: String, from: Instant, to: Instant) async throws
        -> USD?
    {
        let day = Instant(seconds: floorDiv(from.seconds, 86_400) * 86_400)
        let rows = try await store.providerCosts(organizationID: org, connectionID: nil, from: day, to: to)
        guard !rows.isEmpty else { return nil }
        // Checked: rows come from a provider's report (or a hostile stand-in at an admin's base_url).
        return rows.reduce(USD.zero) { $0.adding($1.row.amount) ?? USD(nanos: .max) }
    }

    /// Sums groups by one dimension, highest cost first (then most requests), at most `limit`.
    package static func ranked(
        _ groups: [SummaryGroup], by dimension: UsageDimension, limit: Int = 8,
        name: (String) -> String = { $0 }
    ) -> [Ranked] {
        var sums: [String: UsageMetrics] = [:]
        for group in groups {
            let key = (group.values[dimension] ?? nil).map(name) ?? "(none)"
            sums[key, default: UsageMetrics()] += group.metrics
        }
        return sums.map { Ranked(name: $0.key, metrics: $0.value) }
            .sorted {
                ($0.metrics.cost, $0.metrics.requests, $1.name) > ($1.metrics.cost, $1.metrics.requests, $0.name)
            }
            .prefix(limit).map { $0 }
    }

    package static func dailyChart(_ result: SummaryResult, from first: CivilDate, days: Int) -> StackedBarChart {
        var providers = Set<String>()
        var byDay: [String: [String: Int64]] = [:]
        for group in result.groups {
            let provider = (group.values[.provider] ?? nil) ?? "(none)"
            providers.insert(provider)
            byDay[group.period ?? "", default: [:]][provider, default: 0] += group.metrics.cost.nanos
        }
        let series = providers.sorted()
        let bars = (0..<days).map { offset -> StackedBarChart.Bar in
            let date = first.addingDays(Int64(offset))
            let values = series.map { byDay[date.description]?[$0] ?? 0 }
            return StackedBarChart.Bar(label: Format.day(date), fullLabel: Format.day(date, year: true), values: values)
        }
        return StackedBarChart(
            id: "chart-daily", title: "Estimated spend per day by provider, last \(days) days",
            series: series, bars: bars, format: { Format.money(USD(nanos: $0)) },
            axisFormat: { Format.money(USD(nanos: $0), places: $0 >= 100_000_000_000 || $0 == 0 ? 0 : 2) })
    }

    // MARK: View

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        Layout.page(
            title: "Overview", signedIn: page.header,
            .h1(.text(page.organization.name)),
            .if(!m.budgetsAbove80.isEmpty, BudgetsPage.banner(m.budgetsAbove80)),
            .if(m.hasEvents, dashboard(page, m), else: gettingStarted(page, project: m.snippetProject))
        )
    }

    package static func cycleLabel(_ m: Model, zone: TimeZoneRules) -> String {
        let last = zone.localDate(of: m.now)
        return "Billing cycle \(Format.day(m.cycle.startDate)) – \(Format.day(last, year: true))"
    }

    package static func dashboard(_ page: SignedInPage, _ m: Model) -> Node<HTML.BodyContext> {
        let c = m.currentTotals, p = m.previousTotals
        let tokens = c.inputTokens &+ c.outputTokens, tokensBefore = p.inputTokens &+ p.outputTokens
        let line = m.daily.style == .line
        return .group(
            .p(
                .id("cycle"), .class("muted"), .data(named: "from", value: m.current.from.rfc3339),
                .data(named: "to", value: m.current.to.rfc3339),
                .text(
                    cycleLabel(m, zone: page.zone)
                        + " (\(page.zone.identifier)), compared with the same point of the previous cycle.")),
            .section(
                .class("grid"), .attribute(named: "aria-label", value: "This billing cycle"),
                // The cards update from the live API's totals (Script.js); the cycle there is the one shown here.
                .data(named: "live-metrics", value: "/api/v1/live"),
                card(
                    "card-spend", "Spend (estimate)", value: Format.money(c.knownCost),
                    raw: c.knownCost?.decimalString ?? "",
                    compare:
                        "\(Format.money(p.knownCost)) last cycle · \(Format.change(c.cost.nanos, from: p.cost.nanos))",
                    extra: c.providerCost.nanos > 0
                        ? "Provider-reported on events: \(Format.money(c.providerCost))" : nil, billed: m.billed),
                card(
                    "card-tokens", "Tokens (input + output)", value: Format.integer(tokens), raw: String(tokens),
                    compare: "\(Format.integer(tokensBefore)) last cycle · \(Format.change(tokens, from: tokensBefore))"
                ),
                card(
                    "card-requests", "Requests", value: Format.integer(c.requests), raw: String(c.requests),
                    compare: "\(Format.integer(p.requests)) last cycle · \(Format.change(c.requests, from: p.requests))"
                ),
                card(
                    "card-error-rate", "Error rate", value: Format.percent(c.errors, of: c.requests),
                    raw: String(c.errors),
                    compare:
                        "\(Format.integer(c.errors)) errors · \(Format.percent(p.errors, of: p.requests)) last cycle"),
                unpricedCard(c.unpricedRequests)
            ),
            EstimateNote.node(),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "daily-heading"),
                .div(
                    .class("actions"),
                    .h2(.id("daily-heading"), .text("Spend per day, last \(m.days) days")),
                    .span(.class("spacer")),
                    .a(
                        .href("/?days=7" + (line ? "&chart=line" : "")),
                        .if(m.days == 7, .attribute(named: "aria-current", value: "true")), "7 days"),
                    .a(
                        .href("/?days=30" + (line ? "&chart=line" : "")),
                        .if(m.days == 30, .attribute(named: "aria-current", value: "true")), "30 days"),
                    .a(
                        .id("chart-bars"), .href("/?days=\(m.days)"),
                        .if(!line, .attribute(named: "aria-current", value: "true")), "Bars"),
                    .a(
                        .id("chart-line"), .href("/?days=\(m.days)&chart=line"),
                        .if(line, .attribute(named: "aria-current", value: "true")), "Line")),
                m.daily.node()
            ),
            .div(
                .class("grid wide"),
                topTable(
                    "top-models", "Top models", "Model", m.topModels, drill: drill(m, page.zone, .model, then: .feature)
                ),
                topTable(
                    "top-projects", "Top projects", "Project", m.topProjects,
                    drill: drill(m, page.zone, .project, then: .model)),
                topTable(
                    "top-features", "Top features", "Feature", m.topFeatures,
                    drill: drill(m, page.zone, .feature, then: .model)))
        )
    }

    package static func card(
        _ id: String, _ label: String, value: String, raw: String, compare: String, extra: String? = nil,
        billed: USD? = nil
    ) -> Node<HTML.BodyContext> {
        .div(
            .id(id), .class("card metric"),
            .p(.class("label"), .text(label)),
            .span(.class("value"), .dataValue(raw), .text(value)),
            .p(.class("compare"), .text(compare)),
            .unwrap(extra) { .p(.class("compare"), .text($0)) },
            .unwrap(billed) { b in
                .p(
                    .class("compare billed"), .dataValue(b.decimalString),
                    .text("Billed by providers: \(Format.money(b)) "), .a(.href("/reconciliation"), "(reconcile)"))
            })
    }

    package static func unpricedCard(_ count: Int64) -> Node<HTML.BodyContext> {
        .div(
            .id("card-unpriced"), .class("card metric"),
            .p(.class("label"), "Unpriced requests"),
            .span(.class("value"), .dataValue(String(count)), .text(Format.integer(count))),
            .p(
                .class("compare"),
                .a(
                    .href("/settings/prices#unpriced"),
                    .text(count == 0 ? "Every model had a price" : "See which models have no price"))))
    }

    /// A top-list row opens the explorer on this cycle, filtered to it and broken down by the next dimension.
    package static func drill(_ m: Model, _ zone: TimeZoneRules, _ dimension: UsageDimension, then next: UsageDimension)
        -> @Sendable (String) -> String?
    {
        let from = m.cycle.startDate.description, to = zone.localDate(of: m.now).description
        return { name in
            guard name != "(none)" else { return nil }
            return "/usage?group_by=\(next.rawValue)&preset=custom&from=\(from)&to=\(to)&\(dimension.rawValue)="
                + URLText.percentEncoded(name).replacingOccurrences(of: "/", with: "%2F")
        }
    }

    package static func topTable(
        _ id: String, _ title: String, _ column: String, _ rows: [Ranked],
        drill: (String) -> String?
    ) -> Node<HTML.BodyContext> {
        .section(
            .class("card"), .attribute(named: "aria-labelledby", value: id + "-heading"),
            .h2(.id(id + "-heading"), .text(title + " this cycle")),
            .if(
                rows.isEmpty, .p(.class("muted"), "Nothing yet in this cycle."),
                else:
                    .table(
                        .id(id),
                        .thead(.tr(.th(.text(column)), .th(.class("num"), "Requests"), .th(.class("num"), "Cost"))),
                        .tbody(
                            .forEach(rows) { row in
                                .tr(
                                    .td(
                                        .class("name"),
                                        .unwrap(
                                            drill(row.name), { .a(.href($0), .text(row.name)) }, else: .text(row.name))),
                                    .td(.class("num"), .text(Format.integer(row.metrics.requests))),
                                    .td(
                                        .class("num cost"), .dataValue(row.metrics.knownCost?.decimalString ?? ""),
                                        .text(Format.money(row.metrics.knownCost))))
                            }))))
    }

    package static func gettingStarted(_ page: SignedInPage, project: String) -> Node<HTML.BodyContext> {
        let curl = """
            curl -sS -X POST \(page.publicURL)/api/v1/events \\
              -H "Authorization: Bearer $TALLY_TOKEN" \\
              -H "Content-Type: application/json" \\
              -d '{"id":"first-event-1","timestamp":"'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'","provider":"openai","model":"gpt-4o-mini","feature":"hello","input_tokens":1200,"output_tokens":300}'
            """
        return .section(
            .id("getting-started"), .class("card"), .attribute(named: "aria-labelledby", value: "start-heading"),
            .h2(.id("start-heading"), "No usage yet: send your first event"),
            .p(
                "Tally records what your apps spend on OpenAI, Anthropic and Gemini. Post one event to see this page fill in:"
            ),
            .pre(.id("first-event-curl"), .code(.text(curl))),
            .div(
                .class("actions"),
                .if(
                    page.allows(.manageOwnTokens),
                    .button(
                        .id("create-snippet-token"), .type(.button), .data(named: "project", value: project),
                        "Create a token for this command")),
                .button(
                    .class("copy secondary"), .type(.button), .data(named: "copy-target", value: "first-event-curl"),
                    "Copy")),
            .p(.id("snippet-status"), .class("muted small"), .attribute(named: "role", value: "status")),
            .h2("Other ways in"),
            .ul(
                .li(
                    "Post events from your apps: the ingestion API (docs/api.md) takes the providers' own usage objects."
                ),
                .li(
                    .text("Connect a provider in "), .a(.href("/settings/providers"), "Settings → Providers"),
                    .text(" to keep its key in Tally's vault (organization usage sync and the gateway build on it)."))
            ))
    }
}

/// Every cost on the pages is an estimate; this says so wherever one is shown.
package enum EstimateNote {
    package static func node() -> Node<HTML.BodyContext> {
        .p(
            .class("estimate-note"),
            "Costs are estimates from list prices in force on each event's date (see Settings → Prices); the provider's invoice is authoritative."
        )
    }
}

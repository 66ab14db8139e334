import Plot
import TallyCore
import TallyServices

/// `/performance` (issue 20): per provider, model, project, feature, source or team, the requests, success rate,
/// latency p50/p95/p99, time to first token p50/p95 and retries, from the same report as
/// `GET /api/v1/usage/performance`.
package enum PerformancePage {
    package struct Query: Sendable, Equatable {
        package var groupBy: UsageDimension = .model
        package var preset: DatePreset = .last7Days

        package init(query: [String: String]) {
            if let raw = query["group_by"], let d = UsageDimension(rawValue: raw),
                PerformanceQuery.dimensions.contains(d)
            {
                groupBy = d
            }
            if let raw = query["preset"], let p = DatePreset(rawValue: raw), Self.presets.contains(p) { preset = p }
        }

        static let presets: [DatePreset] = [.today, .last7Days, .last30Days, .thisMonth, .lastMonth]
    }

    package struct Model: Sendable {
        package var query: Query
        package var report: PerformanceReport
        /// Project and team ids to names.
        package var names: [String: String]
    }

    package static func load(
        store: some PerformanceStore & UsageStore & ProjectStore & TeamStore, page: SignedInPage, query: Query,
        now: Instant
    ) async throws -> Model {
        let range = query.preset.range(now: now, zone: page.zone)
        var filters: DimensionFilters = [:]
        if let scope = page.principal.projectScope { filters[.project] = scope }
        let report = try await PerformanceService(store: store).report(
            organizationID: page.organization.id, from: range.from ?? now, to: min(range.to ?? now, now),
            dimensions: [query.groupBy], filters: filters)
        var names: [String: String] = [:]
        if query.groupBy == .project {
            for p in try await store.projects(organizationID: page.organization.id) { names[p.id] = p.name }
        } else if query.groupBy == .team {
            for t in try await store.teams(organizationID: page.organization.id) { names[t.id] = t.name }
        }
        return Model(query: query, report: report, names: names)
    }

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        Layout.page(
            title: "Performance", signedIn: page.header,
            .h1("Performance"),
            .form(
                .id("performance-query"), .class("card row"), .method(.get), .action("/performance"),
                .div(
                    .label(.for("performance-group"), "Group by"),
                    .select(
                        .id("performance-group"), .attribute(named: "name", value: "group_by"),
                        .forEach(PerformanceQuery.dimensions) {
                            .option(
                                .value($0.rawValue), .label(UsageExplorer.label($0)), .isSelected($0 == m.query.groupBy)
                            )
                        })),
                .div(
                    .label(.for("performance-preset"), "Range"),
                    .select(
                        .id("performance-preset"), .attribute(named: "name", value: "preset"),
                        .forEach(Query.presets) {
                            .option(.value($0.rawValue), .label($0.label), .isSelected($0 == m.query.preset))
                        })),
                .button(.type(.submit), "Show")),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "performance-heading"),
                .h2(
                    .id("performance-heading"),
                    .text(
                        "\(Format.localTime(m.report.from, zone: page.zone)) – "
                            + "\(Format.localTime(m.report.to, zone: page.zone)) (\(page.zone.identifier))")),
                .p(
                    .class("muted small"),
                    .text(
                        "Latencies as the gateway and clients reported them, over whole hours; percentiles are read from "
                            + "histograms and are within 0.79% of the exact value.")),
                .div(
                    .class("table-wrap"),
                    .table(
                        .id("performance-table"),
                        .thead(
                            .tr(
                                .th(.text(UsageExplorer.label(m.query.groupBy))), .th(.class("num"), "Requests"),
                                .th(.class("num"), "Success"), .th(.class("num"), "Latency p50"),
                                .th(.class("num"), "p95"), .th(.class("num"), "p99"), .th(.class("num"), "TTFT p50"),
                                .th(.class("num"), "TTFT p95"), .th(.class("num"), "Retries"))),
                        .tbody(.forEach(m.report.groups) { row(name(m, $0), $0) }),
                        .tfoot(row("Total", m.report.totals))))))
    }

    static func name(_ m: Model, _ g: PerformanceGroup) -> String {
        guard let raw = g.values[m.query.groupBy] ?? nil else {
            return m.query.groupBy == .team ? "no team" : "(none)"
        }
        return m.names[raw] ?? raw
    }

    static func row(_ name: String, _ g: PerformanceGroup) -> Node<HTML.TableContext> {
        func ms(_ v: Int64?) -> String { v.map { Format.integer($0) + " ms" } ?? "—" }
        return .tr(
            .td(.text(name)), .td(.class("num"), .text(Format.integer(g.requests))),
            .td(.class("num"), .text(g.successPercent.map { $0 + "%" } ?? "—")),
            .td(.class("num"), .text(ms(g.latency?.p50))), .td(.class("num"), .text(ms(g.latency?.p95))),
            .td(.class("num"), .text(ms(g.latency?.p99))), .td(.class("num"), .text(ms(g.timeToFirstToken?.p50))),
            .td(.class("num"), .text(ms(g.timeToFirstToken?.p95))), .td(.class("num"), .text(Format.integer(g.retries)))
        )
    }
}

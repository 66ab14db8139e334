import Foundation
import Plot
import TallyCore
import TallyServices

/// `/usage`: any breakdown of the summary API over any range, as chart, sortable table and export.
/// The whole state is the URL's query, so a view can be shared and the back button works.
package enum UsageExplorer {
    package enum SortKey: String, CaseIterable { case period, name, requests, tokens, cost }

    package struct State: Sendable, Equatable {
        package var groupBy: UsageDimension? = .model
        package var grain: TimeGrain? = .day
        package var preset: DatePreset = .last30Days
        package var from: CivilDate?
        package var to: CivilDate?
        /// Filter text per dimension as typed (comma-separated values; projects by name).
        package var filters: [UsageDimension: String] = [:]
        /// Events carrying any of these safety or quality flags (comma-separated; the events page, issue 21).
        package var flag = ""
        /// Group by flag instead of a dimension (`group_by=flag`): the explorer counts the events' flags.
        package var groupByFlag = false
        /// Group by this tag's values instead of a dimension (`group_by=tag:<key>`; the form sends `group_by=tag`
        /// and `tag_key`).
        package var groupByTag: String?
        package var sort: SortKey = .cost
        package var descending = true
        package var problems: [FieldProblem] = []

        package init() {}

        /// Reads the query; a bad value is reported against its field and the default is used meanwhile.
        package init(query: [String: String], defaultPreset: DatePreset = .last30Days) {
            preset = defaultPreset
            func problem(_ field: String, _ reason: String) {
                problems.append(FieldProblem(field: field, reason: reason))
            }
            if let raw = query["group_by"] {
                if raw == "none" {
                    groupBy = nil
                } else if raw == "flag" {
                    groupBy = nil
                    groupByFlag = true
                } else if raw.hasPrefix("tag:") || raw == "tag" {
                    let key = raw == "tag" ? (query["tag_key"] ?? "").trimmingSpaces() : String(raw.dropFirst(4))
                    if TagGrouping.isKey(key) {
                        groupBy = nil
                        groupByTag = key
                    } else {
                        problem(raw == "tag" ? "tag_key" : "group_by", TagGrouping.keyProblem)
                    }
                } else if let d = UsageDimension(rawValue: raw) {
                    groupBy = d
                } else {
                    problem(
                        "group_by",
                        "must be one of " + UsageDimension.allCases.map(\.rawValue).joined(separator: ", ")
                            + ", tag:<key>, flag or none"
                    )
                }
            }
            if let raw = query["grain"] {
                if raw == "none" {
                    grain = nil
                } else if let g = TimeGrain(rawValue: raw) {
                    grain = g
                } else {
                    problem("grain", "must be day, week, month or none")
                }
            }
            if let raw = query["preset"] {
                if let p = DatePreset(rawValue: raw) { preset = p } else { problem("preset", "is not a known range") }
            }
            for name in ["from", "to"] {
                guard let raw = query[name], !raw.isEmpty else { continue }
                guard let date = CivilDate(parsing: raw) else { problem(name, "must be a date (YYYY-MM-DD)"); continue }
                if name == "from" { from = date } else { to = date }
            }
            if preset == .custom {
                if from == nil, !problems.contains(where: { $0.field == "from" }) {
                    problem("from", "is required for a custom range")
                }
                if let from, let to, to < from { problem("to", "must not be before the start date") }
            }
            for d in UsageDimension.allCases {
                if let raw = query[d.rawValue]?.trimmingSpaces(), !raw.isEmpty { filters[d] = raw }
            }
            if let raw = query["flag"]?.trimmingSpaces(), !raw.isEmpty { flag = raw }
            if let raw = query["sort"] {
                if let s = SortKey(rawValue: raw) {
                    sort = s
                } else {
                    problem("sort", "must be period, name, requests, tokens or cost")
                }
            }
            if let raw = query["dir"] { descending = raw != "asc" }
        }

        /// The canonical query string (defaults left out), used for links and exports.
        package func query(sort: SortKey? = nil, descending: Bool? = nil) -> String {
            var items: [(String, String)] = []
            if groupByFlag {
                items.append(("group_by", "flag"))
            } else if let groupByTag {
                items.append(("group_by", "tag:" + groupByTag))
            } else if groupBy != .model {
                items.append(("group_by", groupBy?.rawValue ?? "none"))
            }
            if grain != .day { items.append(("grain", grain?.rawValue ?? "none")) }
            items.append(("preset", preset.rawValue))
            if preset == .custom {
                if let from { items.append(("from", from.description)) }
                if let to { items.append(("to", to.description)) }
            }
            for d in UsageDimension.allCases { if let f = filters[d] { items.append((d.rawValue, f)) } }
            if !flag.isEmpty { items.append(("flag", flag)) }
            let s = sort ?? self.sort, desc = descending ?? self.descending
            if s != .cost { items.append(("sort", s.rawValue)) }
            if !desc { items.append(("dir", "asc")) }
            return items.map { "\($0.0)=\(URLText.percentEncoded($0.1).replacingOccurrences(of: "/", with: "%2F"))" }
                .joined(separator: "&")
        }

        /// The filters as the store takes them: project and team names become ids (an unknown name matches
        /// nothing; the team `none` is usage in no team).
        package func storeFilters(projects: [Project], teams: [Team] = []) -> DimensionFilters {
            var result: DimensionFilters = [:]
            for (d, text) in filters {
                let values = text.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
                switch d {
                case .project:
                    result[d] = values.map { name in projects.first { $0.name == name }?.id ?? "unknown:" + name }
                case .team:
                    result[d] = values.map { name in
                        name == Team.noTeam ? name : teams.first { $0.name == name }?.id ?? "unknown:" + name
                    }
                default: result[d] = values
                }
            }
            return result
        }

        package func range(now: Instant, zone: TimeZoneRules) -> (from: Instant?, to: Instant?) {
            preset.range(now: now, zone: zone, from: from, to: to)
        }
    }

    package struct Row: Sendable, Equatable {
        package var period: String?
        package var name: String?
        package var metrics: UsageMetrics
    }

    package struct Model: Sendable {
        package var state: State
        package var range: TimeRange
        package var rows: [Row]
        package var totals: UsageMetrics
        package var chart: StackedBarChart?
    }

    // MARK: Query

    package static func load(
        store: some UsageStore & ProjectStore & TeamStore & FlagStore, page: SignedInPage, state: State, now: Instant,
        anomalies: (any ForecastSource)? = nil
    ) async throws -> Model {
        let bounds = state.range(now: now, zone: page.zone)
        // Unbounded ends (custom range with only a start) run to now / from the first day the API allows.
        let range = TimeRange(
            from: bounds.from ?? Instant(seconds: 0), to: min(bounds.to ?? now, now.adding(seconds: 86_400)))
        let projects = try await store.projects(organizationID: page.organization.id)
        let teams = try await store.teams(organizationID: page.organization.id)
        let filters = state.storeFilters(projects: projects, teams: teams)
        if state.groupByFlag {
            return try await flagModel(store: store, page: page, state: state, range: range, filters: filters)
        }
        let dims = state.groupBy.map { [$0] } ?? []
        let result: SummaryResult
        if range.from < range.to {
            result = try await store.summary(
                SummaryQuery(
                    organizationID: page.organization.id, from: range.from, to: range.to,
                    timeZone: page.zone, grain: state.grain, dimensions: dims, filters: filters,
                    tagKeys: state.groupByTag.map { [$0] } ?? []))
        } else {
            result = SummaryResult(groups: [], totals: UsageMetrics())
        }
        let names = Dictionary(
            state.groupBy == .team ? teams.map { ($0.id, $0.name) } : projects.map { ($0.id, $0.name) },
            uniquingKeysWith: { a, _ in a })
        var rows = result.groups.map { g -> Row in
            var name: String?
            if let key = state.groupByTag {
                name = (g.tags[key] ?? nil) ?? "(none)"
            } else if let d = state.groupBy {
                let raw = g.values[d] ?? nil
                name =
                    raw.map { d == .project || d == .team ? names[$0] ?? $0 : $0 }
                    ?? (d == .team ? "no team" : "(none)")
            }
            return Row(period: g.period, name: name, metrics: g.metrics)
        }
        rows.sort(by: comparator(state))
        var shown = chart(state, rows)
        if state.grain == .day, range.from < range.to, var daily = shown {
            let days = page.zone.localDate(of: range.from)...page.zone.localDate(of: range.to.adding(seconds: -1))
            let labels = daily.bars.map(\.fullLabel)
            await AnomalyMarkers.mark(
                &daily, source: anomalies, organizationID: page.organization.id, days: days, filters: filters, now: now,
                day: { CivilDate(parsing: labels[$0]) })
            shown = daily
        }
        return Model(state: state, range: range, rows: rows, totals: result.totals, chart: shown)
    }

    /// `group_by=flag`: one row per safety or quality flag over the range (raw events: the rollups keep no flags),
    /// with its requests and cost; the totals are the range's.
    static func flagModel(
        store: some UsageStore & FlagStore, page: SignedInPage, state: State, range: TimeRange,
        filters: DimensionFilters
    ) async throws -> Model {
        guard range.from < range.to else {
            return Model(state: state, range: range, rows: [], totals: UsageMetrics(), chart: nil)
        }
        let counts = try await store.flagCounts(
            FlagQuery(
                organizationID: page.organization.id, from: range.from, to: range.to, filters: filters,
                byFeature: false))
        let totals = try await store.summary(
            SummaryQuery(
                organizationID: page.organization.id, from: range.from, to: range.to, timeZone: page.zone, grain: nil,
                dimensions: [], filters: filters)
        ).totals
        var rows = counts.flags.map { c -> Row in
            var metrics = UsageMetrics()
            metrics.requests = c.requests
            metrics.cost = c.cost
            return Row(period: nil, name: c.flag, metrics: metrics)
        }
        var stateWithoutGrain = state
        stateWithoutGrain.grain = nil
        rows.sort(by: comparator(stateWithoutGrain))
        return Model(state: stateWithoutGrain, range: range, rows: rows, totals: totals, chart: nil)
    }

    package static func comparator(_ state: State) -> (Row, Row) -> Bool {
        let desc = state.descending
        func order<T: Comparable>(_ a: T, _ b: T, _ tie: Bool) -> Bool { a == b ? tie : (desc ? a > b : a < b) }
        return { a, b in
            let tie = (a.period ?? "", a.name ?? "") < (b.period ?? "", b.name ?? "")
            switch state.sort {
            case .period: return order(a.period ?? "", b.period ?? "", (a.name ?? "") < (b.name ?? ""))
            case .name: return order(a.name ?? "", b.name ?? "", (a.period ?? "") < (b.period ?? ""))
            case .requests: return order(a.metrics.requests, b.metrics.requests, tie)
            case .tokens:
                return order(
                    a.metrics.inputTokens &+ a.metrics.outputTokens, b.metrics.inputTokens &+ b.metrics.outputTokens,
                    tie)
            case .cost: return order(a.metrics.cost, b.metrics.cost, tie)
            }
        }
    }

    /// Cost per period stacked by the grouped dimension (its six largest, the rest as "other"); over the whole range,
    /// one bar per group.
    package static func chart(_ state: State, _ rows: [Row]) -> StackedBarChart? {
        guard let grain = state.grain else {
            guard !rows.isEmpty else { return nil }
            let bars = rows.prefix(40).map { r in
                StackedBarChart.Bar(
                    label: String((r.name ?? "all").prefix(12)), fullLabel: r.name ?? "all",
                    values: [r.metrics.cost.nanos])
            }
            let by =
                state.groupByTag.map { " by tag \($0)" } ?? state.groupBy.map { " by \(label($0).lowercased())" } ?? ""
            return StackedBarChart(
                id: "usage-chart", title: "Estimated cost over the range\(by)", series: ["cost"], bars: bars,
                format: { Format.money(USD(nanos: $0)) },
                axisFormat: { Format.money(USD(nanos: $0), places: $0 >= 100_000_000_000 || $0 == 0 ? 0 : 2) })
        }
        var totalsByName: [String: Int64] = [:]
        for r in rows { totalsByName[r.name ?? "all", default: 0] += r.metrics.cost.nanos }
        var series = totalsByName.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map(\.key)
        let overflow = series.count > 6
        if overflow { series = Array(series.prefix(5)) + ["other"] }
        var byPeriod: [String: [Int64]] = [:]
        for r in rows {
            let name = r.name ?? "all"
            let index = series.firstIndex(of: name) ?? series.count - 1
            byPeriod[r.period ?? "", default: Array(repeating: 0, count: series.count)][index] += r.metrics.cost.nanos
        }
        let bars = byPeriod.keys.sorted().map { period in
            StackedBarChart.Bar(label: shortPeriod(period), fullLabel: period, values: byPeriod[period]!)
        }
        let by =
            state.groupByTag.map { " by tag \($0)" }
            ?? state.groupBy.map { " by \($0.rawValue.replacingOccurrences(of: "_", with: " "))" } ?? ""
        return StackedBarChart(
            id: "usage-chart", title: "Estimated cost per \(grain.rawValue)\(by)", series: series,
            bars: bars, format: { Format.money(USD(nanos: $0)) },
            axisFormat: { Format.money(USD(nanos: $0), places: $0 >= 100_000_000_000 || $0 == 0 ? 0 : 2) })
    }

    package static func shortPeriod(_ period: String) -> String {
        if let d = CivilDate(parsing: period) { return Format.day(d) }
        return period
    }

    // MARK: Export (exactly the rows shown)

    package static let exportColumns = [
        "requests", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
        "errors", "cost_usd", "unpriced_requests",
    ]

    package static func exportValues(_ m: UsageMetrics) -> [String] {
        [
            String(m.requests), String(m.inputTokens), String(m.outputTokens), String(m.cachedInputTokens),
            String(m.reasoningTokens), String(m.errors), m.knownCost?.decimalString ?? "", String(m.unpricedRequests),
        ]
    }

    package static func csv(_ m: Model) -> String {
        var header: [String] = []
        if m.state.grain != nil { header.append("period") }
        if let d = m.state.groupBy { header.append(d.rawValue) }
        var out = (header + exportColumns).joined(separator: ",") + "\r\n"
        for row in m.rows {
            var cells: [String] = []
            if m.state.grain != nil { cells.append(row.period ?? "") }
            if m.state.groupBy != nil { cells.append(row.name ?? "") }
            out += (cells + exportValues(row.metrics)).map(CSV.cell).joined(separator: ",") + "\r\n"
        }
        return out
    }

    package static func json(_ m: Model, zone: TimeZoneRules) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("from", m.range.from.rfc3339)
        w.field("to", m.range.to.rfc3339)
        w.field("time_zone", zone.identifier)
        w.field("group_by", m.state.groupBy?.rawValue)
        w.field("grain", m.state.grain?.rawValue)
        w.field("currency", "USD")
        w.field("cost_basis", "estimate from list prices; the provider's invoice is authoritative")
        func metrics(_ metrics: UsageMetrics) {
            for (key, value) in zip(exportColumns, exportValues(metrics)) {
                if key == "cost_usd" { w.field(key, value.isEmpty ? nil : value) } else { w.key(key); w.raw(value) }
            }
        }
        w.key("rows")
        w.beginArray()
        for row in m.rows {
            w.beginObject()
            if m.state.grain != nil { w.field("period", row.period) }
            if let d = m.state.groupBy { w.field(d.rawValue, row.name) }
            metrics(row.metrics)
            w.endObject()
        }
        w.endArray()
        w.key("totals")
        w.beginObject()
        metrics(m.totals)
        w.endObject()
        w.endObject()
        return w.text
    }

    // MARK: View

    package static func render(_ page: SignedInPage, _ m: Model, notice: String? = nil) -> String {
        let s = m.state
        return Layout.page(
            title: "Usage", signedIn: page.header,
            .h1("Usage explorer"),
            AccountPages.notice(notice),
            filterForm(s, explorer: true),
            .p(
                .class("muted"),
                .text(
                    "\(Format.localTime(m.range.from, zone: page.zone)) to \(Format.localTime(m.range.to, zone: page.zone)) (\(page.zone.identifier)), end exclusive."
                )),
            EstimateNote.node(),
            .unwrap(m.chart) { chart in
                .section(.class("card"), .attribute(named: "aria-label", value: "Chart"), chart.node())
            },
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "table-heading"),
                .div(
                    .class("actions"),
                    .h2(.id("table-heading"), .text("\(m.rows.count) rows")),
                    .span(.class("spacer")),
                    .a(.id("export-csv"), .href("/usage/export?format=csv&" + s.query()), "Export CSV"),
                    .a(.id("export-json"), .href("/usage/export?format=json&" + s.query()), "Export JSON")),
                .div(.class("table-wrap"), table(m)))
        )
    }

    package static func table(_ m: Model) -> Node<HTML.BodyContext> {
        let s = m.state
        func header(_ label: String, _ key: SortKey, numeric: Bool = false) -> Node<HTML.TableRowContext> {
            let active = s.sort == key
            let nextDescending = active ? !s.descending : key != .name && key != .period
            let sortState = active ? (s.descending ? "descending" : "ascending") : "none"
            return .th(
                .if(numeric, .class("num")), .attribute(named: "aria-sort", value: sortState),
                .a(
                    .href("/usage?" + s.query(sort: key, descending: nextDescending)),
                    .data(named: "sort", value: key.rawValue),
                    .text(label + (active ? (s.descending ? " ↓" : " ↑") : ""))))
        }
        return .table(
            .id("usage-table"),
            .thead(
                .tr(
                    .if(s.grain != nil, header("Period", .period)),
                    .unwrap(s.groupBy) { header(label($0), .name) },
                    header("Requests", .requests, numeric: true),
                    .th(.class("num hide-narrow"), "Input tokens"),
                    header("Output tokens", .tokens, numeric: true),
                    header("Cost", .cost, numeric: true))),
            .tbody(
                .if(
                    m.rows.isEmpty,
                    .tr(
                        .class("empty"),
                        .td(.attribute(named: "colspan", value: "6"), "No usage in this range with these filters.")),
                    else: .forEach(m.rows) { row in
                        .tr(
                            .if(s.grain != nil, .td(.data(named: "col", value: "period"), .text(row.period ?? ""))),
                            .unwrap(s.groupBy) { d in .td(.data(named: "col", value: d.rawValue), .text(row.name ?? ""))
                            },
                            .td(
                                .class("num"), .data(named: "col", value: "requests"),
                                .text(Format.integer(row.metrics.requests))),
                            .td(
                                .class("num hide-narrow"), .data(named: "col", value: "input_tokens"),
                                .text(Format.integer(row.metrics.inputTokens))),
                            .td(
                                .class("num"), .data(named: "col", value: "output_tokens"),
                                .text(Format.integer(row.metrics.outputTokens))),
                            .td(
                                .class("num"), .data(named: "col", value: "cost_usd"),
                                .dataValue(row.metrics.knownCost?.decimalString ?? ""),
                                .text(Format.money(row.metrics.knownCost))))
                    })),
            .tfoot(
                .tr(
                    .if(s.grain != nil, .td("Total")), .unwrap(s.groupBy) { _ in .td(s.grain == nil ? "Total" : "") },
                    .td(.class("num"), .text(Format.integer(m.totals.requests))),
                    .td(.class("num hide-narrow"), .text(Format.integer(m.totals.inputTokens))),
                    .td(.class("num"), .text(Format.integer(m.totals.outputTokens))),
                    .td(
                        .class("num"), .dataValue(m.totals.knownCost?.decimalString ?? ""),
                        .text(Format.money(m.totals.knownCost)))))
        )
    }

    package static func label(_ d: UsageDimension) -> String {
        switch d {
        case .apiKey: "API key"
        default: d.rawValue.prefix(1).uppercased() + d.rawValue.dropFirst()
        }
    }

    /// The filter form shared by the explorer and the events list (which has no grouping).
    package static func filterForm(_ s: State, explorer: Bool) -> Node<HTML.BodyContext> {
        let errors = Dictionary(s.problems.map { ($0.field, $0.reason) }, uniquingKeysWith: { a, _ in a })
        let presets = DatePreset.allCases.map { ($0.rawValue, $0.label) }
        let grouping: Node<HTML.FormContext> =
            explorer
            ? .group(
                select(
                    "group_by", "Group by",
                    UsageDimension.allCases.map { ($0.rawValue, label($0)) } + [
                        ("tag", "Tag (key beside)"), ("flag", "Flag"), ("none", "Nothing"),
                    ],
                    selected: s.groupByFlag ? "flag" : s.groupByTag != nil ? "tag" : s.groupBy?.rawValue ?? "none",
                    error: errors["group_by"]),
                .div(
                    .label(.for("tag_key"), "Tag key"),
                    .input(
                        .id("tag_key"), .name("tag_key"), .type(.text), .value(s.groupByTag ?? ""),
                        .placeholder("e.g. team"), .attribute(named: "autocomplete", value: "off")),
                    errorSlot("tag_key", errors["tag_key"])),
                select(
                    "grain", "Per", [("day", "Day"), ("week", "Week"), ("month", "Month"), ("none", "Whole range")],
                    selected: s.grain?.rawValue ?? "none", error: errors["grain"])) : .empty
        let range: Node<HTML.FormContext> = .group(
            select("preset", "Range", presets, selected: s.preset.rawValue, error: errors["preset"]),
            dateField("from", "From", s.from, error: errors["from"]),
            dateField("to", "To (inclusive)", s.to, error: errors["to"]))
        return .form(
            .id(explorer ? "usage-form" : "events-form"), .method(.get), .action(explorer ? "/usage" : "/events"),
            .class("card"), .attribute(named: "data-autosubmit", value: "true"),
            // The URL is the state: a form restored by the back button must not show another one.
            .attribute(named: "autocomplete", value: "off"),
            .div(.class("row"), grouping, range),
            filterDetails(s, flags: !explorer),
            .if(s.sort != .cost, .input(.type(.hidden), .name("sort"), .value(s.sort.rawValue))),
            .if(!s.descending, .input(.type(.hidden), .name("dir"), .value("asc"))),
            .button(.id("apply"), .type(.submit), "Apply")
        )
    }

    package static func errorSlot(_ field: String, _ message: String?) -> Node<HTML.FormContext> {
        .p(.data(named: "error-for", value: field), .id(field + "-error"), .text(message ?? ""))
    }

    package static func select(
        _ id: String, _ label: String, _ options: [(String, String)], selected: String, error: String?
    ) -> Node<HTML.FormContext> {
        let choices: Node<HTML.SelectContext> = .forEach(options) {
            .option(.value($0.0), .label($0.1), .isSelected($0.0 == selected))
        }
        return .div(
            .label(.for(id), .text(label)),
            .select(.id(id), .attribute(named: "name", value: id), choices),
            errorSlot(id, error))
    }

    package static func dateField(_ id: String, _ label: String, _ value: CivilDate?, error: String?) -> Node<
        HTML.FormContext
    > {
        .div(
            .label(.for(id), .text(label)),
            .input(.id(id), .name(id), .type(.date), .value(value?.description ?? "")),
            errorSlot(id, error))
    }

    package static func filterDetails(_ s: State, flags: Bool = false) -> Node<HTML.FormContext> {
        let dimensions: Node<HTML.FormContext> = .forEach(UsageDimension.allCases) { d in
            .div(
                .label(.for("filter-" + d.rawValue), .text(label(d))),
                .input(
                    .id("filter-" + d.rawValue), .name(d.rawValue), .type(.text), .value(s.filters[d] ?? ""),
                    .placeholder("any"), .attribute(named: "autocomplete", value: "off")))
        }
        // Flags are on events only (the rollups do not keep them): the events page filters by them.
        let inputs: Node<HTML.FormContext> = .group(
            dimensions,
            .if(
                flags,
                .div(
                    .label(.for("filter-flag"), "Flag"),
                    .input(
                        .id("filter-flag"), .name("flag"), .type(.text), .value(s.flag),
                        .placeholder("any, e.g. truncated or pii.email"),
                        .attribute(named: "autocomplete", value: "off")
                    ))))
        let count = s.filters.count + (flags && !s.flag.isEmpty ? 1 : 0)
        let summary = count == 0 ? "Filters" : "Filters (\(count))"
        return .element(
            named: "details",
            nodes: [
                .attribute(named: "open", value: count == 0 ? nil : "open"),
                .element(named: "summary", text: summary),
                .div(.class("row"), inputs),
                .p(.class("muted small"), "Several values: separate them with commas. Projects by name."),
            ])
    }
}

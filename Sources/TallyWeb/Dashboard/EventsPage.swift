import Foundation
import Plot
import TallyCore
import TallyPrice
import TallyServices

/// `/events`: the latest events, newest first, 100 a page, with live additions; `/events/{id}`: one event's cost.
package enum EventsPage {
    package static let pageSize = 100

    package struct Model: Sendable {
        package var state: UsageExplorer.State
        package var events: [StoredEvent]
        package var next: EventCursor?
        package var isFirstPage: Bool
        /// The query string of the filters (no cursor), for the live feed and the pager.
        package var filterQuery: String
        /// `GET /api/v1/events/export`'s query for exactly these filters and range.
        package var exportQuery = "format=csv"
        /// Where raw events begin when retention has trimmed older ones (summaries still count those).
        package var rawEventsFrom: Instant?
    }

    package static func filterQuery(_ s: UsageExplorer.State) -> String {
        var items: [(String, String)] = [("preset", s.preset.rawValue)]
        if s.preset == .custom {
            if let from = s.from { items.append(("from", from.description)) }
            if let to = s.to { items.append(("to", to.description)) }
        }
        for d in UsageDimension.allCases { if let f = s.filters[d] { items.append((d.rawValue, f)) } }
        if !s.flag.isEmpty { items.append(("flag", s.flag)) }
        return items.map { "\($0.0)=\(URLText.percentEncoded($0.1).replacingOccurrences(of: "/", with: "%2F"))" }
            .joined(separator: "&")
    }

    /// The flag filter as the store takes it: at most 20 flags, each trimmed.
    static func flags(_ s: UsageExplorer.State) -> [String] {
        Array(s.flag.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }.prefix(20))
    }

    package static func load(
        store: some ProjectStore & EventStore & TeamStore & RetentionStore, page: SignedInPage,
        state: UsageExplorer.State,
        after: EventCursor?, now: Instant
    ) async throws -> Model {
        let projects = try await store.projects(organizationID: page.organization.id)
        let teams = try await store.teams(organizationID: page.organization.id)
        let range = state.range(now: now, zone: page.zone)
        let result = try await store.events(
            EventQuery(
                organizationID: page.organization.id, filters: state.storeFilters(projects: projects, teams: teams),
                from: range.from, to: range.to, limit: pageSize, after: after, flags: flags(state)))
        return Model(
            state: state, events: result.events, next: result.next, isFirstPage: after == nil,
            filterQuery: filterQuery(state), exportQuery: exportQuery(state, range: range),
            rawEventsFrom: try await store.retentionBoundaries().rawEventsFrom)
    }

    /// The export API's query for what the page shows: the range as instants, the filters by name.
    package static func exportQuery(_ s: UsageExplorer.State, range: (from: Instant?, to: Instant?)) -> String {
        var items: [(String, String)] = [("format", "csv")]
        if let from = range.from { items.append(("from", from.rfc3339)) }
        if let to = range.to { items.append(("to", to.rfc3339)) }
        for d in UsageDimension.allCases { if let f = s.filters[d] { items.append((d.rawValue, f)) } }
        if !s.flag.isEmpty { items.append(("flag", s.flag)) }
        return items.map { "\($0.0)=\(URLText.percentEncoded($0.1).replacingOccurrences(of: "/", with: "%2F"))" }
            .joined(separator: "&")
    }

    // MARK: View

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        Layout.page(
            title: "Events", signedIn: page.header,
            .h1("Events"),
            UsageExplorer.filterForm(m.state, explorer: false),
            EstimateNote.node(),
            .unwrap(m.rawEventsFrom) { from in
                .p(
                    .class("note"), .id("raw-events-from"),
                    .text(
                        "Raw events before \(Format.localTime(from, zone: page.zone)) were removed by the retention "
                            + "setting (TALLY_EVENT_RETENTION_DAYS); summaries, budgets and statements still count them."
                    ))
            },
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "events-heading"),
                .div(
                    .class("actions"),
                    .h2(.id("events-heading"), .text(m.isFirstPage ? "Latest events" : "Older events")),
                    .span(.class("spacer")),
                    .if(
                        m.isFirstPage,
                        .span(.id("live-status"), .class("muted"), .attribute(named: "role", value: "status"), "")),
                    .a(.href("/api/v1/events/export?" + m.exportQuery), "Export all as CSV")),
                .div(
                    .class("table-wrap"),
                    .table(
                        .id("events-table"),
                        .if(m.isFirstPage, .data(named: "live", value: "/events/live?" + m.filterQuery)),
                        .thead(
                            .tr(
                                .th("Time"), .th("Provider"), .th("Model"), .th(.class("hide-narrow"), "Project"),
                                .th(.class("hide-narrow"), "Feature"), .th(.class("hide-narrow"), "User"),
                                .th(.class("num"), "Tokens"), .th(.class("num"), "Cost"),
                                .th(.class("num hide-narrow"), "Latency"), .th("Status"))),
                        .tbody(
                            .if(
                                m.events.isEmpty,
                                .tr(
                                    .class("empty"),
                                    .td(
                                        .attribute(named: "colspan", value: "10"),
                                        "No events match. New ones appear here as they arrive.")),
                                else: .forEach(m.events) { row($0, zone: page.zone, sequence: nil) })))),
                .div(
                    .class("pager"),
                    .if(!m.isFirstPage, .a(.href("/events?" + m.filterQuery), "Newest")),
                    .unwrap(m.next) { next in
                        .a(
                            .id("next-page"), .href("/events?" + m.filterQuery + "&after=" + next.token),
                            "Older events →")
                    }))
        )
    }

    package static func row(_ s: StoredEvent, zone: TimeZoneRules, sequence: Int64?) -> Node<HTML.TableContext> {
        let e = s.event
        let tokens = e.usage.inputTokens + e.usage.outputTokens
        return .tr(
            .data(named: "event-id", value: e.id), .unwrap(sequence) { .data(named: "seq", value: String($0)) },
            .td(
                .data(named: "col", value: "time"),
                .a(
                    .href("/events/" + URLText.percentEncoded(e.id).replacingOccurrences(of: "/", with: "%2F")),
                    .text(Format.localTime(e.timestamp, zone: zone)))),
            .td(.data(named: "col", value: "provider"), .text(e.provider)),
            .td(.data(named: "col", value: "model"), .text(e.model)),
            .td(.class("hide-narrow"), .data(named: "col", value: "project"), .text(s.projectName)),
            .td(.class("hide-narrow"), .data(named: "col", value: "feature"), .text(e.attribution.feature ?? "")),
            .td(.class("hide-narrow"), .data(named: "col", value: "user"), .text(e.attribution.user ?? "")),
            .td(
                .class("num"), .data(named: "col", value: "tokens"), .dataValue(String(tokens)),
                .text(Format.integer(tokens))),
            .td(
                .class("num"), .data(named: "col", value: "cost"), .dataValue(s.cost?.decimalString ?? ""),
                .text(s.cost.map { Format.money($0) } ?? "unpriced")),
            .td(
                .class("num hide-narrow"), .data(named: "col", value: "latency"),
                .text(Format.milliseconds(e.outcome.latencyMs))),
            .td(
                .data(named: "col", value: "status"),
                e.outcome.status == .error
                    ? .span(.class("badge error"), .text("error" + (e.outcome.httpStatus.map { " \($0)" } ?? "")))
                    : .text(e.outcome.status.rawValue)))
    }

    /// One row as an HTML fragment, for the live feed.
    package static func rowHTML(_ s: StoredEvent, zone: TimeZoneRules, sequence: Int64) -> String {
        Node<HTML.TableContext>.tbody(.forEach([s]) { row($0, zone: zone, sequence: sequence) }).render()
            .dropFirst("<tbody>".count).dropLast("</tbody>".count).description
    }

    // MARK: One event

    /// One stored event and how its cost breaks down under today's prices (nil: no price covers it).
    package struct Detail: Sendable {
        package var event: StoredEvent
        package var breakdown: CostBreakdown?
        /// The captured bodies, for an admin (issue 21); nil: not captured, expired, or not an admin's page.
        package var content: OpenedContent? = nil
    }

    /// The event `id` as the person may see it (their project scope); `TallyError.notFound` otherwise.
    package static func loadDetail(store: some EventStore, pricer: CatalogPricer, page: SignedInPage, id: String)
        async throws -> Detail
    {
        guard
            let stored = try await store.event(
                organizationID: page.organization.id, id: id, projectIDs: page.principal.projectScope)
        else {
            throw TallyError.notFound("event '\(id)'")
        }
        return Detail(event: stored, breakdown: pricer.breakdown(stored))
    }

    /// `loadDetail`, and for an admin the captured bodies, opened (each opening audited by the reader).
    package static func loadDetail(
        store: some EventStore & EventContentStore & AuditStore, pricer: CatalogPricer, vault: Vault?,
        page: SignedInPage, id: String
    ) async throws -> Detail {
        var detail = try await loadDetail(store: store, pricer: pricer, page: page, id: id)
        if page.principal.allows(.manageContent) {
            // A body that cannot be opened (sealed under an earlier master key) leaves the page without the section
            // rather than fail it; the API answers why.
            detail.content = try? await EventContentReader(store: store, vault: vault).open(
                detail.event, actor: page.principal.actor)
        }
        return detail
    }

    package static func renderDetail(_ page: SignedInPage, _ d: Detail) -> String {
        renderDetail(page, d.event, breakdown: d.breakdown, content: d.content)
    }

    /// The captured request and response as text in `<pre>`: escaped by Plot, never markup.
    static func contentSection(_ c: OpenedContent, zone: TimeZoneRules) -> Node<HTML.BodyContext> {
        func body(_ title: String, _ id: String, _ text: String?, truncated: Bool) -> Node<HTML.BodyContext> {
            .group(
                .h3(.text(title + (truncated ? " (truncated at the capture limit)" : ""))),
                .unwrap(text, { .pre(.id(id), .class("captured"), .text($0)) }, else: .p(.class("muted"), "None.")))
        }
        return .section(
            .class("card"), .id("captured-content"), .attribute(named: "aria-labelledby", value: "content-heading"),
            .h2(.id("content-heading"), "Captured content"),
            .p(
                .class("muted"),
                .text(
                    "Captured \(c.mode == .redacted ? "with detected personal data and secrets redacted" : "in full"); deleted \(Format.localTime(c.expiresAt, zone: zone)). Only admins see this, and each view is recorded in the audit log."
                )),
            body("Request", "captured-request", c.request, truncated: c.requestTruncated),
            body("Response", "captured-response", c.response, truncated: c.responseTruncated))
    }

    /// `GET /api/v1/events/{id}/receipt` for this event; the id is the client's, so it is encoded whole.
    static func receiptURL(_ id: String, _ format: String) -> String {
        "/api/v1/events/" + URLText.percentEncoded(id).replacingOccurrences(of: "/", with: "%2F")
            + "/receipt?format=" + format
    }

    package static func renderDetail(
        _ page: SignedInPage, _ s: StoredEvent, breakdown: CostBreakdown?, content: OpenedContent? = nil
    ) -> String {
        let e = s.event
        let o = e.outcome
        let facts: [(String, String)] =
            [
                ("Time", Format.localTime(e.timestamp, zone: page.zone) + " (\(page.zone.identifier))"),
                ("Provider", e.provider), ("Model", e.model), ("Operation", e.operation.rawValue),
                ("Project", s.projectName),
                ("Feature", e.attribution.feature ?? "—"), ("User", e.attribution.user ?? "—"),
                ("API key", e.attribution.apiKey ?? "—"), ("Environment", e.attribution.environment ?? "—"),
                ("Source", e.source.rawValue),
                ("Status", o.status.rawValue + (o.httpStatus.map { " (HTTP \($0))" } ?? "")),
                ("Error type", o.errorType ?? "—"), ("Latency", Format.milliseconds(o.latencyMs)),
                ("Time to first token", Format.milliseconds(o.timeToFirstTokenMs)),
                ("Streamed", o.streamed.map { $0 ? "yes" : "no" } ?? "—"), ("Finish reason", o.finishReason ?? "—"),
                ("Batch", e.batch ? "yes" : "no"), ("Service tier", e.serviceTier ?? "—"),
                ("Provider-reported cost", e.providerCost.map { Format.money($0) } ?? "—"),
                ("Received", Format.localTime(s.receivedAt, zone: page.zone)),
                ("Safety flags", o.safetyFlags.isEmpty ? "—" : o.safetyFlags.joined(separator: ", ")),
                ("Quality flags", o.qualityFlags.isEmpty ? "—" : o.qualityFlags.joined(separator: ", ")),
            ] + e.attribution.tags.keys.sorted().map { ("Tag \($0)", e.attribution.tags[$0] ?? "") }
        return Layout.page(
            title: "Event \(e.id)", signedIn: page.header,
            .p(.a(.href("/events"), "← Events")),
            .h1(.text("\(e.model) · \(e.id)")),
            .div(
                .class("actions"),
                .a(.class("button"), .href(receiptURL(e.id, "pdf")), "Download receipt (PDF)"),
                .a(.href(receiptURL(e.id, "txt")), "Receipt as text")),
            .div(
                .class("grid wide"),
                .section(
                    .class("card"), .attribute(named: "aria-labelledby", value: "cost-heading"),
                    .h2(.id("cost-heading"), "Cost breakdown"),
                    .unwrap(
                        breakdown,
                        { b in
                            .group(
                                .p(
                                    .id("price-date"), .class("muted"),
                                    .text(
                                        "Priced with \(b.entry.id) (\(b.entry.provider ?? "any provider") \(b.modelResolved)), list price in force from \(b.entry.from)"
                                            + (b.entry.checked.map { ", checked \($0)" } ?? "") + ".")),
                                .if(
                                    !b.modifiers.isEmpty,
                                    .p(.text("Applied: " + b.modifiers.joined(separator: "; ") + "."))),
                                .div(
                                    .class("table-wrap"),
                                    .table(
                                        .id("cost-breakdown"),
                                        .thead(
                                            .tr(
                                                .th("Token class"), .th(.class("num"), "Tokens"),
                                                .th(.class("num"), "Rate (USD / 1M)"), .th(.class("num"), "Cost"))),
                                        .tbody(
                                            .forEach(b.lines) { line in
                                                .tr(
                                                    .td(
                                                        .data(named: "col", value: "class"),
                                                        .text(line.tokenClass.replacingOccurrences(of: "_", with: " "))),
                                                    .td(
                                                        .class("num"), .data(named: "col", value: "tokens"),
                                                        .text(Format.integer(line.tokens))),
                                                    .td(
                                                        .class("num"), .data(named: "col", value: "rate"),
                                                        .text(
                                                            line.tokenClass == "request"
                                                                ? "\(line.rate) per request" : line.rate)),
                                                    .td(
                                                        .class("num"), .data(named: "col", value: "cost"),
                                                        .dataValue(line.cost.decimalString),
                                                        .text("$" + line.cost.decimalString)))
                                            }),
                                        .tfoot(
                                            .tr(
                                                .td("Total"), .td(), .td(),
                                                .td(
                                                    .class("num"), .data(named: "col", value: "cost"),
                                                    .dataValue(b.cost.decimalString),
                                                    .text("$" + b.cost.decimalString)))))),
                                .if(
                                    s.cost != nil && s.cost != b.cost,
                                    .p(
                                        .class("notice"),
                                        .text(
                                            "The stored cost ($\(s.cost!.decimalString)) differs from this breakdown; re-price the range to bring it up to date."
                                        )))
                            )
                        },
                        else: .p(
                            .id("price-date"),
                            .text(
                                "No price covered \(e.provider) \(e.model) on this event's date, so its cost is unknown. "
                            ),
                            .a(.href("/settings/prices#unpriced"), "Add a price"), .text(" and re-price to include it.")
                        )),
                    EstimateNote.node()),
                .section(
                    .class("card"), .attribute(named: "aria-labelledby", value: "facts-heading"),
                    .h2(.id("facts-heading"), "Details"),
                    .table(
                        .tbody(
                            .forEach(facts) {
                                .tr(.th(.attribute(named: "scope", value: "row"), .text($0.0)), .td(.text($0.1)))
                            })))),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "tokens-heading"),
                .h2(.id("tokens-heading"), "Tokens"),
                .div(
                    .class("table-wrap"),
                    .table(
                        .tbody(
                            .forEach(tokenRows(e.usage)) {
                                .tr(
                                    .th(.attribute(named: "scope", value: "row"), .text($0.0)),
                                    .td(.class("num"), .text(Format.integer($0.1))))
                            })))),
            .unwrap(content) { contentSection($0, zone: page.zone) }
        )
    }

    package static func tokenRows(_ u: TokenUsage) -> [(String, Int64)] {
        [
            ("Input", u.inputTokens), ("Output", u.outputTokens), ("Cached input", u.cachedInputTokens),
            ("Cache write (5 min)", u.cacheWriteInputTokens), ("Cache write (1 h)", u.cacheWrite1hInputTokens),
            ("Reasoning", u.reasoningTokens), ("Input audio", u.inputAudioTokens),
            ("Cached input audio", u.cachedInputAudioTokens), ("Output audio", u.outputAudioTokens),
            ("Requests", u.requests),
        ]
    }
}

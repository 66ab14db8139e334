import Foundation
import TallyAggregate
import TallyCore
import TallyPrice
import TallyTestSupport
import Testing

@testable import TallyWeb

/// HTML snapshots of every dashboard page in its main states (data, empty, error), rendered from fixed models.
/// Snapshots live in Tests/TallyWebTests/Snapshots; `TALLY_RECORD_SNAPSHOTS=1 swift test` rewrites them.
enum Snapshot {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Snapshots")

    /// One element per line, and the assets' content hash masked, so a diff shows what changed.
    static func normalized(_ html: String) -> String {
        var text = html.replacingOccurrences(of: "><", with: ">\n<")
        if let r = text.range(of: "?v=" + Assets.version) { text.replaceSubrange(r, with: "?v=VERSION") }
        while let r = text.range(of: "?v=" + Assets.version) { text.replaceSubrange(r, with: "?v=VERSION") }
        return text + "\n"
    }

    static func check(_ html: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try SnapshotFolder(directory: directory, normalize: normalized).check(
            html, name, sourceLocation: sourceLocation)
    }
}

/// Fixed people, organization, time and events for the views.
enum Sample {
    static let now = Instant(rfc3339: "2026-11-23T12:00:00Z")!
    static let zone = TimeZoneRules(identifier: "Europe/Berlin")!
    static let organization = Organization(
        id: "org_acme", name: "Acme", timeZone: "Europe/Berlin", createdAt: now, billingCycleDay: 1)
    static let user = User(id: "usr_ada", email: "ada@example.com", name: "Ada", createdAt: now)

    static func page(_ role: Role = .owner, section: Layout.Section = .overview) -> SignedInPage {
        let session = Session(
            id: "ses", userID: user.id, organizationID: organization.id, csrfToken: "csrf-token",
            createdAt: now, lastSeenAt: now)
        let header = Layout.SignedInHeader(
            userName: user.name, organizationID: organization.id,
            organizations: [(organization.id, organization.name), ("org_two", "Second")],
            csrf: "csrf-token", section: section)
        return SignedInPage(
            principal: Principal(.user(user, role, session)), user: user, role: role, organization: organization,
            zone: zone, header: header, publicURL: "http://tally.example")
    }

    static func metrics(
        requests: Int64, input: Int64, output: Int64, cost: String, errors: Int64 = 0, unpriced: Int64 = 0
    ) -> UsageMetrics {
        var m = UsageMetrics()
        m.requests = requests
        m.inputTokens = input
        m.outputTokens = output
        m.errors = errors
        m.cost = USD(decimal: cost)!
        m.unpricedRequests = unpriced
        return m
    }

    static func event(
        _ id: String, model: String = "gpt-4o-mini", provider: String = "openai", minutesAgo: Int64 = 5,
        input: Int64 = 1200, output: Int64 = 300, status: EventStatus = .success
    ) -> StoredEvent {
        var e = UsageEvent(id: id, timestamp: now.adding(seconds: -60 * minutesAgo), provider: provider, model: model)
        e.usage.inputTokens = input
        e.usage.outputTokens = output
        e.attribution.feature = "support-bot"
        e.attribution.user = "u-42"
        e.outcome.latencyMs = 840
        e.outcome.status = status
        if status == .error { e.outcome.httpStatus = 429 }
        var stored = StoredEvent(
            event: e, organizationID: organization.id, projectID: "prj_web", projectName: "web",
            receivedAt: now, cost: nil, priceID: nil)
        if let quote = CatalogPricer().breakdown(e, organizationID: organization.id) {
            stored.cost = quote.cost
            stored.priceID = quote.entry.id
        }
        return stored
    }
}

@Suite struct DashboardViewTests {
    func overviewModel(hasEvents: Bool = true) -> OverviewPage.Model {
        let cycle = BillingCycle.containing(Sample.now, startDay: 1, zone: Sample.zone)
        let current = TimeRange(from: cycle.range.from, to: Sample.now)
        var groups: [SummaryGroup] = []
        for day in 0..<7 {
            let date = CivilDate(year: 2026, month: 11, day: 17 + day).description
            groups.append(
                SummaryGroup(
                    period: date, values: [.provider: "openai"],
                    metrics: Sample.metrics(requests: 10, input: 1000, output: 100, cost: "1.\(day)5")))
            if day % 2 == 0 {
                groups.append(
                    SummaryGroup(
                        period: date, values: [.provider: "anthropic"],
                        metrics: Sample.metrics(requests: 4, input: 800, output: 90, cost: "0.4")))
            }
        }
        let chart = OverviewPage.dailyChart(
            SummaryResult(groups: groups, totals: UsageMetrics()),
            from: CivilDate(year: 2026, month: 11, day: 17), days: 7)
        let models = [
            OverviewPage.Ranked(
                name: "claude-sonnet-4-5",
                metrics: Sample.metrics(requests: 12, input: 90_000, output: 8_000, cost: "8.25")),
            OverviewPage.Ranked(
                name: "gpt-4o-mini", metrics: Sample.metrics(requests: 70, input: 70_000, output: 9_000, cost: "0.0159")
            ),
            OverviewPage.Ranked(
                name: "mystery-model", metrics: Sample.metrics(requests: 1, input: 5, output: 5, cost: "0", unpriced: 1)
            ),
        ]
        return OverviewPage.Model(
            cycle: cycle, now: Sample.now, current: current,
            previous: cycle.previous(zone: Sample.zone).elapsed(matching: current),
            currentTotals: Sample.metrics(
                requests: 83, input: 160_005, output: 17_005, cost: "8.2659", errors: 2, unpriced: 1),
            previousTotals: Sample.metrics(requests: 60, input: 100_000, output: 10_000, cost: "5.5"),
            days: 7, daily: chart, topModels: models,
            topProjects: [
                OverviewPage.Ranked(
                    name: "web", metrics: Sample.metrics(requests: 83, input: 160_005, output: 17_005, cost: "8.2659"))
            ],
            topFeatures: [
                OverviewPage.Ranked(
                    name: "support-bot",
                    metrics: Sample.metrics(requests: 83, input: 160_005, output: 17_005, cost: "8.2659")),
                OverviewPage.Ranked(
                    name: "(none)", metrics: Sample.metrics(requests: 1, input: 5, output: 5, cost: "0", unpriced: 1)),
            ],
            hasEvents: hasEvents)
    }

    @Test func overviewWithData() throws {
        let html = OverviewPage.render(Sample.page(), overviewModel())
        try Snapshot.check(html, "overview-data")
        #expect(html.contains(#"id="card-spend""#) && html.contains(#"data-value="8.2659""#))
        #expect(
            html.contains(#"data-from="2026-10-31T23:00:00Z""#), "the cycle starts at local midnight of Nov 1 in Berlin"
        )
        #expect(html.contains("<title"), "the chart has text alternatives")
        #expect(html.contains("estimate-note"))
    }

    @Test func overviewEmptyShowsHowToStart() throws {
        let html = OverviewPage.render(Sample.page(), overviewModel(hasEvents: false))
        try Snapshot.check(html, "overview-empty")
        #expect(html.contains(#"id="getting-started""#) && html.contains("http://tally.example/api/v1/events"))
        #expect(html.contains(#"id="create-snippet-token""#))
        #expect(!html.contains(#"id="card-spend""#))
        // A viewer cannot create tokens: no button that would fail.
        #expect(
            !OverviewPage.render(Sample.page(.viewer), overviewModel(hasEvents: false)).contains("create-snippet-token")
        )
    }

    @Test func failedQueryShowsAMessageInThePageFrame() throws {
        let html = AccountPages.failure(
            Sample.page().header, title: "Overview",
            "The figures could not be loaded: the database is slow or unreachable. Try again in a moment.")
        try Snapshot.check(html, "error-page")
        #expect(html.contains(#"role="alert""#) && html.contains(#"id="main-nav""#))
    }

    func usageModel(_ query: [String: String], rows: [UsageExplorer.Row]) -> UsageExplorer.Model {
        let state = UsageExplorer.State(query: query)
        var sorted = rows
        sorted.sort(by: UsageExplorer.comparator(state))
        var totals = UsageMetrics()
        for r in rows { totals += r.metrics }
        return UsageExplorer.Model(
            state: state, range: TimeRange(from: Sample.now.adding(seconds: -3 * 86_400), to: Sample.now),
            rows: sorted, totals: totals, chart: UsageExplorer.chart(state, sorted))
    }

    let usageRows = [
        UsageExplorer.Row(
            period: "2026-11-21", name: "gpt-4o-mini",
            metrics: Sample.metrics(requests: 5, input: 500, output: 50, cost: "0.0021")),
        UsageExplorer.Row(
            period: "2026-11-21", name: "claude-sonnet-4-5",
            metrics: Sample.metrics(requests: 2, input: 900, output: 90, cost: "0.75")),
        UsageExplorer.Row(
            period: "2026-11-22", name: "gpt-4o-mini",
            metrics: Sample.metrics(requests: 9, input: 900, output: 80, cost: "0.0042")),
    ]

    @Test func usageExplorerWithData() throws {
        let m = usageModel(["group_by": "model", "preset": "7d"], rows: usageRows)
        let html = UsageExplorer.render(Sample.page(section: .usage), m)
        try Snapshot.check(html, "usage-data")
        #expect(m.rows.first?.name == "claude-sonnet-4-5", "sorted by cost, highest first")
        #expect(html.contains(#"href="/usage/export?format=csv&amp;preset=7d""#))
    }

    @Test func usageExplorerSortsAndExportsWhatItShows() throws {
        let m = usageModel(["group_by": "model", "preset": "7d", "sort": "requests", "dir": "asc"], rows: usageRows)
        #expect(m.rows.map(\.metrics.requests) == [2, 5, 9])
        #expect(
            UsageExplorer.csv(m) == """
                period,model,requests,input_tokens,output_tokens,cached_input_tokens,reasoning_tokens,errors,cost_usd,unpriced_requests\r
                2026-11-21,claude-sonnet-4-5,2,900,90,0,0,0,0.75,0\r
                2026-11-21,gpt-4o-mini,5,500,50,0,0,0,0.0021,0\r
                2026-11-22,gpt-4o-mini,9,900,80,0,0,0,0.0042,0\r

                """)
        let json = try JSONParser.parse(Array(UsageExplorer.json(m, zone: Sample.zone).utf8))
        #expect(json["totals"]?["cost_usd"] == .string("0.7563"))
        #expect(json["rows"]?.arrayValue?.first?["model"] == .string("claude-sonnet-4-5"))
    }

    @Test func usageExplorerEmptyAndBadInput() throws {
        let empty = usageModel(["group_by": "feature", "grain": "none"], rows: [])
        try Snapshot.check(UsageExplorer.render(Sample.page(section: .usage), empty), "usage-empty")
        let bad = usageModel(["preset": "custom", "from": "2026-13-01"], rows: [])
        let html = UsageExplorer.render(Sample.page(section: .usage), bad)
        try Snapshot.check(html, "usage-bad-input")
        #expect(html.contains(#"data-error-for="from" id="from-error">must be a date (YYYY-MM-DD)"#))
        #expect(bad.state.problems.map(\.field) == ["from"])
    }

    @Test func eventsWithDataAndEmpty() throws {
        let events = [
            Sample.event("evt-2", minutesAgo: 1),
            Sample.event("evt-1", model: "mystery-model", minutesAgo: 9, status: .error),
        ]
        let state = UsageExplorer.State(query: [:], defaultPreset: .all)
        let full = EventsPage.Model(
            state: state, events: events, next: EventCursor(timestamp: Sample.now, sequence: 7),
            isFirstPage: true, filterQuery: EventsPage.filterQuery(state))
        let html = EventsPage.render(Sample.page(section: .events), full)
        try Snapshot.check(html, "events-data")
        #expect(html.contains(#"data-live="/events/live?preset=all""#) && html.contains(#"id="next-page""#))
        #expect(html.contains("unpriced"), "an unpriced event says so rather than $0")
        let empty = EventsPage.Model(
            state: state, events: [], next: nil, isFirstPage: true, filterQuery: EventsPage.filterQuery(state))
        try Snapshot.check(EventsPage.render(Sample.page(section: .events), empty), "events-empty")
    }

    @Test func eventPageBreaksTheCostDown() throws {
        let stored = Sample.event("evt-2")
        let breakdown = try #require(CatalogPricer().breakdown(stored))
        let html = EventsPage.renderDetail(Sample.page(section: .events), stored, breakdown: breakdown)
        try Snapshot.check(html, "event-priced")
        #expect(html.contains(#"id="cost-breakdown""#) && html.contains("data-value=\"\(stored.cost!.decimalString)\""))
        let unpriced = Sample.event("evt-3", model: "mystery-model")
        try Snapshot.check(
            EventsPage.renderDetail(Sample.page(section: .events), unpriced, breakdown: nil), "event-unpriced")
    }

    @Test func settingsPages() throws {
        let page = Sample.page(section: .settings)
        let connection = ProviderConnection(
            id: "conn_1", organizationID: Sample.organization.id, provider: .anthropic, name: "Claude prod",
            baseURL: nil, apiKey: nil, apiKeyMask: "sk-ant-…a1b2", adminKey: nil, adminKeyMask: nil,
            validatedAt: Sample.now, validationError: nil, createdAt: Sample.now, updatedAt: Sample.now)
        let providers = SettingsPages.providers(page, connections: [connection], vaultReady: true)
        try Snapshot.check(providers, "settings-providers")
        #expect(providers.contains("sk-ant-…a1b2") && providers.contains(#"id="add-connection""#))
        // gateway_endpoints: chosen when adding, changed per connection (admins only), shown when every endpoint is open.
        #expect(providers.contains(#"<select id="add-connection-gateway_endpoints" name="gateway_endpoints">"#))
        #expect(
            providers.contains(#"data-api="PATCH /api/v1/provider-connections/\#(connection.id)""#)
                && providers.contains(#"<option value="inference" label="Inference endpoints only"#))
        var open = connection
        open.gatewayEndpoints = .all
        #expect(
            SettingsPages.providers(page, connections: [open], vaultReady: true).contains("Gateway: every endpoint"))
        #expect(!providers.contains("Gateway: every endpoint"))
        try Snapshot.check(
            SettingsPages.providers(Sample.page(.viewer, section: .settings), connections: [], vaultReady: true),
            "settings-providers-viewer")
        #expect(
            !SettingsPages.providers(Sample.page(.viewer), connections: [connection], vaultReady: true).contains(
                "add-connection"))

        let projects = [
            Project(id: "prj_web", organizationID: Sample.organization.id, name: "web", createdAt: Sample.now),
            Project(
                id: "prj_old", organizationID: Sample.organization.id, name: "old", createdAt: Sample.now,
                archivedAt: Sample.now),
        ]
        try Snapshot.check(SettingsPages.projects(page, projects: projects), "settings-projects")

        let token = APIToken(
            id: "tok_1", organizationID: Sample.organization.id, projectID: "prj_web", projectName: "web",
            name: "checkout",
            scopes: [.ingest, .read], hint: "x9y8", createdAt: Sample.now, createdBy: Sample.user.id)
        let tokens = SettingsPages.tokens(page, tokens: [token], projects: projects, creators: [Sample.user.id: "Ada"])
        try Snapshot.check(tokens, "settings-tokens")
        #expect(tokens.contains(#"data-token-id="tok_1""#) && tokens.contains(#"id="new-token-secret""#))

        let members = [
            Membership(organization: Sample.organization, user: Sample.user, role: .owner, joinedAt: Sample.now),
            Membership(
                organization: Sample.organization,
                user: User(id: "usr_bo", email: "bo@example.com", name: "Bo", createdAt: Sample.now),
                role: .viewer, joinedAt: Sample.now),
        ]
        let invite = Invite(
            id: "inv_1", organizationID: Sample.organization.id, email: "cy@example.com", role: .member,
            createdBy: Sample.user.id,
            createdAt: .now, expiresAt: Instant.now.adding(seconds: 86_400))
        let membersHTML = SettingsPages.members(page, members: members, invites: [invite])
        #expect(membersHTML.contains("cy@example.com") && membersHTML.contains(#"id="invite""#))

        let catalog = CatalogPricer().catalog.entries
        let today = CivilDate(year: 2026, month: 11, day: 23)
        let builtIn = SettingsPages.inForce(catalog, on: today)
        #expect(!builtIn.isEmpty && builtIn.allSatisfy { $0.from <= today })
        let unpriced = [
            UnpricedModel(
                provider: "openai", model: "mystery-model", requests: 3, inputTokens: 30, outputTokens: 9,
                firstSeen: Sample.now, lastSeen: Sample.now)
        ]
        let prices = SettingsPages.prices(
            page, own: [], builtIn: Array(builtIn.prefix(3)), unpriced: unpriced,
            catalog: .init(inForce: .builtIn, mayApply: true))
        #expect(
            prices.contains(#"id="unpriced""#) && prices.contains("mystery-model") && prices.contains(#"id="reprice""#))
        try Snapshot.check(
            SettingsPages.organization(page, rules: OrganizationSignInRules(requireTwoFactor: true)),
            "settings-organization")
    }

    /// Plot does not escape attribute values: names and typed filters carrying quotes must not end an attribute.
    @Test func hostileNamesAndFiltersStayInsideTheirAttributes() {
        let hostile = #"x"><script>alert(1)</script>"#
        var page = Sample.page(section: .usage)
        page = SignedInPage(
            principal: page.principal, user: page.user, role: page.role, organization: page.organization,
            zone: page.zone,
            header: Layout.SignedInHeader(
                userName: hostile, organizationID: "o1",
                organizations: [("o1", hostile), ("o2", "b")], csrf: "c", section: .usage),
            publicURL: page.publicURL)
        let state = UsageExplorer.State(query: ["model": hostile, "preset": "7d"])
        let model = UsageExplorer.Model(
            state: state, range: TimeRange(from: Sample.now, to: Sample.now),
            rows: [
                UsageExplorer.Row(
                    period: nil, name: hostile, metrics: Sample.metrics(requests: 1, input: 1, output: 1, cost: "1"))
            ], totals: UsageMetrics(), chart: nil)
        let html = UsageExplorer.render(page, model)
        #expect(!html.contains("<script>alert"), "\(html)")
        #expect(html.contains("&quot;&gt;&lt;script&gt;"))
        let events = EventsPage.render(
            page,
            EventsPage.Model(
                state: state, events: [Sample.event(hostile)], next: nil, isFirstPage: true,
                filterQuery: EventsPage.filterQuery(state)))
        #expect(!events.contains("<script>alert"))
    }

    @Test func reconciliationAndSyncRuns() throws {
        var observed = UsageMetrics()
        observed.requests = 10
        observed.inputTokens = 1000
        observed.cost = USD(decimal: "1.00")!
        var reported = UsageMetrics()
        reported.inputTokens = 1100
        reported.providerCost = USD(decimal: "1.25")!
        let lines = try ProviderLedger.reconcile(
            observed: SummaryResult(
                groups: [SummaryGroup(period: "2026-11-20", values: [.model: "gpt-4o"], metrics: observed)],
                totals: observed),
            provider: SummaryResult(
                groups: [SummaryGroup(period: "2026-11-20", values: [.model: "gpt-4o"], metrics: reported)],
                totals: reported),
            dimension: .model, thresholdBasisPoints: 1000)
        // Billed 1.25 against an estimate of 1.00: 0.25, 20 % of the bill, over the 10 % threshold.
        #expect(
            lines.count == 1 && lines[0].difference == USD(decimal: "0.25") && lines[0].differenceBasisPoints == 2000
                && lines[0].flagged)
        let html = ReconciliationPage.render(
            Sample.page(section: .reconciliation),
            .init(
                from: CivilDate(year: 2026, month: 11, day: 1), to: CivilDate(year: 2026, month: 11, day: 23),
                groupBy: .model,
                thresholdPercent: 10, lines: lines, hasConnections: true))
        try Snapshot.check(html, "reconciliation")
        #expect(html.contains("+20.00%") && html.contains(#"class="flagged""#))
        let run = SyncRun(
            id: "sync_1", organizationID: Sample.organization.id, connectionID: "conn_1", trigger: .backfill,
            from: Instant(rfc3339: "2026-10-24T00:00:00Z")!, to: Instant(rfc3339: "2026-11-23T00:00:00Z")!,
            status: .failed,
            pages: 3, rows: 120, startedAt: Sample.now, finishedAt: Sample.now,
            error: "HTTP 529 after 6 attempts: overloaded_error: busy")
        let providers = SettingsPages.providers(
            Sample.page(section: .settings), connections: [], vaultReady: true, runs: [run])
        #expect(
            providers.contains(#"id="sync-runs""#) && providers.contains("2026-10-24 – 2026-11-22")
                && providers.contains("overloaded_error"))
    }

    @Test func moneyAndNumbersReadWell() {
        #expect(Format.money(USD(decimal: "1234.565")) == "$1,234.57")
        #expect(Format.money(USD(decimal: "0.00421")) == "$0.0042")
        #expect(Format.money(USD.zero) == "$0.00")
        #expect(Format.money(nil) == "—")
        #expect(Format.money(USD(decimal: "150")!, places: 0) == "$150")
        #expect(Format.integer(1_234_567) == "1,234,567")
        #expect(Format.percent(1, of: 3) == "33.3%")
        #expect(
            Format.change(150, from: 100) == "+50.0%" && Format.change(50, from: 100) == "−50.0%"
                && Format.change(5, from: 0) == "new")
        #expect(Format.localTime(Sample.now, zone: Sample.zone) == "2026-11-23 13:00:00")
        #expect(
            StackedBarChart.niceStep(3) == 5 && StackedBarChart.niceStep(120) == 200 && StackedBarChart.niceStep(1) == 1
        )
    }

    @Test func slowQueriesBecomeAnUnavailableError() async throws {
        await #expect(throws: TallyError.self) {
            try await withDeadline(seconds: 1) {
                try await Task.sleep(for: .seconds(5)); return 1
            }
        }
        #expect(try await withDeadline(seconds: 5) { 42 } == 42)
    }
}

extension JSONValue {
    /// The same helper as TallyServerTests' (until the shared test-support library holds it).
    var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
}

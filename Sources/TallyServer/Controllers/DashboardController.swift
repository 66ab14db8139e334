import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TallyCore
import TallyGateway
import TallyHTTP
import TallyPrice
import TallyServices
import TallyWeb

/// The dashboard's pages: overview, usage explorer and export, events (list, live feed, one event), settings.
/// Each handler reads its request, opens the session, runs its page's `load` (TallyWeb) with a deadline and
/// renders the page's view; a failed query renders the page's frame with a message rather than an error body.
struct DashboardController<Store: TallyStore> {
    let store: Store
    let gate: PageGate<Store>
    let pricer: CatalogPricer
    let vaultReady: Bool
    let logger: Logger
    let liveStreamSeconds: Int
    let liveStreams: LiveStreams
    /// Each poll of a live stream re-checks its session against this, so signing out ends the stream.
    let sessionPolicy: SessionPolicy
    /// Answers the Forecast page (issue 18).
    let forecasts: any ForecastSource
    /// Seconds a page's queries may take before the page says the database is slow.
    var deadline = 15
    /// Guardrail policies (issue 19) for Settings → Policies; nil: the tab lists none.
    var policies: (any PolicyStore)? = nil
    /// The gateway guard's counters, for the open reservations of enforced budgets on the budgets page.
    var guardCounters: (any GuardCounterStore)? = nil
    /// Opens captured bodies on the event page for admins (issue 21).
    var vault: Vault? = nil

    func addRoutes(to router: Router<TallyRequestContext>) {
        router.get("/", use: overview)
        router.get("usage", use: usage)
        router.get("usage/export", use: usageExport)
        router.get("events", use: events)
        router.get("events/live", use: live)
        router.get("events/:id", use: event)
        router.get("reconciliation", use: reconciliation)
        router.get("alerts", use: alerts)
        router.get("budgets", use: budgets)
        router.get("forecast", use: forecast)
        router.get("insights", use: insights)
        router.get("statements", use: statements)
        router.get("performance", use: performance)
        router.get("playground", use: playground)
        router.get("settings", use: settingsHome)
        router.get("settings/:tab", use: settings)
    }

    /// Opens the page, runs `body`; store failures become the page frame with a message (503), never a bare error.
    func respond(
        _ request: Request, _ section: Layout.Section, title: String,
        _ body: @escaping @Sendable (SignedInPage) async throws -> Response
    ) async throws -> Response {
        let page: SignedInPage
        switch try await gate.open(request, section: section) {
        case .redirect(let response): return response
        case .page(let p): page = p
        }
        do {
            return try await withDeadline(seconds: deadline) { try await body(page) }
        } catch let error as TallyError {
            switch error {
            case .unavailable(let detail):
                logger.warning("page query failed", metadata: ["page": "\(request.uri.path)", "error": "\(detail)"])
                return .html(
                    failure(
                        page, title: title,
                        "The figures could not be loaded: the database is slow or unreachable. Try again in a moment."),
                    status: .serviceUnavailable)
            case .notFound(let what):
                return .html(
                    failure(page, title: "Not found", "\(what) was not found in this organization."), status: .notFound)
            case .tooManyGroups(let limit):
                return .html(
                    failure(
                        page, title: title,
                        "This breakdown has more than \(limit) groups. Group by fewer dimensions, "
                            + "add a filter or choose a shorter range."), status: .badRequest)
            case .totalTooLarge(let problems):
                return .html(
                    failure(
                        page, title: title,
                        "A total (\(problems.first?.field ?? "cost")) is larger than Tally can count "
                            + "exactly. Choose a shorter range."), status: .unprocessableContent)
            default: throw error
            }
        } catch let error as APIError {
            throw error
        } catch {
            logger.error("page failed", metadata: ["page": "\(request.uri.path)", "error": "\(error)"])
            return .html(
                failure(
                    page, title: title, "Something went wrong while building this page. It has been logged; try again."),
                status: .internalServerError)
        }
    }

    func failure(_ page: SignedInPage, title: String, _ message: String) -> String {
        AccountPages.failure(page.header, title: title, message)
    }

    static func query(_ request: Request) -> [String: String] {
        var values: [String: String] = [:]
        for (k, v) in request.uri.queryParameters { values[String(k)] = String(v) }
        return values
    }

    // MARK: Overview

    @Sendable func overview(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let days = Self.query(request)["days"] == "7" ? 7 : 30
        let line = Self.query(request)["chart"] == "line"
        return try await respond(request, .overview, title: "Overview") { page in
            var model = try await OverviewPage.load(
                store: store, organization: page.organization, zone: page.zone, now: .now,
                days: days, projectScope: page.principal.projectScope,
                anomalies: ForecastService(store: store, pricer: pricer))
            model.budgetsAbove80 = try await BudgetsPage.rows(budgets: budgetService(), page: page, now: model.now)
                .filter { $0.budget.enabled && $0.isAbove(percent: 80) }
            if line { model.daily.style = .line }
            return .html(OverviewPage.render(page, model))
        }
    }

    // MARK: Usage

    @Sendable func usage(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let state = UsageExplorer.State(query: Self.query(request))
        return try await respond(request, .usage, title: "Usage") { page in
            let model = try await UsageExplorer.load(
                store: store, page: page, state: state, now: .now,
                anomalies: ForecastService(store: store, pricer: pricer))
            return .html(UsageExplorer.render(page, model), status: state.problems.isEmpty ? .ok : .badRequest)
        }
    }

    @Sendable func usageExport(_ request: Request, context: TallyRequestContext) async throws -> Response {
        var query = Self.query(request)
        let format = query.removeValue(forKey: "format") ?? "csv"
        guard format == "csv" || format == "json" else { throw APIError.badParameter("format", "must be csv or json") }
        let state = UsageExplorer.State(query: query)
        if let problem = state.problems.first { throw APIError.badParameter(problem.field, problem.reason) }
        return try await respond(request, .usage, title: "Usage") { page in
            let model = try await UsageExplorer.load(store: store, page: page, state: state, now: .now)
            let name =
                "tally-usage-\(page.zone.localDate(of: model.range.from))-\(page.zone.localDate(of: model.range.to)).\(format)"
            let text = format == "csv" ? UsageExplorer.csv(model) : UsageExplorer.json(model, zone: page.zone)
            return Response(
                status: .ok,
                headers: [
                    .contentType: format == "csv" ? "text/csv; charset=utf-8" : "application/json; charset=utf-8",
                    .contentDisposition: "attachment; filename=\"\(name)\"",
                ], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    // MARK: Events

    @Sendable func events(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let query = Self.query(request)
        let state = UsageExplorer.State(query: query, defaultPreset: .all)
        let after = query["after"].flatMap(EventCursor.init(token:))
        return try await respond(request, .events, title: "Events") { page in
            let model = try await EventsPage.load(store: store, page: page, state: state, after: after, now: .now)
            return .html(EventsPage.render(page, model), status: state.problems.isEmpty ? .ok : .badRequest)
        }
    }

    @Sendable func event(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let raw = try context.parameters.require("id")
        let id = raw.removingPercentEncoding ?? raw
        return try await respond(request, .events, title: "Event") { page in
            .html(
                EventsPage.renderDetail(
                    page,
                    try await EventsPage.loadDetail(store: store, pricer: pricer, vault: vault, page: page, id: id)))
        }
    }

    /// Server-sent events: each event stored after the page opened, as its table row. Polls the store once a
    /// second (so rows from every replica arrive), re-reading a window to catch commits that land out of order.
    /// A stream lasts `liveStreamSeconds` (two minutes); the browser reconnects by itself.
    /// At most `liveStreams.perSession` streams per session (one more answers 429); each poll re-reads the session, so
    /// a stream ends within a poll of signing out, the session expiring, or the membership ending.
    @Sendable func live(_ request: Request, context: TallyRequestContext) async throws -> Response {
        guard case .page(let page) = try await gate.open(request, section: .events),
            case .user(_, _, let session) = page.principal.kind
        else { throw TallyError.unauthenticated }
        guard let slot = liveStreams.claim(session: session.id) else {
            throw APIError(
                .tooManyRequests, "too_many_streams",
                "this session has \(liveStreams.perSession) live event streams open already; close one (a tab) first")
        }
        let stillSignedIn = Self.sessionCheck(store: store, session: session, policy: sessionPolicy)
        let state = UsageExplorer.State(query: Self.query(request), defaultPreset: .all)
        let filters = state.storeFilters(
            projects: try await store.projects(organizationID: page.organization.id),
            teams: try await store.teams(organizationID: page.organization.id))
        let start = try await store.latestSequence()
        let flags = state.flag.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
        let store = self.store
        let duration = Duration.seconds(liveStreamSeconds)
        let body = ResponseBody { writer in
            defer { withExtendedLifetime(slot) {} }
            var high = start
            var seen = Set<Int64>()
            let began = ContinuousClock.now
            var lastWrite = began
            try await writer.write(ByteBuffer(string: "retry: 3000\n\n"))
            while ContinuousClock.now - began < duration, !Task.isCancelled, !Task.isShuttingDownGracefully {
                guard try await stillSignedIn() else { break }
                let low = max(start, high - 256)
                let rows = try await store.eventsStored(
                    after: low, organizationID: page.organization.id, filters: filters, limit: 500)
                let range = state.range(now: .now, zone: page.zone)
                var chunk = ""
                for row in rows where !seen.contains(row.sequence) {
                    seen.insert(row.sequence)
                    high = max(high, row.sequence)
                    let t = row.stored.event.timestamp
                    if let from = range.from, t < from { continue }
                    if let to = range.to, t >= to { continue }
                    let o = row.stored.event.outcome
                    if !flags.isEmpty,
                        !flags.contains(where: { o.safetyFlags.contains($0) || o.qualityFlags.contains($0) })
                    {
                        continue
                    }
                    chunk +=
                        "event: usage\ndata: " + EventsPage.rowHTML(row.stored, zone: page.zone, sequence: row.sequence)
                        + "\n\n"
                }
                seen = seen.filter { $0 > low }
                if chunk.isEmpty && ContinuousClock.now - lastWrite > .seconds(15) { chunk = ": keep-alive\n\n" }
                if !chunk.isEmpty {
                    try await writer.write(ByteBuffer(string: chunk))
                    lastWrite = .now
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// Whether `session` still stands, read from the store without touching it (an open stream is not activity).
    static func sessionCheck(store: Store, session: Session, policy: SessionPolicy) -> @Sendable () async throws -> Bool
    {
        { [sessionID = session.id, organizationID = session.organizationID] in
            guard let current = try await store.session(id: sessionID), !current.isExpired(at: .now, policy: policy),
                current.organizationID == organizationID
            else { return false }
            return try await store.memberships(userID: current.userID)
                .contains { $0.organization.id == organizationID && $0.role.allows(.readUsage) }
        }
    }

    // MARK: Reconciliation

    @Sendable func reconciliation(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let query = Self.query(request)
        return try await respond(request, .reconciliation, title: "Reconciliation") { page in
            let model = try await ReconciliationPage.load(
                ledger: LedgerService(store: store, pricer: pricer), store: store,
                organizationID: page.organization.id,
                query: ReconciliationPage.Query(query: query, now: .now))
            return .html(ReconciliationPage.render(page, model))
        }
    }

    // MARK: Alerts

    @Sendable func alerts(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let filter = AlertsPage.Filter(query: Self.query(request))
        return try await respond(request, .alerts, title: "Alerts") { page in
            let model = try await AlertsPage.load(store: store, organizationID: page.organization.id, filter: filter)
            return .html(AlertsPage.render(page, model))
        }
    }

    // MARK: Budgets

    func budgetService() -> BudgetService<Store> {
        BudgetService(store: store, ledger: LedgerService(store: store, pricer: pricer))
    }

    @Sendable func budgets(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await respond(request, .budgets, title: "Budgets") { page in
            .html(
                BudgetsPage.render(
                    page,
                    try await BudgetsPage.load(
                        budgets: budgetService(), page: page, now: .now, guardCounters: guardCounters)))
        }
    }

    // MARK: Forecast

    @Sendable func forecast(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let query = ForecastPage.Query(query: Self.query(request))
        return try await respond(request, .forecast, title: "Forecast") { page in
            let model = try await ForecastPage.load(
                forecasts: forecasts, store: store, page: page, query: query, now: .now)
            return .html(ForecastPage.render(page, model), status: query.problems.isEmpty ? .ok : .badRequest)
        }
    }

    // MARK: Insights

    @Sendable func insights(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let status = InsightsPage.status(query: Self.query(request))
        return try await respond(request, .insights, title: "Insights") { page in
            .html(
                InsightsPage.render(
                    page,
                    try await InsightsPage.load(store: store, organizationID: page.organization.id, status: status)))
        }
    }

    // MARK: Statements

    @Sendable func statements(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let query = StatementsPage.Query(query: Self.query(request))
        return try await respond(request, .statements, title: "Statements") { page in
            let service = StatementService(store: store, budgets: budgetService())
            let model = try await StatementsPage.load(statements: service, page: page, query: query)
            return .html(StatementsPage.render(page, model), status: model.problem == nil ? .ok : .badRequest)
        }
    }

    @Sendable func performance(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let query = PerformancePage.Query(query: Self.query(request))
        return try await respond(request, .performance, title: "Performance") { page in
            .html(
                PerformancePage.render(
                    page, try await PerformancePage.load(store: store, page: page, query: query, now: .now)))
        }
    }

    @Sendable func playground(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await respond(request, .playground, title: "Playground") { page in
            .html(
                PlaygroundPage.render(
                    page, try await PlaygroundPage.load(store: store, pricer: pricer, page: page, now: .now)))
        }
    }

    // MARK: Settings

    /// `/settings` opens the first tab the role may see.
    @Sendable func settingsHome(_ request: Request, context: TallyRequestContext) async throws -> Response {
        switch try await gate.open(request, section: .settings) {
        case .redirect(let response): return response
        case .page(let page): return .seeOther(page.header.settingsPath)
        }
    }

    /// Each tab requires what its API requires (`SettingsPages.Tab.permission`); a role without it gets a 403 page.
    @Sendable func settings(_ request: Request, context: TallyRequestContext) async throws -> Response {
        guard let tab = SettingsPages.Tab(rawValue: try context.parameters.require("tab")) else {
            throw TallyError.notFound("page")
        }
        return try await respond(request, .settings, title: tab.title) { page in
            guard page.allows(tab.permission) else {
                return .html(
                    failure(
                        page, title: tab.title,
                        "Only \(tab.permission.minimumRole.rawValue)s and above can see this page."),
                    status: .forbidden)
            }
            if tab == .policies {
                let model =
                    if let policies {
                        try await SettingsPages.PoliciesTab.load(
                            policies: policies, store: store, page: page, now: .now)
                    } else {
                        SettingsPages.PoliciesTab.Model(rows: [], hits: [], canEdit: page.allows(.manageAlerts))
                    }
                return .html(SettingsPages.PoliciesTab.render(page, model))
            }
            return .html(
                try await SettingsPages.render(
                    tab, page: page, store: store, pricer: pricer, vaultReady: vaultReady, now: .now))
        }
    }
}

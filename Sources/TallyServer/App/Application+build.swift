import AsyncHTTPClient
import Hummingbird
import HummingbirdWebSocket
import Logging
import Prometheus
import ServiceLifecycle
import TallyCore
import TallyGateway
import TallyHTTP
import TallyIngest
import TallyMail
import TallyPrice
import TallyServices
import TallyWeb

/// What the composition root needs besides the store: the settings, and the parts `tally serve` builds from them
/// (tests substitute these).
public struct ServerOptions: Sendable {
    /// Every setting, as parsed once by `AppConfig.load` (tests change a few through the properties below).
    public var config: AppConfig
    public var pricer = CatalogPricer()
    /// Commits in flight at once in the group committer (SQLite 2, PostgreSQL 4 in `tally serve`).
    public var maxCommitsInFlight = 1
    /// nil: no master key configured; provider connections are refused with a clear message.
    public var vault: Vault?
    public var mailer: (any Mailer)?
    public var passwords: Passwords
    /// Runs the provider sync in the background (off in tests that drive it themselves).
    public var syncInBackground = true
    /// How the sync reaches providers; nil: over the network under the upstream policy (tests substitute one).
    public var reportTransport: (any ReportTransport)?
    /// Decides before the gateway forwards a call and settles it after; nil: the `GuardService` (policies, enforced
    /// budgets, rate limits). Tests substitute one.
    public var gatewayGuard: (any GatewayGuard)? = nil
    /// Where the guard's counters live: false (SQLite, one server) in memory (`LocalGuardCounters`), true
    /// (PostgreSQL, several replicas) in the store, so every replica reserves from the same ones.
    public var guardCountersInStore = false
    /// How long the gateway remembers a token or a connection (other replicas see a revocation within this).
    public var gatewayCredentialSeconds = 5
    /// How long one live-events stream (server-sent events) stays open before the browser reconnects.
    public var liveStreamSeconds = 120
    /// Live-events streams one session may hold open at once (on one replica); one more answers 429.
    public var liveStreamsPerSession = 4

    public init(config: AppConfig = AppConfig(), passwords: Passwords = Passwords()) {
        self.config = config
        self.passwords = passwords
    }

    /// Base of links in mails (TALLY_PUBLIC_URL); also makes cookies `Secure` when it is https.
    public var publicURL: String? {
        get { config.publicURL }
        set { config.publicURL = newValue }
    }
    /// When set (TALLY_METRICS_TOKEN), `GET /metrics` needs `Authorization: Bearer <token>`.
    public var metricsToken: String? {
        get { config.metricsToken }
        set { config.metricsToken = newValue }
    }
    /// Reverse proxies whose X-Forwarded-For names the client, for the sign-in throttle and the audit log.
    public var trustedProxies: TrustedProxies {
        get { config.trustedProxies }
        set { config.trustedProxies = newValue }
    }
    /// The most bytes of JSON bodies the gateway holds whole across all calls in flight (TALLY_GATEWAY_BUFFER_MB).
    public var gatewayBufferLimit: Int {
        get { config.gatewayBufferLimit }
        set { config.gatewayBufferLimit = newValue }
    }
}

/// The server's parts, each built once over one store: the routes and the background services share them.
package struct Dependencies<Store: TallyStore>: Sendable {
    package let store: Store
    package let options: ServerOptions
    let logger: Logger
    /// Base of links in mails and pages: TALLY_PUBLIC_URL, or the address the server listens on.
    let publicURL: String
    /// Controllers tell it what they changed; the gateway's credentials and the sync listen.
    package let changes = ChangeNotifier()
    /// Validation and the sync share one client; redirects off, addresses checked.
    let upstreamHTTP: UpstreamHTTP
    let gatewayHTTP: GatewayHTTP
    /// Whether the two clients above are this value's own, shut down with `services`, or the process's lasting ones.
    let ownsClients: Bool
    let auth: Authenticator<Store>
    package let accounts: AccountService<Store>
    /// Sign-in by OIDC, Google or GitHub (issue 23); no buttons when none is configured.
    package let singleSignOn: SingleSignOn<Store>
    let connections: ConnectionService<Store>
    package let prices: PriceService<Store>
    /// Newer revisions of the price catalog: previews, applying, switching to the newest stored one.
    package let catalog: CatalogService<Store>
    /// How the last read of TALLY_PRICES_URL went (shown on /readyz); nil when it is not set.
    let catalogURLStatus: CatalogURLStatus?
    let ledger: LedgerService<Store>
    package let syncRunner: SyncRunner<Store>
    let sync: SyncService<Store>
    /// Whether `services` runs the sync (TALLY_SYNC_INTERVAL not off, and not a test driving it itself).
    let syncInBackground: Bool
    /// One pipeline, one committer: the API's requests and the gateway's recorder write through the same one.
    let pipeline: IngestPipeline<Store>
    let recorder: GatewayRecorder<Store>
    let credentials: GatewayCredentials<Store>
    /// The alert rules (issue 17): evaluated by `AlertEvaluator` every TALLY_ALERT_INTERVAL and by
    /// `POST /api/v1/alerts/check`.
    package let alertEngine: AlertEngine<Store>
    let alertService: AlertService<Store>
    /// Alert channels, and the deliverer of alerts (the outbox's only consumer; `wake()` after recording an alert).
    let alertChannels: AlertChannelService<Store>
    package let deliverer: AlertDeliverer<Store>
    /// Budgets and their live status (issue 17); the alert engine asks it for budget figures.
    package let budgets: BudgetService<Store>
    /// Forecasts and anomalies over the rollups' daily series (issue 18).
    package let forecasts: ForecastService<Store>
    /// Insights (issue 18): computed daily by `InsightEvaluator`, which also sends the weekly digests.
    package let insights: InsightService<Store>
    let weeklyDigest: WeeklyDigest<Store>
    /// Guardrails (issue 19): the counters reservations are made on, the guard the gateway asks, policies' CRUD.
    let guardCounters: any GuardCounterStore
    package let guardService: GuardService<Store>
    let policies: PolicyService<Store, Store>
    /// Finance reports (issue 20): teams, statements and closed months, the FOCUS export.
    let teams: TeamService<Store>
    package let statements: StatementService<Store>
    let focus: FocusExport<Store>
    package let statementMailer: StatementMailer<Store>
    /// Content capture and safety filters (issue 21): the gateway's per-organization view, and the filters' CRUD.
    let contentRules: GatewayContentRules<Store>
    let safetyFilters: SafetyFilterService<Store>
    /// The live API's sockets (issue 22): how many each session or token holds open on this replica, and in all.
    let liveSockets: LiveStreams
    let liveTotals = LiveTotals()
    /// TALLY_API_RATE_LIMIT's one limiter: the `/api/v1` and `/v1` groups and the live API's handshakes count on it.
    let apiRateLimit: APIRateLimitMiddleware?

    /// `ownClients`: new HTTP clients, shut down by `services` (an application); otherwise the ones living as long as
    /// the process (the CLI, routers built without an application). `publicURL` nil: TALLY_PUBLIC_URL, else the
    /// configured address.
    package init(
        store: Store, options: ServerOptions, logger: Logger, publicURL: String? = nil, ownClients: Bool = false
    ) {
        let config = options.config
        self.store = store
        self.options = options
        self.logger = logger
        self.publicURL = publicURL ?? options.publicURL ?? "http://\(config.host):\(config.port)"
        ownsClients = ownClients
        if ownClients {
            upstreamHTTP = UpstreamHTTP(policy: config.upstreamPolicy)
            gatewayHTTP = GatewayHTTP(timeouts: config.gatewayTimeouts, policy: config.upstreamPolicy)
        } else {
            upstreamHTTP = .lasting(config.upstreamPolicy)
            gatewayHTTP = config.upstreamPolicy == UpstreamAddressPolicy() ? .shared : .lasting(config.upstreamPolicy)
        }
        auth = Authenticator(store: store, policy: config.sessionPolicy)
        accounts = AccountService(
            store: store, passwords: options.passwords, policy: config.sessionPolicy,
            mailer: options.mailer, publicURL: self.publicURL, logger: logger, vault: options.vault,
            signUp: config.signIn.signUp)
        singleSignOn = SingleSignOn(accounts: accounts, providers: config.signIn.providers(publicURL: self.publicURL))
        connections = ConnectionService(
            store: store, vault: options.vault, validator: ProviderValidator(http: upstreamHTTP))
        prices = PriceService(store: store, pricer: options.pricer)
        catalog = CatalogService(store: store, pricer: options.pricer, logger: logger)
        catalogURLStatus = config.pricesURL == nil ? nil : CatalogURLStatus()
        ledger = LedgerService(store: store, pricer: options.pricer)
        syncRunner = SyncRunner(
            store: store, connections: connections, vault: options.vault, pricer: options.pricer,
            transport: options.reportTransport ?? LiveReportTransport(http: upstreamHTTP), logger: logger)
        sync = SyncService(store: store, runner: syncRunner, schedule: config.syncSchedule, logger: logger)
        syncInBackground = options.syncInBackground && config.syncSchedule.enabled
        pipeline = IngestPipeline(store: store, pricer: options.pricer, maxCommitsInFlight: options.maxCommitsInFlight)
        recorder = GatewayRecorder(pipeline: pipeline, logger: logger)
        credentials = GatewayCredentials(
            auth: auth, store: store, connections: connections, vault: options.vault,
            ttl: .seconds(options.gatewayCredentialSeconds))
        budgets = BudgetService(store: store, ledger: ledger)
        forecasts = ForecastService(store: store, pricer: options.pricer)
        insights = InsightService(store: store, pricer: options.pricer)
        weeklyDigest = WeeklyDigest(
            store: store, forecasts: forecasts, mailer: options.mailer, publicURL: self.publicURL, logger: logger)
        changes.subscribe { [credentials] _ in credentials.forgetAll() }
        alertChannels = AlertChannelService(store: store, vault: options.vault, http: upstreamHTTP)
        deliverer = AlertDeliverer(
            store: store, sender: AlertSender(http: upstreamHTTP, mailer: options.mailer), vault: options.vault,
            publicURL: self.publicURL, retry: config.alertRetry,
            pollInterval: .seconds(min(5, config.alertRetry.baseSeconds)), logger: logger)
        alertEngine = AlertEngine(
            store: store, budgets: budgets, wakeDelivery: { [deliverer] in deliverer.wake() }, logger: logger,
            forecasts: forecasts)
        alertService = AlertService(store: store)
        guardCounters = options.guardCountersInStore ? store : LocalGuardCounters()
        guardService = GuardService(
            store: store, counters: guardCounters, pricer: options.pricer,
            reservationTTL: .seconds(config.gatewayReservationTTLSeconds), logger: logger)
        policies = PolicyService(
            policies: store, store: store, changed: { [guardService] in guardService.invalidate(organizationID: $0) })
        teams = TeamService(store: store)
        statements = StatementService(store: store, budgets: budgets)
        focus = FocusExport(store: store, pricer: options.pricer)
        statementMailer = StatementMailer(
            statements: statements, mailer: options.mailer, publicURL: self.publicURL, logger: logger)
        contentRules = GatewayContentRules(
            store: store, vault: options.vault, captureLimit: config.contentMaxBytes)
        safetyFilters = SafetyFilterService(
            store: store, changed: { [contentRules] in contentRules.invalidate(organizationID: $0) })
        changes.subscribe { [contentRules] change in if change == .projects { contentRules.forgetAll() } }
        liveSockets = LiveStreams(perSession: options.liveStreamsPerSession, total: 256)
        apiRateLimit = config.apiRateLimit.map {
            APIRateLimitMiddleware(rate: $0, trustedProxies: config.trustedProxies)
        }
        if syncInBackground {
            changes.subscribe { [sync] change in
                if change == .connectionSaved { sync.wake() }
            }
        }
    }

    /// `GET /api/v1/live`: its WebSocket route and its plain HTTP answer share the count of open sockets.
    var live: LiveController<Store> {
        LiveController(
            store: store, auth: auth, sockets: liveSockets, publicURL: options.publicURL, rateLimit: apiRateLimit,
            totals: liveTotals)
    }

    /// What runs beside the HTTP server, in start order; shut down in reverse, after the server has drained its
    /// requests, so the recorder still stores their events.
    var services: [any Service] {
        var services: [any Service] = ownsClients ? [gatewayHTTP, upstreamHTTP] : []
        services.append(recorder)
        services.append(
            PriceRefresher(
                prices: prices, catalog: catalog, interval: .seconds(options.config.pricesRefreshSeconds),
                logger: logger))
        if let url = options.config.pricesURL, let catalogURLStatus {
            services.append(CatalogURLRefresher(catalog: catalog, url: url, status: catalogURLStatus, logger: logger))
        }
        services.append(
            Janitor(
                store: store, policy: options.config.sessionPolicy,
                auditRetentionDays: options.config.auditRetentionDays,
                logger: logger))
        if !options.config.retention.keepsEverything {
            services.append(
                RetentionService(
                    retention: Retention(store: store, policy: options.config.retention), logger: logger))
        }
        services.append(EventPartitioningService(store: store, logger: logger))
        if syncInBackground { services.append(sync) }
        if let seconds = options.config.alertIntervalSeconds {
            services.append(AlertEvaluator(engine: alertEngine, interval: .seconds(seconds), logger: logger))
        }
        if let seconds = options.config.insightIntervalSeconds {
            var evaluator = InsightEvaluator(
                insights: insights, digest: weeklyDigest, interval: .seconds(seconds), logger: logger)
            evaluator.statements = { [statementMailer] in try await statementMailer.sendDue(at: $0) }
            services.append(evaluator)
        }
        services.append(deliverer)
        services.append(
            GuardMaintenance(service: guardService, wakeDelivery: { [deliverer] in deliverer.wake() }, logger: logger))
        return services
    }
}

/// The composition root: one store, the services over it, the controllers, the middleware. `config` gives the address
/// to listen on; every other setting comes from `options`.
public func buildApplication<Store: TallyStore>(
    store: Store,
    config: AppConfig,
    logger: Logger,
    registry: PrometheusCollectorRegistry? = nil,
    options: ServerOptions = ServerOptions()
) -> some ApplicationProtocol {
    let dependencies = Dependencies(
        store: store, options: options, logger: logger,
        publicURL: options.publicURL ?? "http://\(config.host):\(config.port)", ownClients: true)
    return buildApplication(dependencies, host: config.host, port: config.port, registry: registry)
}

func buildApplication<Store: TallyStore>(
    _ dependencies: Dependencies<Store>, host: String, port: Int, registry: PrometheusCollectorRegistry?
) -> some ApplicationProtocol {
    // The live API's WebSocket upgrades go to their own router; every other request (and a refused upgrade) to the
    // main one.
    let webSocketRouter = Router(context: LiveSocketContext.self)
    dependencies.live.addWebSocketRoutes(to: webSocketRouter)
    return Application(
        router: buildRouter(dependencies, registry: registry),
        server: .http1WebSocketUpgrade(webSocketRouter: webSocketRouter),
        configuration: .init(address: .hostname(host, port: port), serverName: "tally"),
        services: dependencies.services,
        logger: dependencies.logger
    )
}

/// The routes alone (tests), over dependencies of their own whose HTTP clients live as long as the process.
public func buildRouter<Store: TallyStore>(
    store: Store,
    logger: Logger,
    registry: PrometheusCollectorRegistry? = nil,
    options: ServerOptions = ServerOptions()
) -> Router<TallyRequestContext> {
    buildRouter(Dependencies(store: store, options: options, logger: logger), registry: registry)
}

func buildRouter<Store: TallyStore>(_ d: Dependencies<Store>, registry: PrometheusCollectorRegistry?) -> Router<
    TallyRequestContext
> {
    let (store, options, config) = (d.store, d.options, d.options.config)
    let router = Router(context: TallyRequestContext.self)
    // Outermost, so errors (answered here) get the headers too while the metrics still see them thrown.
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: MetricsMiddleware())
    // Not Hummingbird's LogRequestsMiddleware: it logs the whole URI, with invite secrets and `?key=` tokens in it.
    router.add(middleware: RequestLogMiddleware(level: .debug))
    router.add(middleware: APIErrorMiddleware())
    OperationsController(
        store: store, registry: registry, metricsToken: config.metricsToken, pricer: options.pricer,
        catalogURLStatus: d.catalogURLStatus
    ).addRoutes(to: router)
    let web = WebController(
        store: store, auth: d.auth, accounts: d.accounts, publicURL: config.publicURL,
        defaultTimeZone: config.timeZone.identifier, trustedProxies: config.trustedProxies,
        signInOptions: AccountPages.SignInOptions(
            sso: d.singleSignOn.buttons, canSignUp: config.signIn.signUp.passwords == .open))
    web.addRoutes(to: router)
    let gate = PageGate(store: store, auth: d.auth, accounts: d.accounts, publicURL: d.publicURL)
    SignInController(web: web, sso: d.singleSignOn).addRoutes(to: router)
    AccountPageController(web: web, gate: gate, sso: d.singleSignOn).addRoutes(to: router)
    Assets.addRoutes(to: router)
    DashboardController(
        store: store, gate: gate,
        pricer: options.pricer, vaultReady: options.vault != nil, logger: d.logger,
        liveStreamSeconds: options.liveStreamSeconds,
        liveStreams: LiveStreams(perSession: options.liveStreamsPerSession),
        sessionPolicy: config.sessionPolicy, forecasts: d.forecasts, policies: store, guardCounters: d.guardCounters,
        vault: options.vault
    ).addRoutes(to: router)
    let gateway = GatewayController(
        credentials: d.credentials, recorder: d.recorder, http: d.gatewayHTTP,
        gatewayGuard: options.gatewayGuard ?? d.guardService, buffers: GatewayBuffers(limit: config.gatewayBufferLimit),
        content: d.contentRules, logger: d.logger)
    gateway.addRoutes(to: router)
    PlaygroundController(store: store, auth: d.auth, gateway: gateway, pricer: options.pricer).addRoutes(to: router)
    let api = router.group("api/v1")
    // OTLP exporters post to `<endpoint>/v1/traces`, at the root.
    let otlp = router.group("v1")
    // First on each group: a refused request costs no store read. One limiter, so both count against one budget.
    if let limit = d.apiRateLimit {
        api.add(middleware: limit)
        otlp.add(middleware: limit)
    }
    IngestController(auth: d.auth, pipeline: d.pipeline).addRoutes(to: api)
    OTLPController(auth: d.auth, pipeline: d.pipeline).addRoutes(to: otlp)
    EventsController(store: store, auth: d.auth, pricer: options.pricer, vault: options.vault).addRoutes(to: api)
    PricesController(store: store, auth: d.auth, prices: d.prices).addRoutes(to: api)
    CatalogController(auth: d.auth, catalog: d.catalog).addRoutes(to: api)
    SummaryController(store: store, auth: d.auth, ledger: d.ledger).addRoutes(to: api)
    ReconciliationController(store: store, auth: d.auth, ledger: d.ledger).addRoutes(to: api)
    AccountsController(store: store, auth: d.auth, accounts: d.accounts, changes: d.changes).addRoutes(to: api)
    SignInAPIController(auth: d.auth, accounts: d.accounts, sso: d.singleSignOn).addRoutes(to: api)
    ProjectsController(
        store: store, auth: d.auth, changes: d.changes, requireVerifiedEmail: d.accounts.requireVerifiedEmail
    ).addRoutes(to: api)
    SafetyFiltersController(auth: d.auth, filters: d.safetyFilters).addRoutes(to: api)
    FlagsController(store: store, auth: d.auth).addRoutes(to: api)
    ConnectionsController(
        auth: d.auth, connections: d.connections, changes: d.changes,
        requireVerifiedEmail: d.accounts.requireVerifiedEmail
    ).addRoutes(to: api)
    SyncController(store: store, auth: d.auth, runner: d.syncRunner).addRoutes(to: api)
    AlertsController(store: store, auth: d.auth, engine: d.alertEngine, alerts: d.alertService).addRoutes(to: api)
    AlertChannelsController(
        auth: d.auth, channels: d.alertChannels, deliverer: d.deliverer, statementMailer: d.statementMailer
    ).addRoutes(to: api)
    BudgetsController(
        auth: d.auth, budgets: d.budgets, guardCounters: d.guardCounters,
        changed: { [guardService = d.guardService] in guardService.invalidate(organizationID: $0) }
    ).addRoutes(to: api)
    PoliciesController(auth: d.auth, policies: d.policies).addRoutes(to: api)
    TeamsController(store: store, auth: d.auth, teams: d.teams).addRoutes(to: api)
    StatementsController(auth: d.auth, statements: d.statements).addRoutes(to: api)
    FocusExportController(store: store, auth: d.auth, focus: d.focus).addRoutes(to: api)
    PerformanceController(store: store, auth: d.auth).addRoutes(to: api)
    ForecastController(store: store, auth: d.auth, forecasts: d.forecasts).addRoutes(to: api)
    InsightsController(store: store, auth: d.auth, insights: d.insights).addRoutes(to: api)
    d.live.addRoutes(to: api)
    return router
}

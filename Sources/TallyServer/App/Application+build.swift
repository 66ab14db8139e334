import AsyncHTTPClient
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import TallyCore
import TallyIngest
import TallyMail
import TallyPrice
import TallyHTTP
import TallyServices
import TallyGateway
import TallyWeb

/// What the composition root needs besides the store: shared services and the settings they read.
public struct ServerOptions: Sendable {
    public var pricer = CatalogPricer()
    /// Commits in flight at once in the group committer (SQLite 2, PostgreSQL 4 in `tally serve`).
    public var maxCommitsInFlight = 1
    /// nil: no master key configured; provider connections are refused with a clear message.
    public var vault: Vault?
    public var mailer: (any Mailer)?
    public var passwords: Passwords
    public var sessionPolicy = SessionPolicy()
    /// Base of links in mails (TALLY_PUBLIC_URL); also makes cookies `Secure` when it is https.
    public var publicURL: String?
    public var defaultTimeZone = "UTC"
    /// Which private addresses provider calls may reach (TALLY_ALLOW_PRIVATE_UPSTREAMS); by default none.
    public var upstreamPolicy = UpstreamAddressPolicy()
    public var auditRetentionDays = 365
    /// The provider sync's interval, re-read window and first backfill.
    public var syncSchedule = SyncSchedule()
    /// Runs the provider sync in the background (off in tests that drive it themselves).
    public var syncInBackground = true
    /// How the sync reaches providers; nil: over the network under `upstreamPolicy` (tests substitute one).
    public var reportTransport: (any ReportTransport)?
    /// Decides before the gateway forwards a call (budgets, allow-lists and rate limits will live here).
    public var gatewayPolicy: any GatewayPolicy = AllowAll()
    /// How long the gateway waits on an upstream.
    public var gatewayTimeouts = GatewayTimeouts()
    /// How long the gateway remembers a token or a connection (other replicas see a revocation within this).
    public var gatewayCredentialSeconds = 5
    /// The most bytes of JSON bodies the gateway holds whole across all calls in flight (TALLY_GATEWAY_BUFFER_MB).
    public var gatewayBufferLimit = GatewayBuffers.defaultLimit
    /// How long one live-events stream (server-sent events) stays open before the browser reconnects.
    public var liveStreamSeconds = 120
    /// Live-events streams one session may hold open at once (on one replica); one more answers 429.
    public var liveStreamsPerSession = 4
    /// When set (TALLY_METRICS_TOKEN), `GET /metrics` needs `Authorization: Bearer <token>`.
    public var metricsToken: String?
    /// Reverse proxies whose X-Forwarded-For names the client, for the sign-in throttle and the audit log.
    public var trustedProxies = TrustedProxies.none

    public init(passwords: Passwords = Passwords()) { self.passwords = passwords }
}

/// The composition root: one store, the services over it, the controllers, the middleware.
public func buildApplication<Store: TallyStore>(
    store: Store,
    config: TallyConfig,
    logger: Logger,
    registry: PrometheusCollectorRegistry? = nil,
    options: ServerOptions = ServerOptions()
) -> some ApplicationProtocol {
    // Validation and the sync share one client; redirects off, addresses checked, shut down with the app.
    let upstreamHTTP = UpstreamHTTP(policy: options.upstreamPolicy)
    let sync = SyncService(store: store, runner: makeSyncRunner(store: store, options: options, logger: logger, http: upstreamHTTP),
                           schedule: options.syncSchedule, logger: logger)
    // One pipeline, one committer: the API's requests and the gateway's recorder write through the same one.
    let pipeline = IngestPipeline(store: store, pricer: options.pricer, maxCommitsInFlight: options.maxCommitsInFlight)
    let recorder = GatewayRecorder(pipeline: pipeline, logger: logger)
    let gatewayHTTP = GatewayHTTP(timeouts: options.gatewayTimeouts, policy: options.upstreamPolicy)
    let wakeSync: @Sendable () -> Void = { sync.wake() }
    let background = options.syncInBackground && options.syncSchedule.enabled
    let wake = background ? wakeSync : nil
    let router = buildRouter(store: store, logger: logger, registry: registry, options: options,
                             publicURL: options.publicURL ?? "http://\(config.host):\(config.port)", connectionsChanged: wake,
                             gatewayRecorder: recorder, gatewayHTTP: gatewayHTTP, upstreamHTTP: upstreamHTTP)
    let refresher = PriceRefresher(prices: PriceService(store: store, pricer: options.pricer), interval: .seconds(15), logger: logger)
    let janitor = Janitor(store: store, policy: options.sessionPolicy, auditRetentionDays: options.auditRetentionDays, logger: logger)
    // Shut down in reverse order: the server drains its requests first, then the recorder stores their events.
    var services: [any Service] = [gatewayHTTP, upstreamHTTP, recorder, refresher, janitor]
    if background { services.append(sync) }
    return Application(
        router: router,
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "tally"),
        services: services,
        logger: logger
    )
}

/// The provider sync, as the server, the API and the CLI run it. `http` (default: one living as long as the process)
/// carries the calls under `options.upstreamPolicy`.
public func makeSyncRunner<Store: TallyStore>(store: Store, options: ServerOptions, logger: Logger, http: UpstreamHTTP? = nil) -> SyncRunner<Store> {
    let http = http ?? .lasting(options.upstreamPolicy)
    return SyncRunner(store: store, connections: ConnectionService(store: store, vault: options.vault, validator: ProviderValidator(http: http)),
                      vault: options.vault, pricer: options.pricer, transport: options.reportTransport ?? LiveReportTransport(http: http),
                      logger: logger)
}

public func buildRouter<Store: TallyStore>(
    store: Store,
    logger: Logger,
    registry: PrometheusCollectorRegistry? = nil,
    options: ServerOptions = ServerOptions(),
    publicURL: String = "http://127.0.0.1:8080",
    connectionsChanged: (@Sendable () -> Void)? = nil,
    gatewayRecorder: GatewayRecorder<Store>? = nil,
    gatewayHTTP: GatewayHTTP? = nil,
    upstreamHTTP: UpstreamHTTP? = nil
) -> Router<TallyRequestContext> {
    let upstreamHTTP = upstreamHTTP ?? .lasting(options.upstreamPolicy)
    let gatewayHTTP = gatewayHTTP ?? (options.upstreamPolicy == UpstreamAddressPolicy() ? .shared : .lasting(options.upstreamPolicy))
    let validator = ProviderValidator(http: upstreamHTTP)
    let router = Router(context: TallyRequestContext.self)
    // Outermost, so errors (answered here) get the headers too while the metrics still see them thrown.
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: MetricsMiddleware())
    // Not Hummingbird's LogRequestsMiddleware: it logs the whole URI, with invite secrets and `?key=` tokens in it.
    router.add(middleware: RequestLogMiddleware(level: .debug))
    router.add(middleware: APIErrorMiddleware())
    let auth = Authenticator(store: store, policy: options.sessionPolicy)
    let accounts = AccountService(store: store, passwords: options.passwords, policy: options.sessionPolicy,
                                  mailer: options.mailer, publicURL: publicURL, logger: logger)
    // The recorder's pipeline when one is given (`buildApplication`'s): the API's requests commit through it too.
    let pipeline = gatewayRecorder?.pipeline
        ?? IngestPipeline(store: store, pricer: options.pricer, maxCommitsInFlight: options.maxCommitsInFlight)
    OperationsController(store: store, registry: registry, metricsToken: options.metricsToken).addRoutes(to: router)
    WebController(store: store, auth: auth, accounts: accounts, publicURL: options.publicURL,
                  defaultTimeZone: options.defaultTimeZone, trustedProxies: options.trustedProxies).addRoutes(to: router)
    Assets.addRoutes(to: router)
    DashboardController(store: store, gate: PageGate(store: store, auth: auth, accounts: accounts, publicURL: publicURL),
                        pricer: options.pricer, vaultReady: options.vault != nil, logger: logger,
                        liveStreamSeconds: options.liveStreamSeconds, liveStreams: LiveStreams(perSession: options.liveStreamsPerSession),
                        sessionPolicy: options.sessionPolicy).addRoutes(to: router)
    let credentials = GatewayCredentials(auth: auth, store: store,
                                         connections: ConnectionService(store: store, vault: options.vault, validator: validator),
                                         vault: options.vault, ttl: .seconds(options.gatewayCredentialSeconds))
    let forgetCredentials: @Sendable () -> Void = { credentials.forgetAll() }
    GatewayController(credentials: credentials, pricer: options.pricer,
                      recorder: gatewayRecorder ?? GatewayRecorder(pipeline: pipeline, logger: logger), http: gatewayHTTP,
                      policy: options.gatewayPolicy, buffers: GatewayBuffers(limit: options.gatewayBufferLimit),
                      logger: logger).addRoutes(to: router)
    let api = router.group("api/v1")
    IngestController(auth: auth, pipeline: pipeline).addRoutes(to: api)
    EventsController(store: store, auth: auth, pricer: options.pricer).addRoutes(to: api)
    PricesController(store: store, auth: auth, prices: PriceService(store: store, pricer: options.pricer)).addRoutes(to: api)
    SummaryController(store: store, auth: auth, ledger: LedgerService(store: store, pricer: options.pricer)).addRoutes(to: api)
    ReconciliationController(store: store, auth: auth, ledger: LedgerService(store: store, pricer: options.pricer)).addRoutes(to: api)
    AccountsController(store: store, auth: auth, accounts: accounts, membersChanged: forgetCredentials).addRoutes(to: api)
    ProjectsController(store: store, auth: auth, changed: forgetCredentials).addRoutes(to: api)
    ConnectionsController(auth: auth, connections: ConnectionService(store: store, vault: options.vault, validator: validator),
                          changed: connectionsChanged, anyChange: forgetCredentials).addRoutes(to: api)
    SyncController(store: store, auth: auth, runner: makeSyncRunner(store: store, options: options, logger: logger, http: upstreamHTTP))
        .addRoutes(to: api)
    return router
}

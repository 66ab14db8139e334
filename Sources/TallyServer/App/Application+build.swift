import Hummingbird
import Logging
import Prometheus
import TallyCore
import TallyIngest
import TallyPrice

/// The composition root: one store, one pricer, the controllers, the middleware.
public func buildApplication<Store: TallyStore>(
    store: Store,
    config: TallyConfig,
    logger: Logger,
    registry: PrometheusCollectorRegistry? = nil,
    pricer: CatalogPricer = CatalogPricer(),
    maxCommitsInFlight: Int = 1
) -> some ApplicationProtocol {
    let router = buildRouter(store: store, logger: logger, registry: registry, pricer: pricer, maxCommitsInFlight: maxCommitsInFlight)
    let refresher = PriceRefresher(prices: PriceService(store: store, pricer: pricer), interval: .seconds(15), logger: logger)
    return Application(
        router: router,
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "tally"),
        services: [refresher],
        logger: logger
    )
}

public func buildRouter<Store: TallyStore>(
    store: Store,
    logger: Logger,
    registry: PrometheusCollectorRegistry? = nil,
    pricer: CatalogPricer = CatalogPricer(),
    maxCommitsInFlight: Int = 1
) -> Router<TallyRequestContext> {
    let router = Router(context: TallyRequestContext.self)
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: APIErrorMiddleware())
    let auth = TokenAuthenticator(store: store)
    let committer = GroupCommitter(maxInFlight: maxCommitsInFlight) { batches in try await store.insert(batches) }
    OperationsController(store: store, registry: registry).addRoutes(to: router)
    let api = router.group("api/v1")
    IngestController(store: store, auth: auth, committer: committer, pricer: pricer).addRoutes(to: api)
    EventsController(store: store, auth: auth, pricer: pricer).addRoutes(to: api)
    PricesController(store: store, auth: auth, prices: PriceService(store: store, pricer: pricer)).addRoutes(to: api)
    SummaryController(store: store, auth: auth).addRoutes(to: api)
    return router
}

import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import TallyCore
import TallyMail
import TallyServices
import UnixSignals

/// `tally serve`: opens the store, reads the master key, builds the dependencies once, then runs one ServiceGroup:
/// the store's client (PostgreSQL) first, so it stops last, then the server, which prepares the store (migrations as
/// TALLY_MIGRATE says, the default organization, the owner from TALLY_ADMIN_*) before it listens. SIGTERM or SIGINT
/// stop it gracefully.
public func runServer(config: AppConfig, logger: Logger, registry: PrometheusCollectorRegistry) async throws {
    let opened = try StoreBootstrap.open(config, logger: logger)
    // A wrong key stops start-up before anything else happens.
    var options = ServerOptions(config: config)
    options.vault = try MasterKeyLoader.load(config, logger: logger, createIfMissing: true).map(Vault.init(master:))
    // SQLite has one writer: a second group in flight prepares its rollups while the first commits.
    options.maxCommitsInFlight = opened.client == nil ? 2 : 4
    // Several replicas share a PostgreSQL database: their guard reserves from the same counters there.
    options.guardCountersInStore = opened.client != nil
    if let smtp = config.smtp {
        // A relay with a private CA (TALLY_SMTP_CA_FILE): read at start-up, so a wrong file stops it here.
        do {
            options.mailer = try SMTPMailer(configuration: smtp, logger: logger, trustRootsPEMFile: config.smtpCAFile)
        } catch {
            throw AppConfig.Problem(source: "TALLY_SMTP_CA_FILE", reason: "\(error)")
        }
    }
    try await serve(
        opened.store, client: opened.client, kind: opened.kind, options: options, logger: logger, registry: registry)
}

/// Generic over the store, as the dependencies are.
func serve<Store: TallyStore>(
    _ store: Store, client: StoreBootstrap.StoreClient?, kind: String, options: ServerOptions, logger: Logger,
    registry: PrometheusCollectorRegistry
) async throws {
    let config = options.config
    let dependencies = Dependencies(store: store, options: options, logger: logger, ownClients: true)
    let app = buildApplication(dependencies, host: config.host, port: config.port, registry: registry)
    let server = PreparedServer(app: app) {
        await client?.waitUntilRunning()
        try await StoreBootstrap.prepareSchema(store, for: .write, config: config)
        let org = try await store.defaultOrganization(timeZone: config.timeZone.identifier)
        if Instant.clockOffsetSeconds != 0 {
            logger.warning(
                "the clock is shifted for testing: never set TALLY_CLOCK_OFFSET_SECONDS in production",
                metadata: [
                    "offset_seconds": "\(Instant.clockOffsetSeconds)", "now": "\(Instant.now.rfc3339)",
                ])
        }
        logger.notice(
            "tally starting",
            metadata: [
                "address": "http://\(config.host):\(config.port)", "store": "\(kind)", "organization": "\(org.id)",
            ])
        // A newer catalog revision stored by any replica or the CLI prices from the first event on.
        try await dependencies.catalog.loadNewest()
        try await dependencies.prices.reloadAll()
        if let email = config.adminEmail, let password = config.adminPassword {
            if try await dependencies.accounts.bootstrapAdmin(
                email: email, password: password, timeZone: config.timeZone.identifier)
            {
                logger.notice("created the owner account from TALLY_ADMIN_EMAIL", metadata: ["email": "\(email)"])
            }
        } else if try await store.userCount() == 0 {
            logger.notice(
                "no account yet: open http://\(config.host):\(config.port)/setup to create the organization and its owner"
            )
        }
    }
    let group = ServiceGroup(
        configuration: .init(
            services: (client.map { [$0 as any Service] } ?? []) + [server],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

/// The application, after a preparation that needs the store's client running (so it runs in the same group).
struct PreparedServer<App: ApplicationProtocol>: Service {
    let app: App
    let prepare: @Sendable () async throws -> Void

    func run() async throws {
        try await prepare()
        try await app.run()
    }
}

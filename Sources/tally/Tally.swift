import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import TallyCore
import TallyPrice
import TallyServer
import TallyServices

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Tally: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally",
        abstract: "Track what your LLM API calls cost, by provider, model, project, feature, key and user.",
        subcommands: [
            Serve.self, Migrate.self, Projects.self, Tokens.self, Prices.self, Keys.self, SyncCommand.self,
            ForecastBench.self, Backup.self, Restore.self, Import.self, RetentionCommand.self, MigrateStore.self,
            PartitionEvents.self,
        ]
    )
}

/// Store settings every command shares. Flags override the environment.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .customLong("data-dir"), help: "Data directory, created 0700 (env TALLY_DATA_DIR, default ./tally-data).")
    var dataDirectory: String?
    @Option(
        name: .customLong("database-url"),
        help:
            "postgres://user:password@host:port/database; unset: SQLite file $TALLY_DATA_DIR/tally.sqlite (env TALLY_DATABASE_URL)."
    )
    var databaseURL: String?
    @Option(
        name: .customLong("database-read-url"),
        help: "A PostgreSQL streaming replica for summaries and the events list (env TALLY_DATABASE_READ_URL).")
    var databaseReadURL: String?
    @Option(
        name: .customLong("database-read-max-lag"),
        help:
            "Seconds the replica may lag before reads go to the primary (env TALLY_DATABASE_READ_MAX_LAG, default 10).")
    var databaseReadMaxLag: String?
    @Option(
        name: .customLong("time-zone"),
        help: "The default organization's time zone, an IANA name (env TALLY_TIME_ZONE, default UTC).")
    var timeZone: String?
    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error or critical (env TALLY_LOG_LEVEL, default info).")
    var logLevel: String?

    var flags: [AppConfig.Key: String] {
        var flags: [AppConfig.Key: String] = [:]
        flags[.dataDirectory] = dataDirectory
        flags[.databaseURL] = databaseURL
        flags[.databaseReadURL] = databaseReadURL
        flags[.databaseReadMaxLag] = databaseReadMaxLag
        flags[.timeZone] = timeZone
        flags[.logLevel] = logLevel
        return flags
    }
}

/// The configuration and a logger at its level; a wrong setting (all of them, one line each) ends the command.
func configure(_ flags: [AppConfig.Key: String]) -> (AppConfig, Logger) {
    let config: AppConfig
    do {
        config = try AppConfig.load(environment: ProcessInfo.processInfo.environment, flags: flags)
    } catch {
        fail(lines: error.lines)
    }
    var logger = Logger(label: "tally")
    logger.logLevel = config.logLevel
    return (config, logger)
}

/// Runs a command body with the configured store, its schema prepared for `use` (a command that only reads never
/// migrates); any failure the operator can fix becomes one line on stderr and exit code 1.
func withConfiguredStore<T: Sendable>(
    _ flags: [AppConfig.Key: String], _ use: StoreBootstrap.SchemaUse,
    _ body: @Sendable (AppConfig, Logger, any TallyStore) async throws -> T
) async throws -> T {
    let (config, logger) = configure(flags)
    return try await reportingFailures {
        try await StoreBootstrap.withStore(config, logger: logger) { store in
            try await StoreBootstrap.prepareSchema(store, for: use, config: config)
            return try await body(config, logger, store)
        }
    }
}

/// Ends the command with one line per problem the operator can fix; anything else is thrown on.
func reportingFailures<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let problem as AppConfig.Problem {
        fail(lines: problem.lines)
    } catch let behind as StoreBootstrap.SchemaBehind {
        fail(behind.description)
    } catch let problem as MasterKey.Problem {
        fail(problem.description)
    } catch let error as TallyError {
        fail(describe(error))
    }
}

func describe(_ error: TallyError) -> String {
    switch error {
    case .invalid(let problems), .contentNotAllowed(let problems), .totalTooLarge(let problems):
        problems.map { "\($0.field) \($0.reason)" }.joined(separator: "; ")
    case .notFound(let what): "\(what) was not found"
    case .conflict(let message), .forbidden(let message), .unavailable(let message), .tooLarge(let message),
        .gone(let message), .providerRejected(_, let message):
        message
    case .upstreamNotAllowed(let field, let message): "\(field) \(message)"
    case .unauthenticated: "not authenticated"
    case .throttled(let seconds): "too many attempts; try again in \(seconds) seconds"
    case .tooManyGroups(let limit): "more than \(limit) groups"
    }
}

func fail(_ message: String) -> Never { fail(lines: [message]) }

func fail(lines: [String]) -> Never {
    FileHandle.standardError.write(Data(lines.map { "tally: \($0)\n" }.joined().utf8))
    exit(1)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run the Tally server: migrates the store (unless TALLY_MIGRATE=off), creates the default organization, serves HTTP.",
        discussion: """
            Environment variables (flags override them):
              TALLY_HOST          address to listen on (default 127.0.0.1)
              TALLY_PORT          port (default 8080)
              TALLY_DATA_DIR      data directory, created 0700 (default ./tally-data)
              TALLY_DATABASE_URL  unset: embedded SQLite in WAL mode at $TALLY_DATA_DIR/tally.sqlite;
                                  postgres://user:password@host:port/database[?sslmode=disable|prefer|require]: PostgreSQL
              TALLY_LOG_LEVEL     trace, debug, info, notice, warning, error, critical (default info)
              TALLY_TIME_ZONE     the default organization's time zone (default UTC)
              TALLY_ADMIN_EMAIL, TALLY_ADMIN_PASSWORD
                                  create the owner unattended on first start (otherwise the browser goes to /setup)
              TALLY_MASTER_KEY    base64 of 32 bytes sealing provider keys (AES-256-GCM); or
              TALLY_MASTER_KEY_FILE  a file holding it. Embedded SQLite with neither: $TALLY_DATA_DIR/master.key
                                  is created (0600) on first start. PostgreSQL with neither: provider connections are off.
              TALLY_SMTP_URL      smtp://[user:password@]host[:port][?from=addr&starttls=true] or smtps://… to mail invites
              TALLY_SMTP_CA_FILE  PEM certificates trusted for the SMTP relay's TLS instead of the system's (a private CA)
              TALLY_PUBLIC_URL    the URL people reach Tally at (links in mails; https makes cookies Secure)
              TALLY_SESSION_IDLE_MINUTES  sign out after this much inactivity (default 720)
              TALLY_SESSION_MAX_HOURS     sign out this long after signing in, whatever happens (default 168)
              TALLY_AUDIT_RETENTION_DAYS  keep the audit log this long (default 365)
              TALLY_DATABASE_READ_URL     a PostgreSQL streaming replica for summaries and the events list (issue 24)
              TALLY_DATABASE_READ_MAX_LAG seconds it may lag before those reads go back to the primary (default 10)
              TALLY_EVENT_RETENTION_DAYS  keep raw events this many days (default: all); rollups stay, so summaries do not change
              TALLY_ROLLUP_RETENTION_DAYS keep rollups (and so any data) this many days (default: all)
              TALLY_SYNC_INTERVAL         how often the provider usage sync runs (default 1h; each run re-reads 3 days; off: never)
              TALLY_SYNC_BACKFILL_DAYS    how far a new connection's first sync reads back (default 30, at most 365)
              TALLY_GATEWAY_CONNECT_TIMEOUT     the gateway's limit to connect to a provider (default 10s; 100ms to 1h)
              TALLY_GATEWAY_FIRST_BYTE_TIMEOUT  to receive the provider's response head (default 600s)
              TALLY_GATEWAY_IDLE_TIMEOUT        the longest silence inside a response body, e.g. a stalled stream (default 600s)
              TALLY_METRICS_TOKEN  when set, GET /metrics needs Authorization: Bearer <it> (at least 16 characters)
              TALLY_ALLOW_PRIVATE_UPSTREAMS     comma-separated CIDRs, host names or * that provider calls may reach although
                                                loopback, private or link-local (default: none; e.g. 10.0.0.0/8,ollama.internal)
              TALLY_MIGRATE       on (default): apply pending migrations at start; off: leave them to tally migrate (rolling
                                  upgrades) and refuse to start while the schema is behind
              TALLY_CLOCK_OFFSET_SECONDS        tests only, never in production: whole seconds added to the clock (scripts/test-at-clock)
            SIGTERM or SIGINT stop it gracefully: in-flight requests finish and their events are committed.
            """
    )

    @Option(help: "Address to listen on (env TALLY_HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (env TALLY_PORT, default 8080).") var port: String?
    @Option(name: .customLong("public-url"), help: "The URL people reach Tally at (env TALLY_PUBLIC_URL).")
    var publicURL: String?
    @Option(name: .customLong("smtp-url"), help: "SMTP server for invite mails (env TALLY_SMTP_URL).") var smtpURL:
        String?
    @Option(
        name: .customLong("smtp-ca-file"),
        help: "PEM certificates to trust for the SMTP relay's TLS instead of the system's (env TALLY_SMTP_CA_FILE).")
    var smtpCAFile: String?
    @OptionGroup var store: StoreOptions

    func run() async throws {
        limitMallocArenas()
        var flags = store.flags
        flags[.host] = host
        flags[.port] = port
        flags[.publicURL] = publicURL
        flags[.smtpURL] = smtpURL
        flags[.smtpCAFile] = smtpCAFile
        let (config, logger) = configure(flags)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        try await reportingFailures {
            try await runServer(config: config, logger: logger, registry: registry)
        }
    }
}

/// glibc gives each thread that allocates its own malloc arena (up to 8 per core), each keeping freed memory; under
/// the gateway's load that was 161 MB of RSS against 133 MB with two arenas (docs/benchmarks.md).
/// (Glibc's Swift module leaves out malloc.h, so `mallopt` is looked up; M_ARENA_MAX is -8 there.)
func limitMallocArenas() {
    #if canImport(Glibc)
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: MallOpt.self)(-8, 2)
    #endif
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations and exit.",
        discussion:
            "Always migrates, whatever TALLY_MIGRATE says: with TALLY_MIGRATE=off, run it before starting the new version's replicas."
    )
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await withConfiguredStore(store.flags, .migrate) { config, _, store in
            _ = try await store.defaultOrganization(timeZone: config.timeZone.identifier)
            print("migrations applied")
        }
    }
}

/// CLI commands act on the default organization (web accounts and several organizations come later).
func defaultOrganization(_ config: AppConfig, _ store: any TallyStore) async throws -> Organization {
    try await store.defaultOrganization(timeZone: config.timeZone.identifier)
}

struct Projects: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage projects.", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project; prints its id.")
        @Argument(help: "The project's name (1-64 printable characters, no spaces or commas).") var name: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            if let reason = Project.validate(name: name) { fail("project name \(reason)") }
            try await withConfiguredStore(store.flags, .write) { [name] config, _, store in
                let org = try await defaultOrganization(config, store)
                print(try await store.createProject(organizationID: org.id, name: name).id)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List projects.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await withConfiguredStore(store.flags, .read) { config, _, store in
                let org = try await defaultOrganization(config, store)
                for p in try await store.projects(organizationID: org.id) {
                    print("\(p.id)\t\(p.name)\t\(p.createdAt.rfc3339)")
                }
            }
        }
    }
}

struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API tokens.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API token; prints its secret alone on one line, once. Only a hash is stored."
        )
        @Option(help: "The project the token belongs to.") var project: String
        @Option(help: "Comma-separated scopes: ingest, read, gateway, admin (admin implies all).") var scopes: String
        @Option(help: "A label to tell tokens apart.") var name: String?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let parsed: Set<Scope>
            switch parseScopes(scopes) {
            case .success(let s): parsed = s
            case .failure(let e): fail(describe(e))
            }
            try await withConfiguredStore(store.flags, .write) { [project, name] config, _, store in
                let org = try await defaultOrganization(config, store)
                let issued = try await TokenSecret.issue(
                    store: store, organizationID: org.id, projectName: project, scopes: parsed, name: name
                )
                print(issued.secret)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await withConfiguredStore(store.flags, .read) { config, _, store in
                let org = try await defaultOrganization(config, store)
                print(
                    ["ID", "NAME", "PROJECT", "SCOPES", "SECRET", "CREATED", "LAST USED", "REVOKED"].joined(
                        separator: "\t"))
                for t in try await store.tokens(organizationID: org.id) {
                    print(
                        [
                            t.id, t.name ?? "-", t.projectName,
                            t.scopes.sorted().map(\.rawValue).joined(separator: ","),
                            "tly_…" + t.hint, t.createdAt.rfc3339, t.lastUsedAt?.rfc3339 ?? "-",
                            t.revokedAt?.rfc3339 ?? "-",
                        ].joined(separator: "\t"))
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token at once, on every replica.")
        @Argument(help: "The token's id (tok_…).") var id: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await withConfiguredStore(store.flags, .write) { [id] config, _, store in
                let org = try await defaultOrganization(config, store)
                try await store.revokeToken(organizationID: org.id, id: id, at: .now)
                print("revoked \(id)")
            }
        }
    }
}

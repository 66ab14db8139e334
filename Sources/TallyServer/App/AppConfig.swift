import Foundation
import Logging
import TallyCore
import TallyGateway
import TallyHTTP
import TallyMail
import TallyServices
import TallyWeb

/// The name this configuration had before it became the one `AppConfig`.
public typealias TallyConfig = AppConfig

/// Every setting of `tally`, parsed once. Flags override the environment; a bad value names its source, and every
/// bad value is reported at once (one line each).
public struct AppConfig: Sendable {
    public enum DatabaseLocation: Sendable, Equatable {
        case sqlite(path: String)
        case postgres(url: String)
    }

    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory = "./tally-data"
    public var database = DatabaseLocation.sqlite(path: "./tally-data/tally.sqlite")
    public var logLevel = Logger.Level.info
    public var timeZone = TimeZoneRules.utc
    /// Unattended first run: the owner's email and password.
    public var adminEmail: String?
    public var adminPassword: String?
    /// Base64 of the 32-byte master key, or a file holding it.
    public var masterKey: String?
    public var masterKeyFile: String?
    public var smtpURL: String?
    /// `smtpURL` parsed (checked with the other settings, so a wrong URL is reported with them).
    public var smtp: SMTPConfiguration?
    /// PEM file of the certificates to trust for the SMTP relay's TLS, instead of the system's (TALLY_SMTP_CA_FILE).
    public var smtpCAFile: String?
    public var publicURL: String?
    public var sessionPolicy = SessionPolicy()
    public var auditRetentionDays = 365
    /// A PostgreSQL streaming replica for the reads that may lag (issue 24), and how far behind it may be.
    public var databaseReadURL: String?
    public var databaseReadMaxLagSeconds = 10
    /// How long raw events and rollups are kept (issue 24; default: for ever).
    public var retention = RetentionPolicy()
    public var syncSchedule = SyncSchedule()
    public var gatewayTimeouts = GatewayTimeouts()
    /// When set, `GET /metrics` needs `Authorization: Bearer <this>`.
    public var metricsToken: String?
    public var gatewayBufferLimit = GatewayBuffers.defaultLimit
    /// The largest captured body kept per request or response (TALLY_CONTENT_MAX_KB, 256 KiB): past it, cut and marked.
    public var contentMaxBytes = 256 << 10
    /// Reverse proxies whose X-Forwarded-For names the client (TALLY_TRUSTED_PROXIES).
    public var trustedProxies = TrustedProxies.none
    /// Which private addresses provider calls may reach (TALLY_ALLOW_PRIVATE_UPSTREAMS); by default none.
    public var upstreamPolicy = UpstreamAddressPolicy()
    /// Whether `tally serve` (and the commands that write) apply pending migrations themselves (TALLY_MIGRATE=on, the
    /// default), or leave them to `tally migrate` and refuse to run on a schema that is behind (off: rolling upgrades).
    public var migrate = true
    /// Where to fetch newer revisions of the price catalog, at start and daily (TALLY_PRICES_URL); nil: never.
    public var pricesURL: String?
    /// How often each replica re-reads the organizations' prices and the newest stored catalog revision
    /// (TALLY_PRICES_REFRESH, default 15 s).
    public var pricesRefreshSeconds: Int64 = 15
    /// How often each replica evaluates the alert rules (TALLY_ALERT_INTERVAL, default 1 min); nil: `off`, only
    /// `POST /api/v1/alerts/check` evaluates.
    public var alertIntervalSeconds: Int64? = 60
    /// How often each replica checks for insights older than a day and weekly digests due (TALLY_INSIGHT_INTERVAL,
    /// default 15 min); nil: `off`, only `POST /api/v1/insights/check` computes.
    public var insightIntervalSeconds: Int64? = 900
    /// Alert deliveries' backoff; its base is TALLY_ALERT_RETRY_BASE_SECONDS (default 30, tests shorten it).
    public var alertRetry = AlertRetryPolicy()
    /// Tally's own API limit per token and per address on each replica (TALLY_API_RATE_LIMIT, such as `1000/15m`);
    /// nil: unset or `off`, no limit.
    public var apiRateLimit: APIRateLimit?
    /// How long a gateway call's reservation holds before it expires (TALLY_GATEWAY_RESERVATION_TTL, default 15 min):
    /// a crashed server's reservations free their budgets and limits after this. Longer than any call should last.
    public var gatewayReservationTTLSeconds: Int64 = 900
    /// Sign-up modes and single sign-on providers (TALLY_SIGNUP, TALLY_OIDC_*, TALLY_GOOGLE_*, TALLY_GITHUB_*).
    public var signIn = SignInConfig()

    public init() {}

    /// `500ms`, `90s`, `30m`, `1h`, or plain seconds, in milliseconds.
    static func milliseconds(_ text: String) -> Int64? {
        if text.hasSuffix("ms") { return Int64(text.dropLast(2)) }
        return duration(text).map { $0 * 1000 }
    }

    /// `90s`, `30m`, `1h`, `2d` or plain seconds.
    /// Only the scheme and a host are judged here; the driver reads the rest. (The value is never echoed whole: it
    /// holds a password.)
    /// What an error may show of a database URL: its scheme, never the rest (a password may follow).
    static func schemeOnly(_ v: String) -> String {
        guard let range = v.range(of: "://") else { return "a value without a scheme" }
        let scheme = v[..<range.lowerBound]
        return scheme.count <= 16 && scheme.allSatisfy(\.isLetter)
            ? "a \(scheme):// URL" : "a value with an unknown scheme"
    }

    static func isPostgresURL(_ v: String) -> Bool {
        (v.hasPrefix("postgres://") || v.hasPrefix("postgresql://")) && URLComponents(string: v)?.host?.isEmpty == false
    }

    static func duration(_ text: String) -> Int64? {
        if let n = Int64(text) { return n }
        guard let unit = text.last, let n = Int64(text.dropLast()) else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86_400
        default: return nil
        }
    }

    /// The SQLite mode's default master key file, created on first start when no key is given.
    public var defaultMasterKeyPath: String { (dataDirectory as NSString).appendingPathComponent("master.key") }

    /// A setting with a wrong value: one line for the operator, no stack trace. When several settings are wrong, the
    /// first is this problem and the others ride along in `others`, so each is reported on its own line.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var source: String
        public var reason: String
        public var others: [Problem] = []
        public init(source: String, reason: String) {
            self.source = source
            self.reason = reason
        }
        /// One line per wrong setting, this one first.
        public var lines: [String] { ["\(source) \(reason)"] + others.flatMap(\.lines) }
        public var description: String { lines.joined(separator: "\n") }
    }

    /// The settings' variables, each with the flag that overrides it.
    public enum Key: String, CaseIterable, Sendable {
        case host = "TALLY_HOST", port = "TALLY_PORT", dataDirectory = "TALLY_DATA_DIR"
        case databaseReadURL = "TALLY_DATABASE_READ_URL", databaseReadMaxLag = "TALLY_DATABASE_READ_MAX_LAG"
        case databaseURL = "TALLY_DATABASE_URL", logLevel = "TALLY_LOG_LEVEL", timeZone = "TALLY_TIME_ZONE"
        case adminEmail = "TALLY_ADMIN_EMAIL", adminPassword = "TALLY_ADMIN_PASSWORD"
        case masterKey = "TALLY_MASTER_KEY", masterKeyFile = "TALLY_MASTER_KEY_FILE"
        case smtpURL = "TALLY_SMTP_URL", publicURL = "TALLY_PUBLIC_URL", smtpCAFile = "TALLY_SMTP_CA_FILE"
        case sessionIdleMinutes = "TALLY_SESSION_IDLE_MINUTES", sessionMaxHours = "TALLY_SESSION_MAX_HOURS"
        case auditRetentionDays = "TALLY_AUDIT_RETENTION_DAYS"
        case eventRetentionDays = "TALLY_EVENT_RETENTION_DAYS", rollupRetentionDays = "TALLY_ROLLUP_RETENTION_DAYS"
        case syncInterval = "TALLY_SYNC_INTERVAL", syncBackfillDays = "TALLY_SYNC_BACKFILL_DAYS"
        case gatewayConnectTimeout = "TALLY_GATEWAY_CONNECT_TIMEOUT", gatewayFirstByteTimeout =
            "TALLY_GATEWAY_FIRST_BYTE_TIMEOUT"
        case metricsToken = "TALLY_METRICS_TOKEN"
        case gatewayIdleTimeout = "TALLY_GATEWAY_IDLE_TIMEOUT", gatewayBufferMB = "TALLY_GATEWAY_BUFFER_MB"
        case trustedProxies = "TALLY_TRUSTED_PROXIES"
        case allowPrivateUpstreams = "TALLY_ALLOW_PRIVATE_UPSTREAMS"
        case migrate = "TALLY_MIGRATE"
        case pricesURL = "TALLY_PRICES_URL", pricesRefresh = "TALLY_PRICES_REFRESH"
        case alertInterval = "TALLY_ALERT_INTERVAL"
        case insightInterval = "TALLY_INSIGHT_INTERVAL"
        case alertRetryBase = "TALLY_ALERT_RETRY_BASE_SECONDS"
        case apiRateLimit = "TALLY_API_RATE_LIMIT", gatewayReservationTTL = "TALLY_GATEWAY_RESERVATION_TTL"
        case contentMaxKB = "TALLY_CONTENT_MAX_KB"
    }

    /// `flags` holds the values given on the command line, by variable.
    public static func load(environment: [String: String], flags: [Key: String]) throws(Problem) -> AppConfig {
        var config = AppConfig()
        var problems: [Problem] = []
        /// Runs one setting's checks; a problem is noted and the next setting is read.
        func check(_ read: () throws(Problem) -> Void) {
            do { try read() } catch { problems.append(error) }
        }
        func value(_ key: Key, flag: String) -> (String, String)? {
            if let v = flags[key] { return (v, flag) }
            if let v = environment[key.rawValue], !v.isEmpty { return (v, key.rawValue) }
            return nil
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.host, flag: "--host") else { return }
            guard !v.isEmpty, !v.contains(" ") else {
                throw Problem(source: source, reason: "must be a host name or address (got \"\(v)\")")
            }
            config.host = v
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.port, flag: "--port") else { return }
            guard let p = Int(v), (1...65535).contains(p) else {
                throw Problem(source: source, reason: "must be a port number from 1 to 65535 (got \"\(v)\")")
            }
            config.port = p
        }
        if let (v, _) = value(.dataDirectory, flag: "--data-dir") { config.dataDirectory = v }
        config.database = .sqlite(path: (config.dataDirectory as NSString).appendingPathComponent("tally.sqlite"))
        check { () throws(Problem) in
            guard let (v, source) = value(.databaseURL, flag: "--database-url") else { return }
            guard Self.isPostgresURL(v) else {
                throw Problem(
                    source: source,
                    reason:
                        "must be a postgres://user:password@host:port/database URL, or unset for the embedded SQLite file (got \(Self.schemeOnly(v)))"
                )
            }
            config.database = .postgres(url: v)
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.databaseReadURL, flag: "--database-read-url") else { return }
            guard case .postgres = config.database else {
                throw Problem(
                    source: source, reason: "needs TALLY_DATABASE_URL: a read replica serves a PostgreSQL primary")
            }
            guard Self.isPostgresURL(v) else {
                throw Problem(
                    source: source,
                    reason: "must be a postgres://user:password@host:port/database URL (got \(Self.schemeOnly(v)))")
            }
            config.databaseReadURL = v
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.databaseReadMaxLag, flag: "--database-read-max-lag") else { return }
            guard let n = Int(v), (1...3600).contains(n) else {
                throw Problem(source: source, reason: "must be a whole number of seconds from 1 to 3600 (got \"\(v)\")")
            }
            config.databaseReadMaxLagSeconds = n
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.logLevel, flag: "--log-level") else { return }
            guard let level = Logger.Level(rawValue: v.lowercased()) else {
                throw Problem(
                    source: source,
                    reason: "must be one of trace, debug, info, notice, warning, error, critical (got \"\(v)\")")
            }
            config.logLevel = level
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.timeZone, flag: "--time-zone") else { return }
            guard let zone = TimeZoneRules(identifier: v) else {
                throw Problem(
                    source: source, reason: "must be an IANA time zone such as UTC or Europe/Berlin (got \"\(v)\")")
            }
            config.timeZone = zone
        }
        let email = value(.adminEmail, flag: "--admin-email")
        let password = value(.adminPassword, flag: "--admin-password")
        check { () throws(Problem) in
            guard let (v, source) = email else { return }
            if let reason = User.validate(email: v) { throw Problem(source: source, reason: reason) }
            config.adminEmail = v
        }
        check { () throws(Problem) in
            guard let (v, source) = password else { return }
            // Never echo the value.
            if let reason = User.validate(password: v) { throw Problem(source: source, reason: reason) }
            config.adminPassword = v
        }
        if (email == nil) != (password == nil) {
            problems.append(
                Problem(
                    source: email == nil ? "TALLY_ADMIN_PASSWORD" : "TALLY_ADMIN_EMAIL",
                    reason: "is set, so TALLY_ADMIN_EMAIL and TALLY_ADMIN_PASSWORD must both be set"))
        }
        config.masterKey = value(.masterKey, flag: "--master-key")?.0
        config.masterKeyFile = value(.masterKeyFile, flag: "--master-key-file")?.0
        if config.masterKey != nil, config.masterKeyFile != nil {
            problems.append(
                Problem(source: "TALLY_MASTER_KEY", reason: "and TALLY_MASTER_KEY_FILE are both set; set one"))
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.smtpURL, flag: "--smtp-url") else { return }
            guard v.hasPrefix("smtp://") || v.hasPrefix("smtps://") else {
                throw Problem(
                    source: source,
                    reason:
                        "must be an smtp:// or smtps:// URL such as smtp://user:password@mail.example.com:587?from=tally@example.com"
                )
            }
            config.smtpURL = v
            do { config.smtp = try SMTPConfiguration.parse(v) } catch {
                throw Problem(source: "TALLY_SMTP_URL", reason: "\(error)")
            }
        }
        config.smtpCAFile = value(.smtpCAFile, flag: "--smtp-ca-file")?.0
        check { () throws(Problem) in
            guard let (v, source) = value(.publicURL, flag: "--public-url") else { return }
            guard v.hasPrefix("http://") || v.hasPrefix("https://"), URLComponents(string: v)?.host?.isEmpty == false
            else {
                throw Problem(
                    source: source,
                    reason:
                        "must be the http(s) URL people reach Tally at, such as https://tally.example.com (got \"\(v)\")"
                )
            }
            config.publicURL = v.hasSuffix("/") ? String(v.dropLast()) : v
        }
        /// A whole number from 1 to `max`; nil when unset or wrong (a wrong one is noted).
        func positive(_ key: Key, flag: String, max: Int) -> Int? {
            guard let (v, source) = value(key, flag: flag) else { return nil }
            guard let n = Int(v), (1...max).contains(n) else {
                problems.append(
                    Problem(source: source, reason: "must be a whole number from 1 to \(max) (got \"\(v)\")"))
                return nil
            }
            return n
        }
        let idle = positive(.sessionIdleMinutes, flag: "--session-idle-minutes", max: 525_600)
        let absolute = positive(.sessionMaxHours, flag: "--session-max-hours", max: 8_760)
        config.sessionPolicy = SessionPolicy(idleMinutes: idle ?? 12 * 60, absoluteHours: absolute ?? 7 * 24)
        config.auditRetentionDays = positive(.auditRetentionDays, flag: "--audit-retention-days", max: 36_500) ?? 365
        config.retention = RetentionPolicy(
            eventDays: positive(.eventRetentionDays, flag: "--event-retention-days", max: 36_500),
            rollupDays: positive(.rollupRetentionDays, flag: "--rollup-retention-days", max: 36_500))
        check { () throws(Problem) in
            guard let (v, source) = value(.syncInterval, flag: "--sync-interval") else { return }
            if v == "off" {
                config.syncSchedule.enabled = false
            } else {
                guard let seconds = Self.duration(v), (5...86_400 * 7).contains(seconds) else {
                    throw Problem(
                        source: source,
                        reason: "must be a duration from 5s to 7d such as 30m, 1h or 3600, or off (got \"\(v)\")")
                }
                config.syncSchedule.intervalSeconds = seconds
            }
        }
        if let days = positive(.syncBackfillDays, flag: "--sync-backfill-days", max: 365) {
            config.syncSchedule.backfillDays = Int64(days)
        }
        /// From 100 ms to 1 h; nil when unset or wrong (a wrong one is noted).
        func timeout(_ key: Key, flag: String) -> Duration? {
            guard let (v, source) = value(key, flag: flag) else { return nil }
            guard let ms = Self.milliseconds(v), (100...3_600_000).contains(ms) else {
                problems.append(
                    Problem(
                        source: source,
                        reason: "must be a duration from 100ms to 1h such as 500ms, 10s or 5m (got \"\(v)\")"))
                return nil
            }
            return .milliseconds(ms)
        }
        if let t = timeout(.gatewayConnectTimeout, flag: "--gateway-connect-timeout") {
            config.gatewayTimeouts.connect = t
        }
        if let t = timeout(.gatewayFirstByteTimeout, flag: "--gateway-first-byte-timeout") {
            config.gatewayTimeouts.firstByte = t
        }
        if let t = timeout(.gatewayIdleTimeout, flag: "--gateway-idle-timeout") { config.gatewayTimeouts.idle = t }
        check { () throws(Problem) in
            guard let (v, source) = value(.metricsToken, flag: "--metrics-token") else { return }
            // Never echo the value: it is a credential.
            guard v.count >= 16, v.unicodeScalars.allSatisfy({ (0x21...0x7e).contains($0.value) }) else {
                throw Problem(
                    source: source,
                    reason: "must be at least 16 printable ASCII characters without spaces (openssl rand -hex 32)")
            }
            config.metricsToken = v
        }
        if let mb = positive(.gatewayBufferMB, flag: "--gateway-buffer-mb", max: 65_536) {
            config.gatewayBufferLimit = mb << 20
        }
        if let kb = positive(.contentMaxKB, flag: "--content-max-kb", max: 8192) { config.contentMaxBytes = kb << 10 }
        check { () throws(Problem) in
            guard let (v, source) = value(.trustedProxies, flag: "--trusted-proxies") else { return }
            switch TrustedProxies.parse(v) {
            case .success(let proxies): config.trustedProxies = proxies
            case .failure(let problem):
                throw Problem(
                    source: source,
                    reason:
                        "must be IP addresses or CIDRs separated by commas, such as 10.0.0.0/8,127.0.0.1 (got \"\(problem.entry)\")"
                )
            }
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.allowPrivateUpstreams, flag: "--allow-private-upstreams") else { return }
            switch UpstreamAllowance.parse(v) {
            case .success(let allowance): config.upstreamPolicy = UpstreamAddressPolicy(allowance: allowance)
            case .failure(let e):
                throw Problem(
                    source: source,
                    reason:
                        "must be a comma-separated list of CIDRs (10.0.0.0/8, fd00::/8), addresses, host names or *; \"\(e.item)\" is none of these"
                )
            }
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.migrate, flag: "--migrate") else { return }
            switch v.lowercased() {
            case "on": config.migrate = true
            case "off": config.migrate = false
            default:
                throw Problem(
                    source: source,
                    reason:
                        "must be on (apply pending migrations at start) or off (leave them to tally migrate) (got \"\(v)\")"
                )
            }
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.pricesURL, flag: "--prices-url") else { return }
            // Never echo the value: a URL may carry a credential.
            guard CatalogSource.validURL(v) else {
                throw Problem(source: source, reason: "must be an http(s) URL of a catalog file in Tally's format")
            }
            config.pricesURL = v
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.pricesRefresh, flag: "--prices-refresh") else { return }
            guard let seconds = Self.duration(v), (1...3600).contains(seconds) else {
                throw Problem(
                    source: source, reason: "must be a duration from 1s to 1h such as 15s, 1m or 60 (got \"\(v)\")")
            }
            config.pricesRefreshSeconds = seconds
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.alertInterval, flag: "--alert-interval") else { return }
            if v == "off" {
                config.alertIntervalSeconds = nil
            } else {
                guard let seconds = Self.duration(v), (1...86_400).contains(seconds) else {
                    throw Problem(
                        source: source,
                        reason: "must be a duration from 1s to 1d such as 30s, 1m or 60, or off (got \"\(v)\")")
                }
                config.alertIntervalSeconds = seconds
            }
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.insightInterval, flag: "--insight-interval") else { return }
            if v == "off" {
                config.insightIntervalSeconds = nil
            } else {
                guard let seconds = Self.duration(v), (1...86_400).contains(seconds) else {
                    throw Problem(
                        source: source,
                        reason: "must be a duration from 1s to 1d such as 30s, 15m or 60, or off (got \"\(v)\")")
                }
                config.insightIntervalSeconds = seconds
            }
        }
        if let seconds = positive(.alertRetryBase, flag: "--alert-retry-base-seconds", max: 3600) {
            config.alertRetry.baseSeconds = Int64(seconds)
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.apiRateLimit, flag: "--api-rate-limit") else { return }
            if v.lowercased() == "off" {
                config.apiRateLimit = nil
            } else {
                guard let rate = APIRateLimit.parse(v) else {
                    throw Problem(
                        source: source,
                        reason:
                            "must be requests per window such as 1000/15m, 20/30s or 5000/1h, or off (got \"\(v.prefix(64))\")"
                    )
                }
                config.apiRateLimit = rate
            }
        }
        check { () throws(Problem) in
            guard let (v, source) = value(.gatewayReservationTTL, flag: "--gateway-reservation-ttl") else { return }
            guard let seconds = Self.duration(v), (5...86_400).contains(seconds) else {
                throw Problem(
                    source: source,
                    reason: "must be a duration from 5s to 1d such as 30s, 15m or 1h (got \"\(v.prefix(64))\")")
            }
            config.gatewayReservationTTLSeconds = seconds
        }
        // The injected test clock (Instant.clockOffsetSeconds) reads the process environment itself, once; checking it
        // here makes a bad value a one-line start-up error instead of a trap at the first clock read.
        let (signIn, signInProblems) = SignInConfig.load(environment)
        config.signIn = signIn
        problems += signInProblems
        if case .failure(let problem) = Instant.parseClockOffset(environment[Instant.clockOffsetVariable]) {
            problems.append(Problem(source: Instant.clockOffsetVariable, reason: problem.reason))
        }
        guard var first = problems.first else { return config }
        first.others = Array(problems.dropFirst())
        throw first
    }
}

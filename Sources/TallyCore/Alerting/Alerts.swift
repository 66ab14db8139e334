/// Alerts (issue 17): what fired, where it is delivered, and the rules that fire it.

public enum AlertType: String, Sendable, CaseIterable {
    case budgetThreshold = "budget_threshold"
    case spike
    case providerConnection = "provider_connection"
    case unpricedModel = "unpriced_model"
    /// The forecast issue adds these to the same engine.
    case forecastOverrun = "forecast_overrun"
    case anomaly
    /// Guardrails (issue 19): a policy blocked calls (or, in monitor mode, would have).
    case policyBlock = "policy_block"
}

public enum AlertStatus: String, Sendable, CaseIterable {
    case open, acknowledged, resolved
}

/// What an alert says, fixed when it fires (the webhook payload and the messages are rendered from it).
public struct AlertFigures: Sendable, Equatable {
    /// The period (or, for a spike, the local day) the figures are for.
    public var periodStart: Instant?
    public var periodEnd: Instant?
    public var spent: USD?
    /// The budget's amount; for a spike, the 7-day daily average it is compared with.
    public var amount: USD?
    /// spent / amount in percent as exact text ("91.20").
    public var percent: String?
    /// The budget threshold or spike threshold percent that was crossed.
    public var threshold: Int?
    /// One line a person reads ("Budget 'Search' passed 90% of $250.00: $226.13 spent").
    public var summary: String

    public init(
        periodStart: Instant? = nil, periodEnd: Instant? = nil, spent: USD? = nil, amount: USD? = nil,
        percent: String? = nil, threshold: Int? = nil, summary: String
    ) {
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.spent = spent
        self.amount = amount
        self.percent = percent
        self.threshold = threshold
        self.summary = summary
    }
}

public struct Alert: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var type: AlertType
    /// What makes the alert unique in its organization: firing again with the same key is a no-op, on every replica.
    /// "budget:<id>:<first local day of the period, YYYY-MM-DD>:<threshold>" (a day, not an instant, so a time-zone
    /// change does not re-arm it), "spike:<dimension>:<value>:<local day>", "unpriced:<provider>:<model>",
    /// "connection:<id>:<first failed run id>" or, for a refused admin key, "connection:<id>:key:<last good run id>",
    /// "forecast:<budget id>:<first local day of the period>:<n>" (n counts from 1: the forecast falling back under the
    /// amount resolves the open one, and the next overrun in the period takes n + 1), "anomaly:<dimension>:<value>:
    /// <the unusual local day>" ("anomaly:organization::<day>" for the organization), "policy_block:<policy or budget
    /// id>:<hour start, unix s>" (at most one per policy per hour).
    public var dedupeKey: String
    public var status: AlertStatus
    public var firedAt: Instant
    /// The budget that fired it, if any.
    public var budgetID: String?
    /// The rule that fired it (`spike`, `provider_connection`, `unpriced_model`, `anomaly`, `forecast_overrun`) when not
    /// a budget threshold.
    public var rule: String?
    /// The usage the alert is about (dimension → values; projects by id), for its link to the explorer.
    public var scope: BudgetScope
    public var figures: AlertFigures
    public var acknowledgedAt: Instant?
    public var acknowledgedBy: String?
    public var resolvedAt: Instant?

    public init(
        id: String, organizationID: String, type: AlertType, dedupeKey: String, status: AlertStatus = .open,
        firedAt: Instant, budgetID: String? = nil, rule: String? = nil, scope: BudgetScope = [:], figures: AlertFigures,
        acknowledgedAt: Instant? = nil, acknowledgedBy: String? = nil, resolvedAt: Instant? = nil
    ) {
        self.id = id
        self.organizationID = organizationID
        self.type = type
        self.dedupeKey = dedupeKey
        self.status = status
        self.firedAt = firedAt
        self.budgetID = budgetID
        self.rule = rule
        self.scope = scope
        self.figures = figures
        self.acknowledgedAt = acknowledgedAt
        self.acknowledgedBy = acknowledgedBy
        self.resolvedAt = resolvedAt
    }
}

public enum AlertChannelKind: String, Sendable, CaseIterable {
    case email, webhook, slack, discord
}

/// Where alerts go. Secrets (a webhook's signing secret, a Slack or Discord webhook URL) are sealed by the vault in
/// `sealedSecret`; `settings` holds what may be shown (email recipients, a webhook's URL).
public struct AlertChannel: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var name: String
    public var kind: AlertChannelKind
    /// email: the recipients; webhook: the URL (one element). Shown to admins.
    public var targets: [String]
    /// The vault-sealed secret (webhook signing secret, Slack/Discord URL) in the text form connections store their
    /// keys in, nil when there is none.
    public var sealedSecret: String?
    public var createdAt: Instant
    public var updatedAt: Instant

    public init(
        id: String, organizationID: String, name: String, kind: AlertChannelKind, targets: [String],
        sealedSecret: String?, createdAt: Instant, updatedAt: Instant
    ) {
        self.id = id
        self.organizationID = organizationID
        self.name = name
        self.kind = kind
        self.targets = targets
        self.sealedSecret = sealedSecret
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public enum AlertDeliveryStatus: String, Sendable, CaseIterable {
    /// Waiting for its next attempt (`nextAttemptAt`).
    case pending
    case delivered
    /// Gave up: 24 hours of retries passed, or the answer was one that retrying cannot fix (a 4xx other than 429).
    case failed
}

/// One alert's delivery to one channel: an outbox row written in the same transaction as the alert, so an alert is
/// never recorded without its deliveries, and claimed by one replica at a time (`claimedUntil`).
public struct AlertDelivery: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var alertID: String
    public var channelID: String
    public var status: AlertDeliveryStatus
    public var attempts: Int
    public var lastError: String?
    public var nextAttemptAt: Instant
    public var deliveredAt: Instant?
    public var createdAt: Instant

    public init(
        id: String, organizationID: String, alertID: String, channelID: String, status: AlertDeliveryStatus = .pending,
        attempts: Int = 0, lastError: String? = nil, nextAttemptAt: Instant, deliveredAt: Instant? = nil,
        createdAt: Instant
    ) {
        self.id = id
        self.organizationID = organizationID
        self.alertID = alertID
        self.channelID = channelID
        self.status = status
        self.attempts = attempts
        self.lastError = lastError
        self.nextAttemptAt = nextAttemptAt
        self.deliveredAt = deliveredAt
        self.createdAt = createdAt
    }
}

/// An organization's alert rules other than budgets (`GET/PUT /api/v1/alert-rules`).
public struct AlertRules: Sendable, Equatable {
    public struct Spike: Sendable, Equatable {
        public var enabled: Bool
        /// Fires when today's spend exceeds the 7-day daily average by more than this percent...
        public var thresholdPercent: Int
        /// ...and by more than this amount.
        public var floor: USD
        public init(enabled: Bool = true, thresholdPercent: Int = 100, floor: USD = USD(nanos: 1_000_000_000)) {
            self.enabled = enabled
            self.thresholdPercent = thresholdPercent
            self.floor = floor
        }
    }

    public struct Simple: Sendable, Equatable {
        public var enabled: Bool
        public init(enabled: Bool = true) { self.enabled = enabled }
    }

    public var spike: Spike
    public var providerConnection: Simple
    public var unpricedModel: Simple
    /// Issue 18: a budget's forecast period end over its amount (to the budget's channels), and an unusual day of a
    /// scope (to `channelIDs`).
    public var forecastOverrun: Simple
    public var anomaly: Simple
    /// The channels every rule's alerts go to.
    public var channelIDs: [String]
    /// Per rule name (`spike`, `provider_connection`, `unpriced_model`): no alert of it before this instant.
    public var mutedUntil: [String: Instant]

    public init(
        spike: Spike = Spike(), providerConnection: Simple = Simple(), unpricedModel: Simple = Simple(),
        channelIDs: [String] = [], mutedUntil: [String: Instant] = [:], forecastOverrun: Simple = Simple(),
        anomaly: Simple = Simple()
    ) {
        self.spike = spike
        self.providerConnection = providerConnection
        self.unpricedModel = unpricedModel
        self.forecastOverrun = forecastOverrun
        self.anomaly = anomaly
        self.channelIDs = channelIDs
        self.mutedUntil = mutedUntil
    }
}

public struct AlertQuery: Sendable {
    public var organizationID: String
    public var type: AlertType?
    public var status: AlertStatus?
    public var from: Instant?
    public var to: Instant?
    public var limit: Int
    /// The `id` of the last alert of the previous page (newest first).
    public var after: String?
    public init(
        organizationID: String, type: AlertType? = nil, status: AlertStatus? = nil, from: Instant? = nil,
        to: Instant? = nil, limit: Int = 50, after: String? = nil
    ) {
        self.organizationID = organizationID
        self.type = type
        self.status = status
        self.from = from
        self.to = to
        self.limit = limit
        self.after = after
    }
}

public protocol AlertStore: Sendable {
    /// Records the alert and one pending delivery per channel in ONE transaction, unless the organization already
    /// has an alert with its `dedupeKey` (then nothing is written): true when recorded. This unique key, not a lock,
    /// is what makes an alert fire once across replicas.
    func recordAlert(_ alert: Alert, deliveries: [AlertDelivery]) async throws -> Bool
    /// Newest first.
    func alerts(_ query: AlertQuery) async throws -> [Alert]
    func alert(organizationID: String, id: String) async throws -> Alert?
    /// Of these dedupe keys, those the organization already has, with when each fired (what an evaluation and a
    /// budget's status need to know).
    func firedAlerts(organizationID: String, keys: [String]) async throws -> [String: Instant]
    /// Sets the status (acknowledged: with who and when); throws `notFound`.
    func updateAlertStatus(
        organizationID: String, id: String, status: AlertStatus, by: String?, at: Instant, audit: AuditRecord?)
        async throws
    /// Deletes an alert so that its key can fire again (a forecast re-armed), with its deliveries.
    func deleteAlert(organizationID: String, id: String) async throws

    func alertRules(organizationID: String) async throws -> AlertRules
    func saveAlertRules(organizationID: String, _ rules: AlertRules, audit: AuditRecord) async throws
}

public protocol AlertChannelStore: Sendable {
    func createAlertChannel(_ channel: AlertChannel, audit: AuditRecord) async throws
    /// Throws `notFound`.
    func updateAlertChannel(_ channel: AlertChannel, audit: AuditRecord) async throws
    /// Throws `notFound`. Pending deliveries to it fail with "channel deleted".
    func deleteAlertChannel(organizationID: String, id: String, audit: AuditRecord) async throws
    func alertChannels(organizationID: String) async throws -> [AlertChannel]
    func alertChannel(organizationID: String, id: String) async throws -> AlertChannel?
}

public protocol AlertDeliveryStore: Sendable {
    /// Claims up to `limit` pending deliveries due at `now` (any organization) for `holder` until `until`, so no other
    /// replica attempts them meanwhile; a crashed holder's claims expire.
    func claimDueDeliveries(holder: String, now: Instant, until: Instant, limit: Int) async throws -> [AlertDelivery]
    /// Writes an attempt's result (status, attempts, last error, next attempt, delivered at) and releases the claim.
    func finishDelivery(_ delivery: AlertDelivery, holder: String) async throws
    /// An alert's deliveries, oldest first.
    func deliveries(organizationID: String, alertID: String) async throws -> [AlertDelivery]
}

/// What the alert engine asks of budgets: a budget's figures now (implemented by TallyServices' `BudgetService`).
public protocol BudgetStatusSource: Sendable {
    func status(of budget: Budget, at now: Instant) async throws -> BudgetStatus
}

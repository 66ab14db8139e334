import Logging
import TallyCore

/// What the alert engine reads and writes.
public typealias AlertEngineStore = OrganizationStore & CatalogRevisionStore & BudgetStore & AlertStore & UsageStore
    & ConnectionStore & ProviderSyncStore & ProjectStore

/// Decides which alerts fire at an instant and records them, each once: every rule computes the alerts its condition
/// calls for with their dedupe keys (see `Alert.dedupeKey`), the keys the organization already has are dropped, and
/// `recordAlert` writes the rest with their deliveries. The store's unique key on (organization, dedupe key), not a
/// lock, is what makes two replicas evaluating at once record one alert: the second insert is a no-op.
///
/// Spend is read from the rollups (`UsageStore.summary` over whole hours, and the budgets' status, which does the
/// same), never by scanning raw events. An alert never changes once fired, except a `provider_connection` alert,
/// which turns `resolved` when its connection's next sync succeeds (budget thresholds and spikes are facts about a
/// period that has passed or is passing; they stay open until acknowledged).
public struct AlertEngine<Store: AlertEngineStore>: Sendable {
    public let store: Store
    public let budgets: any BudgetStatusSource
    /// Starts delivery at once (the deliverer's `wake()`), after alerts were recorded.
    public let wakeDelivery: @Sendable () -> Void
    public let logger: Logger
    /// The forecasts `forecast_overrun` and `anomaly` read (issue 18); nil: those rules do not run.
    public let forecasts: (any ForecastSource)?

    public init(
        store: Store, budgets: any BudgetStatusSource, wakeDelivery: @escaping @Sendable () -> Void, logger: Logger,
        forecasts: (any ForecastSource)? = nil
    ) {
        self.store = store
        self.budgets = budgets
        self.forecasts = forecasts
        self.wakeDelivery = wakeDelivery
        self.logger = logger
    }

    /// Evaluates every rule of one organization, or of all of them, at `now`: the alerts recorded by this call, or in
    /// a dry run the alerts that would be (nothing written, nothing sent). An organization whose evaluation fails is
    /// logged and skipped when evaluating all; evaluating one, its error is thrown.
    public func evaluate(at now: Instant, organizationID: String? = nil, dryRun: Bool) async throws -> [Alert] {
        // One organization: its own budgets; all of them: the one unscoped read of every enabled budget.
        let all: [Budget]
        if let organizationID {
            all = try await store.budgets(organizationID: organizationID)
        } else {
            all = try await store.enabledBudgets()
        }
        var fired: [Alert] = []
        var organizations = [String]()
        if let organizationID {
            organizations = [organizationID]
        } else {
            organizations = try await store.organizationIDs()
        }
        for id in organizations {
            guard let organization = try await store.organization(id: id) else {
                if organizationID != nil { throw TallyError.notFound("organization '\(id)'") }
                continue
            }
            do {
                fired += try await evaluate(
                    organization, budgets: all.filter { $0.organizationID == id }, at: now, dryRun: dryRun)
            } catch  where organizationID == nil {
                logger.error(
                    "alert evaluation failed", metadata: ["organization": "\(id)", "error": "\(error)"])
            }
        }
        if !dryRun && !fired.isEmpty { wakeDelivery() }
        return fired
    }

    private func evaluate(_ organization: Organization, budgets: [Budget], at now: Instant, dryRun: Bool) async throws
        -> [Alert]
    {
        let rules = try await store.alertRules(organizationID: organization.id)
        let context = RuleContext(organization: organization, rules: rules, now: now)
        var candidates: [Candidate] = []
        candidates += try await budgetCandidates(budgets, context)
        // Each other rule on its own: one that fails (ingested data it cannot summarize, a store error) is logged and
        // skipped, never holding back the budgets' alerts or the other rules.
        func run(_ rule: String, _ body: () async throws -> [Candidate]) async {
            do { candidates += try await body() } catch {
                logger.error(
                    "alert rule failed",
                    metadata: ["organization": "\(organization.id)", "rule": "\(rule)", "error": "\(error)"])
            }
        }
        if context.allows("spike", rules.spike.enabled) { await run("spike") { try await spikeCandidates(context) } }
        if context.allows("unpriced_model", rules.unpricedModel.enabled) {
            await run("unpriced_model") { try await unpricedCandidates(context) }
        }
        if context.allows("provider_connection", rules.providerConnection.enabled) {
            await run("provider_connection") { try await connectionCandidates(context) }
        }
        if let forecasts, context.allows("forecast_overrun", rules.forecastOverrun.enabled) {
            await run("forecast_overrun") { try await overrunCandidates(budgets, forecasts, context, dryRun: dryRun) }
        }
        if let forecasts, context.allows("anomaly", rules.anomaly.enabled) {
            await run("anomaly") { try await anomalyCandidates(forecasts, context) }
        }
        if !dryRun {
            await run("provider_connection") {
                try await resolveRecoveredConnections(context)
                return []
            }
        }
        let seen = try await store.firedAlerts(organizationID: organization.id, keys: candidates.map(\.alert.dedupeKey))
        let fresh = capped(candidates.filter { seen[$0.alert.dedupeKey] == nil }, organizationID: organization.id)
        var fired: [Alert] = []
        for candidate in fresh {
            if dryRun {
                fired.append(candidate.alert)
                continue
            }
            let deliveries = candidate.channelIDs.map {
                AlertDelivery(
                    id: Identifier.make("dl"), organizationID: organization.id, alertID: candidate.alert.id,
                    channelID: $0, nextAttemptAt: now, createdAt: now)
            }
            if try await store.recordAlert(candidate.alert, deliveries: deliveries) {
                fired.append(candidate.alert)
                logger.info(
                    "alert fired",
                    metadata: [
                        "organization": "\(organization.id)", "alert": "\(candidate.alert.id)",
                        "key": "\(candidate.alert.dedupeKey)",
                    ])
            }
        }
        return fired
    }

    /// An alert a rule's condition calls for, and the channels it goes to.
    struct Candidate {
        var alert: Alert
        var channelIDs: [String]
    }

    /// One organization's evaluation: its rules, its time zone, the instant.
    struct RuleContext {
        var organization: Organization
        var rules: AlertRules
        var now: Instant
        var zone: TimeZoneRules { TimeZoneRules(identifier: organization.timeZone) ?? .utc }

        /// Whether a rule is on and not muted at `now`.
        func allows(_ rule: String, _ enabled: Bool) -> Bool {
            enabled && !(rules.mutedUntil[rule].map { now < $0 } ?? false)
        }

        func alert(
            _ type: AlertType, rule: String, key: String, scope: BudgetScope, figures: AlertFigures
        ) -> Candidate {
            Candidate(
                alert: Alert(
                    id: Identifier.make("al"), organizationID: organization.id, type: type, dedupeKey: key,
                    firedAt: now, rule: rule, scope: scope, figures: figures),
                channelIDs: rules.channelIDs)
        }
    }

    // MARK: budget_threshold

    /// Every threshold at or below a budget's percent fires, once per budget, threshold and period (crossing 80 and 90
    /// between two evaluations fires both). A muted budget fires nothing until its mute ends; thresholds crossed
    /// meanwhile then fire if the period is still the same. A budget with no period at `now` (a custom budget
    /// before or after its days) fires nothing, though its status still shows its days.
    private func budgetCandidates(_ list: [Budget], _ context: RuleContext) async throws -> [Candidate] {
        let now = context.now
        var candidates: [Candidate] = []
        for budget in list where budget.enabled && !(budget.mutedUntil.map { now < $0 } ?? false) {
            guard budget.amount > .zero,
                budget.period(
                    containing: now, zone: context.zone, billingCycleDay: context.organization.billingCycleDay)
                    != nil
            else { continue }
            let status: BudgetStatus
            do {
                status = try await budgets.status(of: budget, at: now)
            } catch {
                logger.error(
                    "budget status failed", metadata: ["budget": "\(budget.id)", "error": "\(error)"])
                continue
            }
            for threshold in budget.thresholds
            where Int128(status.spent.nanos) * 100 >= Int128(budget.amount.nanos) * Int128(threshold) {
                let key = budget.alertKey(firstDay: status.firstDay, threshold: threshold)
                let figures = AlertFigures(
                    periodStart: status.period.from, periodEnd: status.period.to, spent: status.spent,
                    amount: budget.amount,
                    percent: status.percent ?? AlertText.percent(status.spent, of: budget.amount),
                    threshold: threshold,
                    summary:
                        "Budget '\(budget.name)' passed \(threshold)% of \(AlertText.usd(budget.amount)): \(AlertText.usd(status.spent)) spent"
                )
                candidates.append(
                    Candidate(
                        alert: Alert(
                            id: Identifier.make("al"), organizationID: budget.organizationID, type: .budgetThreshold,
                            dedupeKey: key, firedAt: now, budgetID: budget.id, scope: budget.scope, figures: figures),
                        channelIDs: budget.channelIDs))
            }
        }
        return candidates
    }
}

extension AlertText {
    /// `part / whole` in percent, exact to two decimals and truncated (79.999 % is "79.99", never a threshold not
    /// reached); nil when `whole` is zero. Budgets' status and the alerts' figures both write it so.
    static func percent(_ part: USD, of whole: USD) -> String? {
        guard whole.nanos > 0 else { return nil }
        let hundredths = Int128(part.nanos) * 10_000 / Int128(whole.nanos)
        let sign = hundredths < 0 ? "-" : ""
        let magnitude = hundredths.magnitude
        let fraction = String(magnitude % 100)
        return sign + String(magnitude / 100) + "." + (fraction.count == 1 ? "0" + fraction : fraction)
    }
}

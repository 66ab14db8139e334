import Synchronization
import TallyCore

@testable import TallyServices

/// What the guard reads and writes, in memory: policies, budgets, organizations, a fixed spend per budget scope (the
/// rollups), hits and alerts (keyed as the store keys them). Counts reads so tests can see the cache at work, and can
/// be made to fail.
final class GuardFakeStore: PolicyStore, BudgetStore, OrganizationStore, UsageStore, AlertStore, Sendable {
    struct State {
        var policies: [Policy] = []
        var budgets: [Budget] = []
        var organizations: [String: Organization] = [:]
        /// The rollups' spend, whatever the range (tests set it per scope).
        var spend: USD = .zero
        var hits: [PolicyHit] = []
        var alerts: [Alert] = []
        var deliveries: [AlertDelivery] = []
        var policyReads = 0
        var summaryReads = 0
        var failing = false
    }

    let state = Mutex(State())

    init(timeZone: String = "UTC") {
        state.withLock {
            $0.organizations["org_a"] = Organization(
                id: "org_a", name: "A", timeZone: timeZone, createdAt: Instant(seconds: 0))
        }
    }

    var hits: [PolicyHit] { state.withLock { $0.hits } }
    var alerts: [Alert] { state.withLock { $0.alerts } }
    var deliveries: [AlertDelivery] { state.withLock { $0.deliveries } }
    var policyReads: Int { state.withLock { $0.policyReads } }

    func set(policies: [Policy]) { state.withLock { $0.policies = policies } }
    func set(budgets: [Budget]) { state.withLock { $0.budgets = budgets } }
    func set(spend: USD) { state.withLock { $0.spend = spend } }
    func set(failing: Bool) { state.withLock { $0.failing = failing } }

    private func check() throws {
        if state.withLock({ $0.failing }) { throw TallyError.invalid([]) }
    }

    // MARK: PolicyStore

    func createPolicy(_ policy: Policy, audit: AuditRecord) async throws {
        state.withLock { $0.policies.append(policy) }
    }
    func updatePolicy(_ policy: Policy, audit: AuditRecord) async throws {
        state.withLock { s in s.policies = s.policies.map { $0.id == policy.id ? policy : $0 } }
    }
    func deletePolicy(organizationID: String, id: String, audit: AuditRecord) async throws {
        state.withLock { $0.policies.removeAll { $0.id == id } }
    }
    func policies(organizationID: String) async throws -> [Policy] {
        try check()
        return state.withLock { s in
            s.policyReads += 1
            return s.policies.filter { $0.organizationID == organizationID }
        }
    }
    func policy(organizationID: String, id: String) async throws -> Policy? {
        state.withLock { $0.policies.first { $0.organizationID == organizationID && $0.id == id } }
    }
    func recordPolicyHits(_ hits: [PolicyHit]) async throws {
        try check()
        state.withLock { $0.hits += hits }
    }
    func policyHitCounts(organizationID: String, since: Instant) async throws -> [PolicyHitCount] { [] }
    func policyHits(organizationID: String, policyID: String?, limit: Int) async throws -> [PolicyHit] {
        state.withLock { Array($0.hits.reversed().prefix(limit)) }
    }
    func deletePolicyHits(before: Instant) async throws -> Int {
        state.withLock { s in
            let old = s.hits.filter { $0.at < before }.count
            s.hits.removeAll { $0.at < before }
            return old
        }
    }

    // MARK: BudgetStore

    func createBudget(_ budget: Budget, audit: AuditRecord) async throws {
        state.withLock { $0.budgets.append(budget) }
    }
    func updateBudget(_ budget: Budget, audit: AuditRecord) async throws {}
    func deleteBudget(organizationID: String, id: String, audit: AuditRecord) async throws {}
    func budgets(organizationID: String) async throws -> [Budget] {
        try check()
        return state.withLock { $0.budgets.filter { $0.organizationID == organizationID } }
    }
    func budget(organizationID: String, id: String) async throws -> Budget? {
        state.withLock { $0.budgets.first { $0.organizationID == organizationID && $0.id == id } }
    }
    func projectBudget(organizationID: String, projectID: String) async throws -> Budget? { nil }
    func enabledBudgets() async throws -> [Budget] { state.withLock { $0.budgets.filter(\.enabled) } }

    // MARK: OrganizationStore, UsageStore

    func defaultOrganization(timeZone: String) async throws -> Organization {
        state.withLock { $0.organizations["org_a"]! }
    }
    func organization(id: String) async throws -> Organization? {
        try check()
        return state.withLock { $0.organizations[id] }
    }
    func summary(_ query: SummaryQuery) async throws -> SummaryResult {
        try check()
        return state.withLock { s in
            s.summaryReads += 1
            var totals = UsageMetrics()
            totals.cost = s.spend
            return SummaryResult(groups: [], totals: totals)
        }
    }

    // MARK: AlertStore

    func recordAlert(_ alert: Alert, deliveries: [AlertDelivery]) async throws -> Bool {
        state.withLock { s in
            guard
                !s.alerts.contains(where: {
                    $0.organizationID == alert.organizationID && $0.dedupeKey == alert.dedupeKey
                })
            else { return false }
            s.alerts.append(alert)
            s.deliveries += deliveries
            return true
        }
    }
    func alerts(_ query: AlertQuery) async throws -> [Alert] { alerts }
    func alert(organizationID: String, id: String) async throws -> Alert? { alerts.first { $0.id == id } }
    func firedAlerts(organizationID: String, keys: [String]) async throws -> [String: Instant] {
        state.withLock { s in
            var out: [String: Instant] = [:]
            for a in s.alerts where a.organizationID == organizationID && keys.contains(a.dedupeKey) {
                out[a.dedupeKey] = a.firedAt
            }
            return out
        }
    }
    func updateAlertStatus(
        organizationID: String, id: String, status: AlertStatus, by: String?, at: Instant, audit: AuditRecord?
    ) async throws {}
    func deleteAlert(organizationID: String, id: String) async throws {}
    func alertRules(organizationID: String) async throws -> AlertRules { AlertRules() }
    func saveAlertRules(organizationID: String, _ rules: AlertRules, audit: AuditRecord) async throws {}
}

/// Every model costs `perToken` per input or output token, except `unpriced`.
struct GuardFakePricer: Pricer {
    var perToken = USD(nanos: 1000)

    func quote(_ event: UsageEvent, organizationID: String) -> PriceQuote? {
        guard event.model != "unpriced" else { return nil }
        let tokens = event.usage.inputTokens + event.usage.outputTokens
        return PriceQuote(cost: USD(nanos: tokens * perToken.nanos), priceID: "fake")
    }
}

enum GuardFixtures {
    /// 2026-12-05 10:00:30 UTC.
    static let now = Instant(seconds: 1_796_464_830)

    static func policy(
        _ id: String, name: String? = nil, scope: PolicyScope = PolicyScope(), mode: PolicyMode = .enforce,
        rules: PolicyRules, channelIDs: [String] = []
    ) -> Policy {
        Policy(
            id: id, organizationID: "org_a", name: name ?? id, scope: scope, mode: mode, rules: rules,
            channelIDs: channelIDs, createdAt: now, updatedAt: now)
    }

    static func budget(
        _ id: String, amount: USD, scope: BudgetScope = [:], period: BudgetPeriodKind = .month, enforce: Bool = true,
        ledger: BudgetLedger = .observed, channelIDs: [String] = []
    ) -> Budget {
        Budget(
            id: id, organizationID: "org_a", name: "Budget \(id)", scope: scope, period: period, amount: amount,
            ledger: ledger, channelIDs: channelIDs, enforce: enforce, createdAt: now, updatedAt: now)
    }

    static func call(
        model: String? = "gpt-test", maxTokens: Int? = 100, input: Int = 100, project: String = "prj_1",
        token: String = "tok_1", user: String? = nil, feature: String? = nil, at: Instant = now
    ) -> GuardedCall {
        GuardedCall(
            organizationID: "org_a", projectID: project, tokenID: token, user: user, feature: feature,
            environment: nil, provider: "openai", model: model, requestedMaxOutputTokens: maxTokens,
            inputTokensBound: input, at: at)
    }
}

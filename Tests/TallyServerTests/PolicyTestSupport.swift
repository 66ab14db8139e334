import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import TallyCore
import TallyPrice
import TallyStoreSQLite
import TallyTestSupport

@testable import TallyHTTP
@testable import TallyServer
@testable import TallyServices

/// Policies in memory, as the contract says a `PolicyStore` behaves (the SQL store's own conformance is held to the
/// same behaviour by the store contract suite): names unique per organization, listed by name, hits newest first.
final class InMemoryPolicies: PolicyStore {
    let state = Mutex<(policies: [Policy], hits: [PolicyHit], audit: [AuditRecord])>(([], [], []))

    var audit: [AuditRecord] { state.withLock { $0.audit } }

    func createPolicy(_ policy: Policy, audit: AuditRecord) async throws {
        try state.withLock { s in
            if s.policies.contains(where: { $0.organizationID == policy.organizationID && $0.name == policy.name }) {
                throw TallyError.conflict("a policy named '\(policy.name)' exists")
            }
            s.policies.append(policy)
            s.audit.append(audit)
        }
    }

    func updatePolicy(_ policy: Policy, audit: AuditRecord) async throws {
        try state.withLock { s in
            guard
                let i = s.policies.firstIndex(where: {
                    $0.organizationID == policy.organizationID && $0.id == policy.id
                })
            else { throw TallyError.notFound("policy") }
            if s.policies.contains(where: {
                $0.organizationID == policy.organizationID && $0.name == policy.name && $0.id != policy.id
            }) {
                throw TallyError.conflict("a policy named '\(policy.name)' exists")
            }
            var stored = policy
            stored.createdAt = s.policies[i].createdAt
            s.policies[i] = stored
            s.audit.append(audit)
        }
    }

    func deletePolicy(organizationID: String, id: String, audit: AuditRecord) async throws {
        try state.withLock { s in
            guard let i = s.policies.firstIndex(where: { $0.organizationID == organizationID && $0.id == id }) else {
                throw TallyError.notFound("policy")
            }
            s.policies.remove(at: i)
            s.audit.append(audit)
        }
    }

    func policies(organizationID: String) async throws -> [Policy] {
        state.withLock { $0.policies.filter { $0.organizationID == organizationID }.sorted { $0.name < $1.name } }
    }

    func policy(organizationID: String, id: String) async throws -> Policy? {
        state.withLock { $0.policies.first { $0.organizationID == organizationID && $0.id == id } }
    }

    func recordPolicyHits(_ hits: [PolicyHit]) async throws { state.withLock { $0.hits += hits } }

    func policyHitCounts(organizationID: String, since: Instant) async throws -> [PolicyHitCount] {
        let hits = state.withLock { $0.hits.filter { $0.organizationID == organizationID && $0.at >= since } }
        var out: [String: PolicyHitCount] = [:]
        for h in hits {
            let key = "\(h.policyID ?? "")|\(h.budgetID ?? "")|\(h.rule.rawValue)|\(h.mode.rawValue)"
            var c =
                out[key]
                ?? PolicyHitCount(
                    policyID: h.policyID, budgetID: h.budgetID, rule: h.rule, mode: h.mode, count: 0, last: h.at)
            c.count += 1
            c.last = max(c.last, h.at)
            out[key] = c
        }
        return Array(out.values)
    }

    func policyHits(organizationID: String, policyID: String?, limit: Int) async throws -> [PolicyHit] {
        state.withLock {
            Array(
                $0.hits.filter { $0.organizationID == organizationID && (policyID == nil || $0.policyID == policyID) }
                    .sorted { $0.at > $1.at }.prefix(limit))
        }
    }

    func deletePolicyHits(before: Instant) async throws -> Int {
        state.withLock { s in
            let n = s.hits.count
            s.hits.removeAll { $0.at < before }
            return n - s.hits.count
        }
    }
}

/// Guard counters held as given (the budgets API only reads them).
final class FixedGuardCounters: GuardCounterStore {
    let counters: Mutex<[String: GuardCounter]>
    init(_ counters: [String: GuardCounter]) { self.counters = Mutex(counters) }

    func reserve(organizationID: String, id: String, holds: [GuardHold], expiresAt: Instant) async throws
        -> GuardReservation
    { .reserved }
    func settle(organizationID: String, id: String, actual: [String: Int64]) async throws {}
    func expireReservations(now: Instant) async throws -> Int { 0 }
    func raiseSettled(organizationID: String, key: String, floor: Int64, counterExpiresAt: Instant) async throws {}
    func guardCounters(organizationID: String, keys: [String]) async throws -> [String: GuardCounter] {
        counters.withLock { all in all.filter { keys.contains($0.key) } }
    }
}

/// The routes under test over a SQLite store (accounts, projects, tokens, channels, budgets) and in-memory policies:
/// as `buildRouter` will have them once the composition passes the policy store.
func guardrailRouter(
    store: SQLiteStore, policies: InMemoryPolicies, changed: @escaping @Sendable (String) -> Void = { _ in },
    guardCounters: (any GuardCounterStore)? = nil
) -> Router<TallyRequestContext> {
    let router = Router(context: TallyRequestContext.self)
    router.add(middleware: APIErrorMiddleware())
    let api = router.group("api/v1")
    let auth = Authenticator(store: store)
    PoliciesController(auth: auth, policies: PolicyService(policies: policies, store: store, changed: changed))
        .addRoutes(to: api)
    BudgetsController(
        auth: auth, budgets: BudgetService(store: store, ledger: LedgerService(store: store, pricer: CatalogPricer())),
        guardCounters: guardCounters
    ).addRoutes(to: api)
    return router
}

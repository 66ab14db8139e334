import Logging
import Metrics
import Synchronization
import TallyCore

/// What the guard reads: policies, budgets, the organization's time zone and billing cycle day (budget periods), and
/// the rollups (a budget period's spend).
public typealias GuardStore = PolicyStore & BudgetStore & OrganizationStore & UsageStore

/// The gateway's guard (issue 19): holds each call to the policies and enforced budgets in its scope before it is
/// forwarded. Static rules (models, `max_tokens`, cost per call) are judged from the request; counted limits (budgets,
/// requests and tokens per minute, calls in flight) are reserved in ONE `reserve` of the counter store, atomic across
/// replicas, and settled with the actual usage when the call ends.
///
/// Monitor-mode policies never block: their counters are reserved apart (a second reservation, with their real
/// limits); a hold that reservation refuses is a would-be block, recorded as a hit, and the reservation is retried
/// without it, so a monitor policy counts exactly the calls it would have let through, as if enforced.
public final class GuardService<Store: GuardStore>: GatewayGuard, Sendable {
    public let store: Store
    public let counters: any GuardCounterStore
    public let pricer: any Pricer
    /// How long a reservation lives unless settled (`TALLY_GATEWAY_RESERVATION_TTL`): a crashed server's expire.
    public let reservationTTL: Duration
    public let logger: Logger
    let snapshots: GuardSnapshotCache
    /// Blocks and would-be blocks, flushed to the store by `GuardMaintenance`.
    public let hits: PolicyHitBuffer
    /// Budget counters raised to the rollups' spend on this replica: a period's first reservation waits for it.
    let floored = Mutex<Set<String>>([])
    private let blocked: [String: Counter]

    public init(
        store: Store, counters: any GuardCounterStore, pricer: any Pricer, reservationTTL: Duration = .seconds(900),
        cacheLifetime: Duration = .seconds(2), hitBufferLimit: Int = 10_000, logger: Logger
    ) {
        self.store = store
        self.counters = counters
        self.pricer = pricer
        self.reservationTTL = reservationTTL
        self.logger = logger
        snapshots = GuardSnapshotCache(lifetime: cacheLifetime)
        hits = PolicyHitBuffer(limit: hitBufferLimit)
        var blocked: [String: Counter] = [:]
        for rule in PolicyRule.allCases {
            for mode in PolicyMode.allCases {
                blocked["\(rule.rawValue)|\(mode.rawValue)"] = Counter(
                    label: "tally_gateway_blocked_total",
                    dimensions: [("rule", rule.rawValue), ("mode", mode.rawValue)])
            }
        }
        self.blocked = blocked
    }

    /// Forgets the organization's policies and budgets: the next call reads them again (the controllers call it after
    /// a change; other replicas see it within the cache's lifetime).
    public func invalidate(organizationID: String) {
        snapshots.invalidate(organizationID)
    }

    func snapshot(_ organizationID: String) async throws -> GuardSnapshot {
        try await snapshots.snapshot(organizationID, load: load) { error in
            logger.warning(
                "guard: policies could not be read; deciding by the last ones",
                metadata: ["organization": "\(organizationID)", "error": "\(String(reflecting: error))"])
        }
    }

    private func load(_ organizationID: String) async throws -> GuardSnapshot {
        async let policies = store.policies(organizationID: organizationID)
        async let budgets = store.budgets(organizationID: organizationID)
        async let organization = store.organization(id: organizationID)
        let org = try await organization
        let zone = org.flatMap { TimeZoneRules(identifier: $0.timeZone) } ?? .utc
        let cycleDay = org?.billingCycleDay ?? 1
        let now = Instant.now
        return GuardSnapshot(
            policies: try await policies,
            budgets: try await budgets.filter(GuardSnapshot.enforces).map {
                .init(budget: $0, period: $0.period(containing: now, zone: zone, billingCycleDay: cycleDay))
            },
            zone: zone, billingCycleDay: cycleDay)
    }

    // MARK: Settling

    public func settle(_ ticket: GuardTicket, _ outcome: GuardOutcome) async {
        if let id = ticket.reservationID {
            await settle(id, ticket.settlements, outcome, organizationID: ticket.organizationID)
        }
        if let id = ticket.monitorReservationID {
            await settle(id, ticket.monitorSettlements, outcome, organizationID: ticket.organizationID)
        }
    }

    private func settle(
        _ id: String, _ settlements: [String: GuardSettlement], _ outcome: GuardOutcome, organizationID: String
    ) async {
        let actual = settlements.mapValues { settlement -> Int64 in
            switch settlement {
            case .cost: max(0, outcome.cost?.nanos ?? 0)
            case .tokens: Int64(max(0, outcome.tokens))
            case .request: 1
            case .release: 0
            }
        }
        do {
            try await counters.settle(organizationID: organizationID, id: id, actual: actual)
        } catch {
            // Ids only: the reservation expires on its own and frees what it held.
            logger.warning(
                "guard: settling failed; the reservation will expire",
                metadata: ["organization": "\(organizationID)", "reservation": "\(id)", "error": "\(error)"])
        }
    }

    // MARK: Hits

    func record(_ hit: PolicyHit) {
        hits.append(hit)
        blocked["\(hit.rule.rawValue)|\(hit.mode.rawValue)"]?.increment()
    }
}

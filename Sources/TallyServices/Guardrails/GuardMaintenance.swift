import Logging
import ServiceLifecycle
import TallyCore

/// The guard's upkeep, every `interval` on every replica (they need no lock: each step is safe to repeat): releases
/// reservations past their expiry (a crashed server's), raises enforced budgets' counters to the rollups' spend of
/// their current period (API and sync spend counts against them too), writes the buffered policy hits, and records a
/// `policy_block` alert per policy or budget and hour for enforced blocks (the alert's unique key makes it once across
/// replicas).
public struct GuardMaintenance<Store: GuardStore & AlertStore>: Service {
    public let service: GuardService<Store>
    public let interval: Duration
    /// Starts delivery at once (the deliverer's `wake()`) after an alert was recorded.
    public let wakeDelivery: @Sendable () -> Void
    public let logger: Logger

    public init(
        service: GuardService<Store>, interval: Duration = .seconds(5),
        wakeDelivery: @escaping @Sendable () -> Void = {}, logger: Logger
    ) {
        self.service = service
        self.interval = interval
        self.wakeDelivery = wakeDelivery
        self.logger = logger
    }

    var store: Store { service.store }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await round(at: .now)
        }
        // What was blocked before the stop is still written.
        await flushHits(at: .now)
    }

    /// One pass at `now`; never throws (each step logs its failure and the next pass tries again).
    public func round(at now: Instant) async {
        do {
            let expired = try await service.counters.expireReservations(now: now)
            if expired > 0 { logger.info("guard: reservations expired", metadata: ["count": "\(expired)"]) }
        } catch {
            logger.warning("guard: expiring reservations failed", metadata: ["error": "\(error)"])
        }
        await raiseBudgetFloors(at: now)
        await flushHits(at: now)
    }

    /// Every enforced budget's current period counter, raised to the spend the rollups hold.
    func raiseBudgetFloors(at now: Instant) async {
        let budgets: [Budget]
        do {
            budgets = try await store.enabledBudgets().filter(GuardSnapshot.enforces)
        } catch {
            logger.warning("guard: reading budgets failed", metadata: ["error": "\(error)"])
            return
        }
        var organizations: [String: Organization?] = [:]
        for budget in budgets {
            do {
                if organizations[budget.organizationID] == nil {
                    organizations[budget.organizationID] = .some(
                        try await store.organization(id: budget.organizationID))
                }
                let organization = organizations[budget.organizationID] ?? nil
                let zone = organization.flatMap { TimeZoneRules(identifier: $0.timeZone) } ?? .utc
                guard
                    let period = budget.period(
                        containing: now, zone: zone, billingCycleDay: organization?.billingCycleDay ?? 1)
                else { continue }
                try await service.raiseFloor(of: budget, period: period, zone: zone)
            } catch {
                logger.warning(
                    "guard: raising a budget's floor failed", metadata: ["budget": "\(budget.id)", "error": "\(error)"])
            }
        }
    }

    /// Records the alerts the enforced hits call for, then the hits; on a failure they go back in the buffer for the
    /// next pass (alerts are keyed, so trying them again records nothing twice).
    func flushHits(at now: Instant) async {
        let (hits, dropped) = service.hits.take()
        if dropped > 0 { logger.warning("guard: policy hits dropped (buffer full)", metadata: ["count": "\(dropped)"]) }
        guard !hits.isEmpty else { return }
        do {
            try await recordAlerts(for: hits.filter { $0.mode == .enforce }, at: now)
            try await store.recordPolicyHits(hits)
        } catch {
            service.hits.putBack(hits)
            logger.warning(
                "guard: writing policy hits failed; will retry",
                metadata: ["count": "\(hits.count)", "error": "\(error)"])
        }
    }
}

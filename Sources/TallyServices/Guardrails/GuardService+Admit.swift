import Logging
import Synchronization
import TallyCore

extension GuardService {
    public func admit(_ call: GuardedCall) async throws -> GuardDecision {
        let snapshot = try await snapshot(call.organizationID)
        let policies = snapshot.policies.filter { GuardScope.covers($0.scope, call) }
        var budgets: [(budget: Budget, period: BudgetPeriod)] = []
        for entry in snapshot.budgets where GuardScope.covers(entry.budget.scope, call) {
            if let period = snapshot.period(of: entry, at: call.at) { budgets.append((entry.budget, period)) }
        }
        if policies.isEmpty && budgets.isEmpty { return .proceed(.none(call.organizationID)) }

        let needsCost = !budgets.isEmpty || policies.contains { $0.rules.maxCostPerRequest != nil }
        let estimate = GuardEstimate(call, policies: policies, pricer: pricer, needsCost: needsCost)

        // Static rules: every policy is judged (each monitor policy records what it would have blocked); the first
        // enforced violation answers the call.
        var block: PolicyBlock?
        var violated: Set<String> = []
        for policy in policies {
            guard let violation = Self.staticViolation(policy, call, estimate) else { continue }
            violated.insert(policy.id)
            if policy.mode == .monitor || block == nil { record(hit(violation, policy.mode, call)) }
            if policy.mode == .enforce, block == nil { block = violation }
        }
        if let block { return .block(block) }
        // An enforced budget needs the call's worst case: a call the catalog cannot price (an unpriced model, or none
        // named: an image or audio endpoint, a body Tally could not read) could cost anything, so it is refused.
        if let (budget, period) = budgets.first, estimate.cost == nil {
            let block = GuardMessages.unbounded(budget, period: period, model: call.model)
            record(hit(block, .enforce, call))
            return .block(block)
        }

        // A monitor policy counts only the calls it would have let through: not one its own static rules refused.
        var enforced = GuardHoldPlan()
        var monitored = GuardHoldPlan()
        for policy in policies where !violated.contains(policy.id) {
            if policy.mode == .enforce {
                enforced.add(policy, call, estimate)
            } else {
                monitored.add(policy, call, estimate)
            }
        }
        for (budget, period) in budgets { enforced.add(budget, period, estimate) }

        var ticket = GuardTicket.none(call.organizationID)
        if !enforced.holds.isEmpty {
            try await raiseFloors(of: budgets, zone: snapshot.zone)
            let id = Identifier.make("rsv")
            let answer = try await counters.reserve(
                organizationID: call.organizationID, id: id, holds: enforced.holds, expiresAt: expiry(call.at))
            if case .refused(let index, let counter) = answer {
                let block = enforced.block(index, counter, call, estimate)
                record(hit(block, .enforce, call))
                return .block(block)
            }
            ticket.reservationID = id
            ticket.settlements = enforced.settlements
        }
        if !monitored.holds.isEmpty, let id = await reserveMonitored(monitored, call, estimate) {
            ticket.monitorReservationID = id
            ticket.monitorSettlements = monitored.settlements
        }
        return .proceed(ticket)
    }

    private func expiry(_ at: Instant) -> Instant {
        let (seconds, attoseconds) = reservationTTL.components
        return Instant(microseconds: at.microseconds + seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
    }

    /// Reserves the monitor policies' holds; each one refused is a would-be block, recorded, and the rest is tried
    /// again without it. A store failure here is logged and the call goes on: a dry run never stops a call.
    private func reserveMonitored(_ plan: GuardHoldPlan, _ call: GuardedCall, _ estimate: GuardEstimate) async
        -> String?
    {
        var plan = plan
        let id = Identifier.make("rsv")
        do {
            while !plan.holds.isEmpty {
                let answer = try await counters.reserve(
                    organizationID: call.organizationID, id: id, holds: plan.holds, expiresAt: expiry(call.at))
                guard case .refused(let index, let counter) = answer else { return id }
                record(hit(plan.block(index, counter, call, estimate), .monitor, call))
                plan.remove(index)
            }
        } catch {
            logger.warning(
                "guard: monitor reservation failed", metadata: ["organization": "\(call.organizationID)"])
        }
        return nil
    }

    /// Before a budget period's first reservation on this replica, its counter is raised to the spend the rollups
    /// already hold (API and sync spend, earlier gateway calls), so a restarted server does not start from zero.
    func raiseFloors(of budgets: [(budget: Budget, period: BudgetPeriod)], zone: TimeZoneRules) async throws {
        for (budget, period) in budgets {
            let marker = budget.organizationID + "|" + GuardKeys.budget(budget.id, firstDay: period.firstDay)
            if floored.withLock({ $0.contains(marker) }) { continue }
            try await raiseFloor(of: budget, period: period, zone: zone)
        }
    }

    /// Raises one budget period's counter to the rollups' spend and remembers that this replica did.
    func raiseFloor(of budget: Budget, period: BudgetPeriod, zone: TimeZoneRules) async throws {
        let key = GuardKeys.budget(budget.id, firstDay: period.firstDay)
        let spent = try await store.observedSpend(of: budget, in: period.range, zone: zone)
        try await counters.raiseSettled(
            organizationID: budget.organizationID, key: key, floor: spent.nanos,
            counterExpiresAt: GuardHoldPlan.budgetCounterExpiry(period))
        floored.withLock {
            // One marker per budget and period: a long-running server starts over rather than grow without end.
            if $0.count >= 100_000 { $0.removeAll() }
            $0.insert(budget.organizationID + "|" + key)
        }
    }

    func hit(_ block: PolicyBlock, _ mode: PolicyMode, _ call: GuardedCall) -> PolicyHit {
        PolicyHit(
            organizationID: call.organizationID, policyID: block.policyID, budgetID: block.budgetID, rule: block.rule,
            mode: mode, at: call.at, projectID: call.projectID, model: call.model, message: block.message)
    }

    /// The first rule of a policy the request breaks by itself: a denied model (deny wins), a model outside the allow
    /// list (a call naming none included), `max_tokens` above the cap, a worst-case cost above the cap (or unpriced).
    static func staticViolation(_ policy: Policy, _ call: GuardedCall, _ estimate: GuardEstimate) -> PolicyBlock? {
        let rules = policy.rules
        if let deny = rules.modelsDeny {
            // A call naming no model Tally can read might name a denied one.
            guard let model = call.model else {
                return GuardMessages.policy(
                    policy, .modelsDeny, GuardMessages.modelsAllow(deny, model: nil, denied: true))
            }
            if let pattern = GuardScope.anyGlob(deny, matches: model) {
                return GuardMessages.policy(policy, .modelsDeny, GuardMessages.modelsDeny(pattern, model: model))
            }
        }
        if let allow = rules.modelsAllow, call.model.flatMap({ GuardScope.anyGlob(allow, matches: $0) }) == nil {
            return GuardMessages.policy(policy, .modelsAllow, GuardMessages.modelsAllow(allow, model: call.model))
        }
        if let limit = rules.maxOutputTokens {
            // Tally forwards the request as sent: without a `max_tokens` the provider's own default (often larger)
            // would apply, so the cap is only kept by requiring one.
            guard let requested = call.requestedMaxOutputTokens else {
                return GuardMessages.policy(
                    policy, .maxOutputTokens, "\(limit); the call sets no max_tokens: set one of at most \(limit)")
            }
            if requested > limit {
                return GuardMessages.policy(
                    policy, .maxOutputTokens, GuardMessages.maxOutputTokens(limit, requested: requested))
            }
        }
        if let limit = rules.maxCostPerRequest, estimate.cost.map({ $0 > limit }) ?? true {
            return GuardMessages.policy(
                policy, .maxCostPerRequest, GuardMessages.maxCost(limit, cost: estimate.cost, model: call.model))
        }
        return nil
    }
}

extension UsageStore {
    /// A budget's spend over a range from the rollups, as its status counts it (`BudgetService.spent`, observed ledger):
    /// the summary's total cost with the budget's scope as filters.
    func observedSpend(of budget: Budget, in range: TimeRange, zone: TimeZoneRules) async throws -> USD {
        try await summary(
            SummaryQuery(
                organizationID: budget.organizationID, from: range.from, to: range.to, timeZone: zone, grain: nil,
                dimensions: [], filters: budget.scope)
        ).totals.cost
    }
}

import TallyCore

extension BudgetService {
    /// A budget's figures at `now`, for the period its status shows (`Budget.statusPeriod`).
    package func status(of budget: Budget, at now: Instant) async throws -> BudgetStatus {
        guard let organization = try await store.organization(id: budget.organizationID) else {
            throw TallyError.notFound("organization")
        }
        return try await status(of: budget, at: now, organization: organization)
    }

    /// The same, with the organization already read (a list of budgets reads it once).
    package func status(of budget: Budget, at now: Instant, organization: Organization) async throws -> BudgetStatus {
        let zone = TimeZoneRules(identifier: organization.timeZone) ?? .utc
        let period = budget.statusPeriod(at: now, zone: zone, billingCycleDay: organization.billingCycleDay)
        let spent = try await spent(budget, in: period.range, zone: zone)
        let keys = budget.thresholds.map { budget.alertKey(firstDay: period.firstDay, threshold: $0) }
        let fired = try await store.firedAlerts(organizationID: budget.organizationID, keys: keys)
        return BudgetStatus(
            period: period.range, firstDay: period.firstDay, lastDay: period.lastDay, spent: spent,
            percent: Self.percent(spent, of: budget.amount),
            remaining: budget.amount > spent ? budget.amount - spent : .zero,
            thresholds: zip(budget.thresholds, keys).map { ($0, fired[$1]) })
    }

    /// Each budget with its status, the organization read once (a list, a page).
    package func withStatus(_ budgets: [Budget], organizationID: String, at now: Instant) async throws
        -> [(budget: Budget, status: BudgetStatus)]
    {
        guard let organization = try await store.organization(id: organizationID) else {
            throw TallyError.notFound("organization")
        }
        var out: [(budget: Budget, status: BudgetStatus)] = []
        for budget in budgets {
            out.append((budget, try await status(of: budget, at: now, organization: organization)))
        }
        return out
    }

    /// Spend in scope over the period, from the rollups (observed: `summary` reads whole hours from them) or the
    /// providers' cost reports, whose daily UTC buckets count when they start inside the period.
    func spent(_ budget: Budget, in range: TimeRange, zone: TimeZoneRules) async throws -> USD {
        switch budget.ledger {
        case .observed:
            let result = try await store.summary(
                SummaryQuery(
                    organizationID: budget.organizationID, from: range.from, to: range.to, timeZone: zone, grain: nil,
                    dimensions: [], filters: budget.scope))
            return result.totals.cost
        case .provider:
            let result = try await ledger.summary(
                org: budget.organizationID, from: range.from, to: range.to, grain: nil, dimensions: [],
                filters: budget.scope)
            return result.totals.providerCost
        }
    }

    /// spent / amount in percent, exact to two decimals (truncated, so 79.999 % shows "79.99" and not a threshold it
    /// has not reached); nil when the amount is zero.
    static func percent(_ spent: USD, of amount: USD) -> String? { AlertText.percent(spent, of: amount) }
}

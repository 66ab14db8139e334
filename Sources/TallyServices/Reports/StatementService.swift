import TallyAggregate
import TallyCore
import TallyDocuments
import TallyProviders

/// The dimensions a statement groups by, in the order a closed month's snapshot keeps them.
public enum StatementGroupings {
    public static let all: [UsageDimension] = [.project, .team, .user, .feature, .model]

    /// `group_by` as the API reads it; nil: by project.
    public static func parse(_ raw: String?) throws(TallyError) -> UsageDimension {
        guard let raw else { return .project }
        guard let d = UsageDimension(rawValue: raw), all.contains(d) else {
            throw .invalid([
                FieldProblem(field: "group_by", reason: "must be one of " + all.map(\.rawValue).joined(separator: ", "))
            ])
        }
        return d
    }
}

/// What statements read: usage, names, teams, budgets (their status), the providers' cost reports, closed months.
public typealias StatementStore = BudgetStore & AlertStore & AlertChannelStore & UsageStore & ProjectStore
    & OrganizationStore & ConnectionStore & ProviderSyncStore & TeamStore & PeriodStore

/// Period statements (issue 20): one `Statement` per period and grouping, from the same `store.summary` as the API's
/// summary (so their figures agree to the nano-dollar), or, for a closed month, the snapshot taken when it closed.
public struct StatementService<Store: StatementStore>: Sendable {
    public let store: Store
    let budgets: BudgetService<Store>

    package init(store: Store, budgets: BudgetService<Store>) {
        self.store = store
        self.budgets = budgets
    }

    static var groupings: [UsageDimension] { StatementGroupings.all }

    /// The statement a request asks for. A closed month answers with its snapshot.
    public func statement(
        period: String?, billingCycle: String?, groupBy: UsageDimension, organizationID: String, now: Instant = .now
    ) async throws -> Statement {
        let org = try await organization(organizationID)
        let zone = TimeZoneRules(identifier: org.timeZone) ?? .utc
        let p = try StatementPeriods.parse(
            period: period, billingCycle: billingCycle, zone: zone, cycleDay: org.billingCycleDay, now: now)
        if p.kind == .month, let closed = try await store.closedPeriod(organizationID: org.id, month: p.label) {
            return try Self.snapshot(closed, groupBy: groupBy)
        }
        return try await compute(p, groupBy: groupBy, organization: org, zone: zone, now: now)
    }

    func organization(_ id: String) async throws -> Organization {
        guard let org = try await store.organization(id: id) else { throw TallyError.notFound("organization") }
        return org
    }

    /// One grouping of a closed month, as it was written when it closed.
    static func snapshot(_ closed: ClosedPeriod, groupBy: UsageDimension) throws -> Statement {
        let json: JSONValue
        do { json = try JSONParser.parse(Array(closed.statements.utf8)) } catch {
            throw TallyError.unavailable("the statement of \(closed.month) could not be read")
        }
        guard let one = json[groupBy.rawValue] else {
            throw TallyError.unavailable("the statement of \(closed.month) has no grouping by \(groupBy.rawValue)")
        }
        if one == .null {
            // Closed while that grouping had more groups than a statement holds.
            throw TallyError.tooManyGroups(limit: SummaryAccumulator.maxGroups)
        }
        do { return try StatementCodec.decode(one) } catch {
            throw TallyError.unavailable("the statement of \(closed.month) could not be read")
        }
    }

    func compute(
        _ period: StatementPeriod, groupBy: UsageDimension, organization org: Organization, zone: TimeZoneRules,
        now: Instant, current: Bool = false
    ) async throws -> Statement {
        let previousPeriod = StatementPeriods.previous(period, zone: zone, cycleDay: org.billingCycleDay)
        func summary(_ p: StatementPeriod, _ dimensions: [UsageDimension], _ grain: TimeGrain?) async throws
            -> SummaryResult
        {
            var query = SummaryQuery(
                organizationID: org.id, from: p.range.from, to: p.range.to, timeZone: zone, grain: grain,
                dimensions: dimensions, filters: [:])
            query.current = current
            return try await store.summary(query)
        }
        let grouped = try await summary(period, [groupBy], nil)
        let previousGrouped = try await summary(previousPeriod, [groupBy], nil)
        let names = try await GroupNames(store: store, organizationID: org.id, dimension: groupBy)
        func raw(_ g: SummaryGroup) -> String? {
            let value: String?? = g.values[groupBy]
            return value.flatMap { $0 }
        }
        var previousCost: [String: USD] = [:]
        for g in previousGrouped.groups { previousCost[raw(g) ?? "", default: .zero] += g.metrics.cost }
        var groups: [StatementGroup] = []
        for g in grouped.groups {
            let value = raw(g)
            let key: String? = value.map(names.key)
            groups.append(
                StatementGroup(
                    key: key, name: key ?? names.none, metrics: g.metrics,
                    previousCost: previousCost[value ?? ""] ?? .zero
                ))
        }
        groups.sort { a, b in a.metrics.cost != b.metrics.cost ? a.metrics.cost > b.metrics.cost : a.name < b.name }
        return Statement(
            organizationName: org.name, timeZone: zone.identifier, period: period, groupBy: groupBy.rawValue,
            totals: grouped.totals, groups: groups, daily: try await daily(period, summary: summary),
            previous: StatementPrevious(
                label: previousPeriod.label, firstDay: previousPeriod.firstDay, lastDay: previousPeriod.lastDay,
                totals: previousGrouped.totals, daily: try await daily(previousPeriod, summary: summary)),
            budgets: try await budgetLines(period, organization: org, zone: zone, now: now),
            providerBilled: try await providerBilled(period, organizationID: org.id), closure: nil, generatedAt: now)
    }

    /// Every local day of the period with its cost, the days without usage at zero.
    private func daily(
        _ p: StatementPeriod,
        summary: (StatementPeriod, [UsageDimension], TimeGrain?) async throws -> SummaryResult
    ) async throws -> [StatementDay] {
        var cost: [String: USD] = [:]
        for g in try await summary(p, [], .day).groups { cost[g.period ?? "", default: .zero] += g.metrics.cost }
        var days: [StatementDay] = []
        var d = p.firstDay
        while d <= p.lastDay {
            days.append(StatementDay(date: d, cost: cost[d.description] ?? .zero))
            d = d.addingDays(1)
        }
        return days
    }

    /// Each budget whose period overlaps the statement's, with its status at the statement's end (or now, if sooner).
    private func budgetLines(_ p: StatementPeriod, organization org: Organization, zone: TimeZoneRules, now: Instant)
        async throws -> [StatementBudget]
    {
        let at = min(now, Instant(microseconds: p.range.to.microseconds - 1))
        let projects = Dictionary(
            try await store.projects(organizationID: org.id).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        var lines: [StatementBudget] = []
        for budget in try await store.budgets(organizationID: org.id) where budget.enabled {
            let status = try await budgets.status(of: budget, at: at, organization: org)
            guard status.period.from < p.range.to, p.range.from < status.period.to else { continue }
            let first = budget.thresholds.first ?? 100
            let state =
                status.spent >= budget.amount
                ? "exceeded" : Self.reached(status.spent, of: budget.amount, percent: first) ? "warning" : "ok"
            lines.append(
                StatementBudget(
                    name: budget.name, scope: Self.scopeWords(budget.scope, projects: projects),
                    period: "\(budget.period.rawValue) \(status.firstDay) – \(status.lastDay)", amount: budget.amount,
                    spent: status.spent, status: state))
        }
        return lines
    }

    /// spent ≥ percent % of amount, in integers.
    static func reached(_ spent: USD, of amount: USD, percent: Int) -> Bool {
        Int128(spent.nanos) * 100 >= Int128(amount.nanos) * Int128(percent)
    }

    static func scopeWords(_ scope: BudgetScope, projects: [String: String]) -> String {
        guard !scope.isEmpty else { return "whole organization" }
        return scope.keys.sorted().map { d in
            let values = (scope[d] ?? []).map { d == .project ? projects[$0] ?? $0 : $0 }
            return d.rawValue + " " + values.joined(separator: ", ")
        }.joined(separator: "; ")
    }

    /// What the providers' cost reports billed for the period's UTC days; nil when no cost report covers it.
    private func providerBilled(_ p: StatementPeriod, organizationID: String) async throws -> USD? {
        var total: USD?
        for c in try await store.connections(organizationID: organizationID)
        where c.provider.api.organizationReports != nil {
            for item in try await store.providerCosts(
                organizationID: organizationID, connectionID: c.id, from: p.range.from, to: p.range.to)
            {
                // Checked: the rows are a provider's report, or an admin's own server at a connection's base_url.
                guard let sum = (total ?? .zero).adding(item.row.amount) else {
                    throw TallyError.totalTooLarge([
                        FieldProblem(
                            field: "provider_billed_usd", reason: "adds up to more than Tally can count exactly")
                    ])
                }
                total = sum
            }
        }
        return total
    }
}

/// How a grouping's raw values read in a statement: projects and teams by name, the rest as stored.
struct GroupNames {
    var names: [String: String] = [:]
    let none: String

    init(store: some ProjectStore & TeamStore, organizationID: String, dimension: UsageDimension) async throws {
        switch dimension {
        case .project:
            for p in try await store.projects(organizationID: organizationID) { names[p.id] = p.name }
            none = "no project"
        case .team:
            for t in try await store.teams(organizationID: organizationID) { names[t.id] = t.name }
            none = "no team"
        default:
            none = "no \(dimension.rawValue)"
        }
    }

    func key(_ raw: String) -> String { names[raw] ?? raw }
}

// MARK: Closing a month

extension StatementService {
    /// Closes a month that has ended: its statements (every grouping) are computed now, numbered and kept; from then
    /// on they never change, and re-pricing refuses its events until it is reopened.
    public func close(month: String, principal: Principal, now: Instant = .now) async throws -> ClosedPeriod {
        let org = try await organization(principal.organizationID)
        let zone = TimeZoneRules(identifier: org.timeZone) ?? .utc
        let period = try Self.month(month, zone: zone)
        guard period.range.to <= now else {
            throw TallyError.conflict(
                "\(period.label) has not ended yet: a month can be closed from its last day's end")
        }
        let closing = try await store.closingCount(organizationID: org.id, month: period.label) + 1
        // Read before the snapshot: a re-pricing applied while it is computed makes the closing refuse (409).
        let repricings = try await store.repricingCount(organizationID: org.id)
        let closure = StatementClosure(
            number: ClosedPeriod.number(month: period.label, closing: closing), closedAt: now,
            closedBy: principal.closedBy)
        var w = JSONWriter()
        w.beginObject()
        for grouping in Self.groupings {
            w.key(grouping.rawValue)
            do {
                // A closed month keeps what it reads: from the primary, never a lagging replica.
                var statement = try await compute(
                    period, groupBy: grouping, organization: org, zone: zone, now: now, current: true)
                statement.closure = closure
                StatementCodec.write(statement, into: &w)
            } catch TallyError.tooManyGroups {
                // More users (say) than a statement holds: that grouping is not kept; the month still closes.
                w.null()
            }
        }
        w.endObject()
        let closed = ClosedPeriod(
            organizationID: org.id, month: period.label, number: closure.number, range: period.range, closedAt: now,
            closedBy: closure.closedBy, statements: w.text)
        try await store.closePeriod(
            closed, closing: closing, repricings: repricings,
            audit: .make(
                organizationID: org.id, actor: principal.actor, action: "period.close",
                detail: [("month", .string(period.label)), ("number", .string(closure.number))], at: now))
        return closed
    }

    /// Reopens a closed month: its statements are computed live again and its events may be re-priced.
    public func reopen(month: String, principal: Principal, now: Instant = .now) async throws {
        let org = try await organization(principal.organizationID)
        let period = try Self.month(month, zone: TimeZoneRules(identifier: org.timeZone) ?? .utc)
        guard let closed = try await store.closedPeriod(organizationID: org.id, month: period.label) else {
            throw TallyError.notFound("closed period '\(period.label)'")
        }
        try await store.reopenPeriod(
            organizationID: org.id, month: period.label,
            audit: .make(
                organizationID: org.id, actor: principal.actor, action: "period.reopen",
                detail: [("month", .string(period.label)), ("number", .string(closed.number))], at: now))
    }

    public func closedPeriods(organizationID: String) async throws -> [ClosedPeriod] {
        try await store.closedPeriods(organizationID: organizationID)
    }

    static func month(_ text: String, zone: TimeZoneRules) throws(TallyError) -> StatementPeriod {
        guard let first = StatementPeriods.month(text) else {
            throw .invalid([FieldProblem(field: "month", reason: "must be a month: YYYY-MM between 2000 and 2199")])
        }
        return StatementPeriods.month(first, zone: zone)
    }
}

extension Principal {
    /// Who closed a month, as its statement says: the member's email, or the token's name.
    var closedBy: String {
        if let user { return user.email }
        return token.map { "token " + ($0.name ?? $0.id) } ?? actor
    }
}

import TallyCore

/// A period statement: everything its JSON, CSV, text and PDF forms show, computed once by the statement service
/// (or read back from the snapshot taken when its month was closed), so the four forms cannot disagree.
public struct Statement: Sendable, Equatable {
    public var organizationName: String
    /// The IANA zone the period's days are counted in.
    public var timeZone: String
    public var period: StatementPeriod
    /// The dimension the groups are by: `project`, `team`, `user`, `feature` or `model`.
    public var groupBy: String
    public var totals: UsageMetrics
    /// Highest cost first, then by name. Their metrics add up to `totals` exactly.
    public var groups: [StatementGroup]
    /// Every local day of the period, days without usage included, in order.
    public var daily: [StatementDay]
    public var previous: StatementPrevious
    public var budgets: [StatementBudget]
    /// What the providers' cost reports billed for the period, when a connection's cost report is synced; nil
    /// when none is.
    public var providerBilled: USD?
    /// Set when the period is a closed month: the statement is then the snapshot taken at closing.
    public var closure: StatementClosure?
    public var generatedAt: Instant

    public init(
        organizationName: String, timeZone: String, period: StatementPeriod, groupBy: String, totals: UsageMetrics,
        groups: [StatementGroup], daily: [StatementDay], previous: StatementPrevious, budgets: [StatementBudget],
        providerBilled: USD?, closure: StatementClosure?, generatedAt: Instant
    ) {
        self.organizationName = organizationName
        self.timeZone = timeZone
        self.period = period
        self.groupBy = groupBy
        self.totals = totals
        self.groups = groups
        self.daily = daily
        self.previous = previous
        self.budgets = budgets
        self.providerBilled = providerBilled
        self.closure = closure
        self.generatedAt = generatedAt
    }
}

public struct StatementPeriod: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case month, week, day
        case billingCycle = "billing_cycle"
    }
    public var kind: Kind
    /// As asked: `2026-11`, `2026-W47`, `2026-11-20`; a billing cycle by the month it starts in (`2026-11`).
    public var label: String
    public var firstDay: CivilDate
    /// Inclusive.
    public var lastDay: CivilDate
    /// `[local midnight of firstDay, local midnight after lastDay)`.
    public var range: TimeRange

    public init(kind: Kind, label: String, firstDay: CivilDate, lastDay: CivilDate, range: TimeRange) {
        self.kind = kind
        self.label = label
        self.firstDay = firstDay
        self.lastDay = lastDay
        self.range = range
    }
}

public struct StatementGroup: Sendable, Equatable {
    /// The group's value as the API filters by it (a project's or team's name, a user id, a model); nil for usage
    /// with no value (no team, no feature, no user).
    public var key: String?
    /// What a reader sees: the key, or "no team", "no feature", "no user".
    public var name: String
    public var metrics: UsageMetrics
    /// The same group's cost in the previous period (zero when it had none).
    public var previousCost: USD

    public init(key: String?, name: String, metrics: UsageMetrics, previousCost: USD) {
        self.key = key
        self.name = name
        self.metrics = metrics
        self.previousCost = previousCost
    }
}

public struct StatementDay: Sendable, Equatable {
    public var date: CivilDate
    public var cost: USD
    public init(date: CivilDate, cost: USD) {
        self.date = date
        self.cost = cost
    }
}

/// The period before, of the same kind (the month, week, day or cycle before).
public struct StatementPrevious: Sendable, Equatable {
    public var label: String
    public var firstDay: CivilDate
    public var lastDay: CivilDate
    public var totals: UsageMetrics
    /// Each local day of the previous period, in order.
    public var daily: [StatementDay]
    public init(label: String, firstDay: CivilDate, lastDay: CivilDate, totals: UsageMetrics, daily: [StatementDay]) {
        self.label = label
        self.firstDay = firstDay
        self.lastDay = lastDay
        self.totals = totals
        self.daily = daily
    }
}

/// A budget whose period overlaps the statement's, with its status when the statement was made.
public struct StatementBudget: Sendable, Equatable {
    public var name: String
    /// In words: "project web", "whole organization".
    public var scope: String
    /// The budget's own period in words and dates: "month 2026-11-01 – 2026-11-30".
    public var period: String
    public var amount: USD
    public var spent: USD
    /// `ok`, `warning` (past its first threshold) or `exceeded`.
    public var status: String
    public init(name: String, scope: String, period: String, amount: USD, spent: USD, status: String) {
        self.name = name
        self.scope = scope
        self.period = period
        self.amount = amount
        self.spent = spent
        self.status = status
    }
}

/// How a closed month's statement is numbered and who closed it.
public struct StatementClosure: Sendable, Equatable {
    /// `ST-2026-11-0003`: the month and the organization's count of closings, never reused.
    public var number: String
    public var closedAt: Instant
    /// The member's email (or the token's name) that closed it.
    public var closedBy: String
    public init(number: String, closedAt: Instant, closedBy: String) {
        self.number = number
        self.closedAt = closedAt
        self.closedBy = closedBy
    }
}

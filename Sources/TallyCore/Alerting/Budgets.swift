/// Budgets (issue 17): a spending limit over a scope and a period, in the organization's time zone.

public enum BudgetPeriodKind: String, Sendable, CaseIterable {
    case day, week, month
    case billingCycle = "billing_cycle"
    case custom
}

/// Which spend a budget counts: Tally's own estimate of the calls it saw, or what the providers' cost reports bill.
public enum BudgetLedger: String, Sendable, CaseIterable {
    case observed, provider
}

/// The usage a budget counts: for each dimension named, the values it takes (any of them); an empty scope is the
/// whole organization. Projects are held by id (the API speaks names and translates), the rest by value as events
/// carry them. Only project, feature, user, api_key, provider, model and environment are allowed.
public typealias BudgetScope = [UsageDimension: [String]]

public struct Budget: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var name: String
    public var scope: BudgetScope
    public var period: BudgetPeriodKind
    /// For `custom`: the first and last local day (inclusive).
    public var customFrom: CivilDate?
    public var customTo: CivilDate?
    public var amount: USD
    /// Percent of the amount at which an alert fires, ascending, each 1...1000.
    public var thresholds: [Int]
    public var ledger: BudgetLedger
    /// Alert channel ids (`ch_…`) a threshold alert is delivered to.
    public var channelIDs: [String]
    public var enabled: Bool
    /// Guardrails (a later issue): stop gateway calls in scope once the period's spend reaches the amount.
    public var enforce: Bool
    /// No alert fires for this budget before this instant.
    public var mutedUntil: Instant?
    /// The project whose monthly budget this is (`/api/v1/projects/{id}/budget`), else nil.
    public var projectBudgetOf: String?
    public var createdAt: Instant
    public var updatedAt: Instant

    public init(
        id: String, organizationID: String, name: String, scope: BudgetScope, period: BudgetPeriodKind,
        customFrom: CivilDate? = nil, customTo: CivilDate? = nil, amount: USD,
        thresholds: [Int] = Budget.defaultThresholds,
        ledger: BudgetLedger = .observed, channelIDs: [String] = [], enabled: Bool = true, enforce: Bool = false,
        mutedUntil: Instant? = nil, projectBudgetOf: String? = nil, createdAt: Instant, updatedAt: Instant
    ) {
        self.id = id
        self.organizationID = organizationID
        self.name = name
        self.scope = scope
        self.period = period
        self.customFrom = customFrom
        self.customTo = customTo
        self.amount = amount
        self.thresholds = thresholds
        self.ledger = ledger
        self.channelIDs = channelIDs
        self.enabled = enabled
        self.enforce = enforce
        self.mutedUntil = mutedUntil
        self.projectBudgetOf = projectBudgetOf
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public static let defaultThresholds = [80, 90, 100]
    public static let thresholdRange = 1...1000
    public static let scopeDimensions: [UsageDimension] = [
        .project, .feature, .user, .apiKey, .provider, .model, .environment,
    ]
}

/// A budget's figures for one period, as every budget answer carries them.
public struct BudgetStatus: Sendable, Equatable {
    /// The period `[from, to)` the figures are for, and its first and last local day.
    public var period: TimeRange
    public var firstDay: CivilDate
    public var lastDay: CivilDate
    public var spent: USD
    /// spent / amount in percent, exact to two decimals as text ("83.25"); nil when the amount is zero.
    public var percent: String?
    /// amount - spent, never below zero.
    public var remaining: USD
    /// Each threshold with when it fired in this period (nil: not yet).
    public var thresholds: [(percent: Int, firedAt: Instant?)]

    public init(
        period: TimeRange, firstDay: CivilDate, lastDay: CivilDate, spent: USD, percent: String?, remaining: USD,
        thresholds: [(percent: Int, firedAt: Instant?)]
    ) {
        self.period = period
        self.firstDay = firstDay
        self.lastDay = lastDay
        self.spent = spent
        self.percent = percent
        self.remaining = remaining
        self.thresholds = thresholds
    }

    public static func == (a: BudgetStatus, b: BudgetStatus) -> Bool {
        a.period == b.period && a.firstDay == b.firstDay && a.lastDay == b.lastDay && a.spent == b.spent
            && a.percent == b.percent && a.remaining == b.remaining
            && a.thresholds.map(\.percent) == b.thresholds.map(\.percent)
            && a.thresholds.map(\.firedAt) == b.thresholds.map(\.firedAt)
    }
}

public protocol BudgetStore: Sendable {
    /// Throws `conflict` when the organization already has a budget of that name.
    func createBudget(_ budget: Budget, audit: AuditRecord) async throws
    /// Replaces every field but id, organization and createdAt; throws `notFound`, `conflict` (name taken).
    func updateBudget(_ budget: Budget, audit: AuditRecord) async throws
    /// Throws `notFound`. The budget's alerts stay in the history.
    func deleteBudget(organizationID: String, id: String, audit: AuditRecord) async throws
    func budgets(organizationID: String) async throws -> [Budget]
    func budget(organizationID: String, id: String) async throws -> Budget?
    /// The monthly budget of a project (`projectBudgetOf`), if it has one.
    func projectBudget(organizationID: String, projectID: String) async throws -> Budget?
    /// Every organization's enabled budgets: the alert engine's work list, the one unscoped read of budgets.
    func enabledBudgets() async throws -> [Budget]
}

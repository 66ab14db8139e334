import TallyCore
import TallyForecast

/// The questions the forecast service answers and the shapes of its answers (issue 18): `GET /api/v1/forecast`,
/// `GET /api/v1/anomalies`, the Forecast page, the chart markers, the alert rules and the weekly digest read them.

public enum BudgetRisk: String, Sendable, CaseIterable {
    /// p90 of the period's end at or under the amount.
    case low
    /// p50 at or under the amount, p90 over it.
    case medium
    /// p50 over the amount.
    case high
}

public struct ForecastRequest: Sendable, Equatable {
    public var organizationID: String
    /// The scope (projects by id); ignored when `budgetID` is given (the budget's own scope counts).
    public var filters: DimensionFilters
    public var ledger: BudgetLedger
    /// Days forecast from today (`Forecaster.horizons`).
    public var horizon: Int
    /// A budget whose scope, ledger and period the forecast takes.
    public var budgetID: String?
    public var now: Instant

    public init(
        organizationID: String, filters: DimensionFilters = [:], ledger: BudgetLedger = .observed, horizon: Int = 30,
        budgetID: String? = nil, now: Instant
    ) {
        self.organizationID = organizationID
        self.filters = filters
        self.ledger = ledger
        self.horizon = horizon
        self.budgetID = budgetID
        self.now = now
    }
}

public struct DayCost: Sendable, Equatable {
    public var day: CivilDate
    public var cost: USD

    public init(day: CivilDate, cost: USD) {
        self.day = day
        self.cost = cost
    }
}

/// Where a budget's period ends against its amount.
public struct BudgetOutlook: Sendable, Equatable {
    public var budget: Budget
    public var risk: BudgetRisk
    /// The first day whose cumulative p50 (spent so far plus forecast) exceeds the amount, if within the period; a
    /// past day when the spend already crossed it.
    public var exceedDayP50: CivilDate?
    /// Days from today to `exceedDayP50` (0: today; negative: crossed that many days ago).
    public var daysUntilExceeded: Int?

    public init(budget: Budget, risk: BudgetRisk, exceedDayP50: CivilDate?, daysUntilExceeded: Int?) {
        self.budget = budget
        self.risk = risk
        self.exceedDayP50 = exceedDayP50
        self.daysUntilExceeded = daysUntilExceeded
    }
}

public struct ForecastAnswer: Sendable, Equatable {
    public var method: String
    /// Past local days, oldest first.
    public var history: [DayCost]
    /// From today, `horizon` days.
    public var forecast: [DayForecast]
    /// The period's last local day (the budget's period, else the current month) and the band of the period's total.
    public var periodEnd: (day: CivilDate, band: Quantiles)
    public var budget: BudgetOutlook?
    public var backtest: Backtest
    /// What today has cost so far (today is partial: `forecast`'s first day is today, its band never under this).
    public var spentToday: USD
    /// The period's first local day, and what was spent in it up to now (today included).
    public var periodStart: CivilDate?
    public var periodSpent: USD

    public init(
        method: String, history: [DayCost], forecast: [DayForecast], periodEnd: (day: CivilDate, band: Quantiles),
        budget: BudgetOutlook?, backtest: Backtest, spentToday: USD = .zero, periodStart: CivilDate? = nil,
        periodSpent: USD = .zero
    ) {
        self.method = method
        self.history = history
        self.forecast = forecast
        self.periodEnd = periodEnd
        self.budget = budget
        self.backtest = backtest
        self.spentToday = spentToday
        self.periodStart = periodStart
        self.periodSpent = periodSpent
    }

    public static func == (a: ForecastAnswer, b: ForecastAnswer) -> Bool {
        a.method == b.method && a.history == b.history && a.forecast == b.forecast && a.periodEnd.day == b.periodEnd.day
            && a.periodEnd.band == b.periodEnd.band && a.budget == b.budget && a.backtest == b.backtest
            && a.spentToday == b.spentToday && a.periodStart == b.periodStart && a.periodSpent == b.periodSpent
    }
}

public struct AnomalyRequest: Sendable, Equatable {
    public var organizationID: String
    /// The local days looked at, first and last inclusive.
    public var from: CivilDate
    public var to: CivilDate
    public var filters: DimensionFilters
    public var now: Instant

    public init(organizationID: String, from: CivilDate, to: CivilDate, filters: DimensionFilters = [:], now: Instant) {
        self.organizationID = organizationID
        self.from = from
        self.to = to
        self.filters = filters
        self.now = now
    }
}

/// A value whose change explains an anomaly: its cost that day against its usual day.
public struct AnomalyContributor: Sendable, Equatable {
    public var dimension: UsageDimension
    public var value: String
    public var cost: USD
    public var baseline: USD
    /// cost − baseline (negative when it fell).
    public var delta: USD

    public init(dimension: UsageDimension, value: String, cost: USD, baseline: USD, delta: USD) {
        self.dimension = dimension
        self.value = value
        self.cost = cost
        self.baseline = baseline
        self.delta = delta
    }
}

public struct Anomaly: Sendable, Equatable {
    public var day: CivilDate
    /// The scope the day is unusual for: nil for the organization (within the request's filters), else one
    /// dimension's value (projects by id).
    public var dimension: UsageDimension?
    public var value: String?
    public var cost: USD
    /// The band the day was expected in (forecast from the days before it).
    public var expected: Quantiles
    public var contributors: [AnomalyContributor]

    public init(
        day: CivilDate, dimension: UsageDimension?, value: String?, cost: USD, expected: Quantiles,
        contributors: [AnomalyContributor]
    ) {
        self.day = day
        self.dimension = dimension
        self.value = value
        self.cost = cost
        self.expected = expected
        self.contributors = contributors
    }
}

/// What pages, alert rules and the digest ask of forecasts.
public protocol ForecastSource: Sendable {
    func forecast(_ request: ForecastRequest) async throws -> ForecastAnswer
    func anomalies(_ request: AnomalyRequest) async throws -> [Anomaly]
}

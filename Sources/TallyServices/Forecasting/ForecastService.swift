import TallyCore
import TallyForecast

public typealias ForecastServiceStore = OrganizationStore & UsageStore & BudgetStore

/// Reads daily series from the rollups and asks `Forecaster`. (Contract commit: the month of the observed ledger
/// without budgets; budgets, the provider ledger and anomalies follow.)
public struct ForecastService<Store: ForecastServiceStore>: ForecastSource {
    public let store: Store

    public init(store: Store) {
        self.store = store
    }

    /// Days of history read for a forecast.
    public static var historyDays: Int { 182 }

    public func forecast(_ request: ForecastRequest) async throws -> ForecastAnswer {
        guard let organization = try await store.organization(id: request.organizationID) else {
            throw TallyError.notFound("organization")
        }
        let zone = TimeZoneRules(identifier: organization.timeZone) ?? .utc
        let today = zone.localDate(of: request.now)
        let first = today.addingDays(Int64(-Self.historyDays))
        let series = try await dailySeries(
            organizationID: organization.id, zone: zone, from: first, to: today, filters: request.filters)
        let result = Forecaster.forecast(series, horizon: request.horizon)
        let monthEnd = CivilDate(
            year: today.year, month: today.month, day: CivilDate.daysIn(month: today.month, year: today.year))
        let toMonthEnd = Forecaster.forecast(series, horizon: Int(monthEnd.daysSinceEpoch - today.daysSinceEpoch) + 1)
        let spentThisMonth = series.values.enumerated().filter { series.day($0.offset).month == today.month }
            .reduce(USD.zero) { $0 + $1.element }
        var end = toMonthEnd.days.last?.cumulative ?? .zero
        end = Quantiles(
            p1: end.p1 + spentThisMonth, p10: end.p10 + spentThisMonth, p50: end.p50 + spentThisMonth,
            p90: end.p90 + spentThisMonth, p99: end.p99 + spentThisMonth)
        return ForecastAnswer(
            method: result.method,
            history: series.values.enumerated().map { DayCost(day: series.day($0.offset), cost: $0.element) },
            forecast: result.days, periodEnd: (monthEnd, end), budget: nil, backtest: result.backtest)
    }

    public func anomalies(_ request: AnomalyRequest) async throws -> [Anomaly] { [] }

    /// Cost per local day over `[from, to)`, zeros where nothing was spent.
    func dailySeries(
        organizationID: String, zone: TimeZoneRules, from: CivilDate, to: CivilDate, filters: DimensionFilters
    ) async throws -> DailySeries {
        let result = try await store.summary(
            SummaryQuery(
                organizationID: organizationID, from: zone.startOfDay(from), to: zone.startOfDay(to), timeZone: zone,
                grain: .day, dimensions: [], filters: filters))
        var values = [USD](repeating: .zero, count: max(Int(to.daysSinceEpoch - from.daysSinceEpoch), 0))
        for group in result.groups {
            guard let label = group.period, let day = CivilDate(parsing: label) else { continue }
            let index = Int(day.daysSinceEpoch - from.daysSinceEpoch)
            if values.indices.contains(index) { values[index] += group.metrics.cost }
        }
        return DailySeries(start: from, values: values)
    }
}

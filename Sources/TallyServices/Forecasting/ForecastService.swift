import TallyCore
import TallyForecast
import TallyPrice

public typealias ForecastServiceStore = OrganizationStore & UsageStore & BudgetStore & AlertStore & ConnectionStore
    & ProviderSyncStore & ProjectStore

/// Reads daily series from the rollups (or the providers' reports) and asks `Forecaster`: where a scope's period
/// ends, and whether a budget's amount is crossed on the way.
///
/// Today is partial: the series the engine sees ends with yesterday, and today's forecast band is raised to what is
/// already spent today (a quantile under it is replaced by it, and every later cumulative quantile by the same
/// amount), so today's p50 is never under what was spent. The period's end is what was spent in the period before
/// today plus the cumulative forecast from today to the period's last local day.
public struct ForecastService<Store: ForecastServiceStore>: ForecastSource {
    public let store: Store
    let ledger: LedgerService<Store>

    /// `pricer` names models for the provider ledger as the summary does (the server passes its own).
    public init(store: Store, pricer: CatalogPricer = CatalogPricer()) {
        self.store = store
        ledger = LedgerService(store: store, pricer: pricer)
    }

    /// Days of history the engine sees.
    public static var historyDays: Int { 182 }
    /// The furthest back a period's spend is read (a custom budget that began long ago).
    static var longestPeriodDays: Int { 3700 }

    public func forecast(_ request: ForecastRequest) async throws -> ForecastAnswer {
        guard Forecaster.horizons.contains(request.horizon) else {
            throw TallyError.invalid([
                FieldProblem(
                    field: "horizon",
                    reason:
                        "must be an integer from \(Forecaster.horizons.lowerBound) to \(Forecaster.horizons.upperBound)"
                )
            ])
        }
        guard let organization = try await store.organization(id: request.organizationID) else {
            throw TallyError.notFound("organization")
        }
        let zone = TimeZoneRules(identifier: organization.timeZone) ?? .utc
        let today = zone.localDate(of: request.now)
        var (filters, ledgerKind) = (request.filters, request.ledger)
        var budget: Budget?
        let period: BudgetPeriod
        if let id = request.budgetID {
            guard let found = try await store.budget(organizationID: organization.id, id: id) else {
                throw TallyError.notFound("budget '\(id)'")
            }
            budget = found
            (filters, ledgerKind) = (found.scope, found.ledger)
            period = found.statusPeriod(at: request.now, zone: zone, billingCycleDay: organization.billingCycleDay)
        } else {
            let first = CivilDate(year: today.year, month: today.month, day: 1)
            period = BudgetPeriod(firstDay: first, lastDay: first.addingMonths(1).addingDays(-1), zone: zone)
        }
        let historyStart = today.addingDays(Int64(-Self.historyDays))
        let readStart = min(historyStart, max(period.firstDay, today.addingDays(Int64(-Self.longestPeriodDays))))
        let read = try await dailySeries(
            organizationID: organization.id, zone: zone, ledger: ledgerKind, from: readStart, to: today.addingDays(1),
            filters: filters)
        let history = read.suffix(from: historyStart, to: today)
        let spentToday = read.values.last ?? .zero
        // Forecast at least to the period's last day (the engine's longest horizon at most).
        let toPeriodEnd = Int(period.lastDay.daysSinceEpoch - today.daysSinceEpoch) + 1
        let steps = min(max(request.horizon, toPeriodEnd), Forecaster.horizons.upperBound)
        let result = Forecaster.forecast(history, horizon: steps)
        let days = Self.raisingToday(result.days, spentToday: spentToday)
        let end = Self.periodEnd(period, today: today, read: read, days: days)
        return ForecastAnswer(
            method: result.method,
            history: history.values.enumerated().map { DayCost(day: history.day($0.offset), cost: $0.element) },
            forecast: Array(days.prefix(request.horizon)), periodEnd: (end.day, end.band),
            budget: budget.map {
                Self.outlook($0, period: period, today: today, read: read, days: days, end: end.band)
            },
            backtest: result.backtest, spentToday: spentToday, periodStart: period.firstDay,
            periodSpent: read.sum(from: period.firstDay, to: min(period.lastDay, today).addingDays(1)))
    }

    /// Today's band raised to what is already spent today, and every cumulative band after it by as much.
    static func raisingToday(_ days: [DayForecast], spentToday: USD) -> [DayForecast] {
        guard let first = days.first, spentToday > .zero else { return days }
        let raised = first.band.map { max($0, spentToday) }
        let lift = first.band.zip(raised) { old, new in new - old }
        return days.enumerated().map { index, day in
            DayForecast(
                day: day.day, band: index == 0 ? raised : day.band,
                cumulative: day.cumulative.zip(lift, +).ordered)
        }
    }

    /// The period's last day and the band of its total: spent before today plus the cumulative forecast to the last
    /// day. A period over before today is its spend exactly; one that begins after today counts the forecast of its
    /// own days only (the cumulative band at its end less the one before its first day, per quantile).
    static func periodEnd(_ period: BudgetPeriod, today: CivilDate, read: DailySeries, days: [DayForecast]) -> (
        day: CivilDate, band: Quantiles
    ) {
        let spentBefore = read.sum(from: period.firstDay, to: today)
        func cumulative(_ day: CivilDate) -> Quantiles {
            let index = Int(day.daysSinceEpoch - today.daysSinceEpoch)
            guard index >= 0, let last = days.indices.last else { return .zero }
            return days[min(index, last)].cumulative
        }
        guard period.lastDay >= today else {
            let spent = read.sum(from: period.firstDay, to: period.lastDay.addingDays(1))
            return (period.lastDay, Quantiles.zero.map { _ in spent })
        }
        var band = cumulative(period.lastDay)
        if period.firstDay > today {
            band = band.zip(cumulative(period.firstDay.addingDays(-1))) { max($0 - $1, .zero) }.ordered
        }
        return (period.lastDay, band.map { $0 + spentBefore })
    }

    /// The budget's risk and the first day the cumulative p50 passes its amount: a day already past when the spend
    /// crossed it before today (`daysUntilExceeded` then negative), else a forecast day within the period.
    static func outlook(
        _ budget: Budget, period: BudgetPeriod, today: CivilDate, read: DailySeries, days: [DayForecast],
        end: Quantiles
    ) -> BudgetOutlook {
        let amount = budget.amount
        let risk: BudgetRisk = end.p90 <= amount ? .low : end.p50 <= amount ? .medium : .high
        var crossed: CivilDate?
        var running = USD.zero
        var day = max(period.firstDay, read.start)
        while crossed == nil && day < min(today, period.lastDay.addingDays(1)) {
            running += read.value(on: day)
            if running > amount { crossed = day }
            day = day.addingDays(1)
        }
        if crossed == nil && period.lastDay >= today {
            let before = read.sum(from: period.firstDay, to: today)
            let lastOffset = Int(period.lastDay.daysSinceEpoch - today.daysSinceEpoch)
            let firstOffset = Int(period.firstDay.daysSinceEpoch - today.daysSinceEpoch)
            let beforeStart = firstOffset > 0 ? days[min(firstOffset, days.count) - 1].cumulative.p50 : .zero
            for (offset, d) in days.enumerated() where offset >= firstOffset && offset <= lastOffset {
                if before + d.cumulative.p50 - beforeStart > amount {
                    crossed = d.day
                    break
                }
            }
        }
        return BudgetOutlook(
            budget: budget, risk: risk, exceedDayP50: crossed,
            daysUntilExceeded: crossed.map { Int($0.daysSinceEpoch - today.daysSinceEpoch) })
    }

    /// Cost per local day over `[from, to)`, zeros where nothing was spent. The provider ledger's days are the
    /// reports' UTC days.
    func dailySeries(
        organizationID: String, zone: TimeZoneRules, ledger kind: BudgetLedger = .observed, from: CivilDate,
        to: CivilDate, filters: DimensionFilters
    ) async throws -> DailySeries {
        let count = max(Int(to.daysSinceEpoch - from.daysSinceEpoch), 0)
        let result: SummaryResult
        switch kind {
        case .observed:
            result = try await store.summary(
                SummaryQuery(
                    organizationID: organizationID, from: zone.startOfDay(from), to: zone.startOfDay(to),
                    timeZone: zone, grain: .day, dimensions: [], filters: filters))
        case .provider:
            result = try await ledger.summary(
                org: organizationID, from: zone.startOfDay(from), to: zone.startOfDay(to), grain: .day, dimensions: [],
                filters: filters)
        }
        var values = [USD](repeating: .zero, count: count)
        for group in result.groups {
            guard let label = group.period, let day = CivilDate(parsing: label) else { continue }
            let index = Int(day.daysSinceEpoch - from.daysSinceEpoch)
            if values.indices.contains(index) {
                values[index] += kind == .observed ? group.metrics.cost : group.metrics.providerCost
            }
        }
        return DailySeries(start: from, values: values)
    }
}

extension DailySeries {
    /// The value of one day (zero outside the series).
    func value(on day: CivilDate) -> USD {
        let index = Int(day.daysSinceEpoch - start.daysSinceEpoch)
        return values.indices.contains(index) ? values[index] : .zero
    }

    /// The sum over `[from, to)` of the days the series has.
    func sum(from: CivilDate, to: CivilDate) -> USD {
        var total = USD.zero
        var day = max(from, start)
        while day < min(to, end) {
            total += value(on: day)
            day = day.addingDays(1)
        }
        return total
    }

    /// The days `[from, to)` of this series (which must hold them).
    func suffix(from: CivilDate, to: CivilDate) -> DailySeries {
        let lower = max(Int(from.daysSinceEpoch - start.daysSinceEpoch), 0)
        let upper = min(max(Int(to.daysSinceEpoch - start.daysSinceEpoch), lower), values.count)
        return DailySeries(start: start.addingDays(Int64(lower)), values: Array(values[lower..<upper]))
    }
}

extension Quantiles {
    func map(_ transform: (USD) -> USD) -> Quantiles {
        Quantiles(p1: transform(p1), p10: transform(p10), p50: transform(p50), p90: transform(p90), p99: transform(p99))
    }

    func zip(_ other: Quantiles, _ combine: (USD, USD) -> USD) -> Quantiles {
        Quantiles(
            p1: combine(p1, other.p1), p10: combine(p10, other.p10), p50: combine(p50, other.p50),
            p90: combine(p90, other.p90), p99: combine(p99, other.p99))
    }

    /// Each quantile at least the one below it (shifts of different sizes must not cross them).
    var ordered: Quantiles {
        let p10 = max(self.p10, p1)
        let p50 = max(self.p50, p10)
        let p90 = max(self.p90, p50)
        return Quantiles(p1: p1, p10: p10, p50: p50, p90: p90, p99: max(self.p99, p90))
    }
}

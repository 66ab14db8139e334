import TallyCore

/// Forecasts (issue 18): pure domain code over a daily cost series, no I/O. The statistics run in `Double` (a
/// forecast is an estimate, labelled as one); what leaves this module is exact `USD`, never below zero.

/// Cost per local day, consecutive days from `start` (a day without usage is a zero, not a gap).
public struct DailySeries: Sendable, Equatable {
    public var start: CivilDate
    public var values: [USD]

    public init(start: CivilDate, values: [USD]) {
        self.start = start
        self.values = values
    }

    /// The day after the last value: where a forecast starts.
    public var end: CivilDate { start.addingDays(Int64(values.count)) }
    public func day(_ index: Int) -> CivilDate { start.addingDays(Int64(index)) }
}

/// Quantiles of one day's (or a sum of days') cost.
public struct Quantiles: Sendable, Equatable {
    public var p1: USD
    public var p10: USD
    public var p50: USD
    public var p90: USD
    public var p99: USD

    public init(p1: USD, p10: USD, p50: USD, p90: USD, p99: USD) {
        self.p1 = p1
        self.p10 = p10
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
    }

    public static let zero = Quantiles(p1: .zero, p10: .zero, p50: .zero, p90: .zero, p99: .zero)
}

public struct DayForecast: Sendable, Equatable {
    public var day: CivilDate
    public var band: Quantiles
    /// The band of the sum of every forecast day up to and including this one (for "where the period ends").
    public var cumulative: Quantiles

    public init(day: CivilDate, band: Quantiles, cumulative: Quantiles) {
        self.day = day
        self.band = band
        self.cumulative = cumulative
    }
}

/// How the method did on the scope's own history (rolling origin): the errors its bands are calibrated from.
public struct Backtest: Sendable, Equatable {
    /// Mean absolute scaled error against the seasonal-naive forecast's in-sample error; nil without enough history.
    public var mase: Double?
    /// Mean absolute percentage error over days with non-zero cost; nil when there are none.
    public var mape: Double?
    /// Share (0...1) of held-out days inside the p10–p90 band; nil without enough history.
    public var coverageP10P90: Double?
    /// How many held-out days the figures are over.
    public var days: Int

    public init(mase: Double?, mape: Double?, coverageP10P90: Double?, days: Int) {
        self.mase = mase
        self.mape = mape
        self.coverageP10P90 = coverageP10P90
        self.days = days
    }
}

public struct ForecastResult: Sendable, Equatable {
    /// The method's name as the API shows it (e.g. "damped_trend_weekly").
    public var method: String
    /// `horizon` days from `series.end`.
    public var days: [DayForecast]
    public var backtest: Backtest

    public init(method: String, days: [DayForecast], backtest: Backtest) {
        self.method = method
        self.days = days
        self.backtest = backtest
    }
}

/// The expected band of one past day, forecast only from the days before it: what anomalies are judged against.
public struct ExpectedDay: Sendable, Equatable {
    public var day: CivilDate
    public var actual: USD
    public var band: Quantiles

    public init(day: CivilDate, actual: USD, band: Quantiles) {
        self.day = day
        self.actual = actual
        self.band = band
    }
}

public enum Forecaster {
    /// The horizons the API accepts.
    public static let horizons = 1...366
    /// The method's name (docs/forecasting.md describes it).
    public static let method = "robust_weekday_damped_trend"

    /// Forecasts `horizon` days after the series. Deterministic: the same series gives the same forecast. A series
    /// with little history gets wide bands, never a confident line.
    public static func forecast(_ series: DailySeries, horizon: Int) -> ForecastResult {
        let values = series.values.map(Dollars.of)
        let calibration = Calibration(values, count: values.count)
        let model = WeekdayModel(values, count: values.count)
        let scale = Calibration.scale(values, count: values.count)
        var days: [DayForecast] = []
        var total = 0.0
        var units = 0.0
        for h in stride(from: 1, through: horizon, by: 1) {
            let point = model.point(h)
            let unit = Calibration.unit(scale: scale, model: model, h)
            total += point
            units += unit
            let band = quantiles(calibration.daily.map { point + unit * $0 })
            let cumulative = quantiles(
                calibration.cumulative.map { total + units * $0 }, ceiling: Double(Int64.max / 4))
            days.append(DayForecast(day: series.end.addingDays(Int64(h - 1)), band: band, cumulative: cumulative))
        }
        return ForecastResult(method: method, days: days, backtest: calibration.backtest)
    }

    /// For each day from index `from` to the end of the series, its band as forecast from the days before it alone.
    /// The bands are calibrated once, on the days before `from`; each day refits only the cheap point model.
    public static func expected(_ series: DailySeries, from: Int) -> [ExpectedDay] {
        let values = series.values.map(Dollars.of)
        let first = min(max(from, 0), values.count)
        let calibration = Calibration(values, count: first)
        return (first..<values.count).map { index in
            let model = WeekdayModel(values, count: index)
            let point = model.point(1)
            let unit = Calibration.unit(scale: Calibration.scale(values, count: index), model: model, 1)
            return ExpectedDay(
                day: series.day(index), actual: series.values[index],
                band: quantiles(calibration.firstWeek.map { point + unit * $0 }))
        }
    }

    /// Five estimates as exact quantiles, in order and never below zero.
    static func quantiles(_ estimates: [Double], ceiling: Double = Dollars.ceilingNanos) -> Quantiles {
        let usd = estimates.sorted().map { Dollars.usd($0, ceiling: ceiling) }
        return Quantiles(p1: usd[0], p10: usd[1], p50: usd[2], p90: usd[3], p99: usd[4])
    }
}

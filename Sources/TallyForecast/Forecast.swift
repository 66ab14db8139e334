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

    /// Forecasts `horizon` days after the series. Deterministic: the same series gives the same forecast. A series
    /// with little history gets wide bands, never a confident line.
    public static func forecast(_ series: DailySeries, horizon: Int) -> ForecastResult {
        placeholderForecast(series, horizon: horizon)
    }

    /// For each day from index `from` to the end of the series, its band as forecast from the days before it alone.
    public static func expected(_ series: DailySeries, from: Int) -> [ExpectedDay] {
        (max(from, 0)..<series.values.count).map { index in
            let past = DailySeries(start: series.start, values: Array(series.values[..<index]))
            let band = placeholderForecast(past, horizon: 1).days.first?.band ?? .zero
            return ExpectedDay(day: series.day(index), actual: series.values[index], band: band)
        }
    }

    /// Seasonal naive with a band of ±100%: a stand-in until the measured method lands (contract commit).
    static func placeholderForecast(_ series: DailySeries, horizon: Int) -> ForecastResult {
        var days: [DayForecast] = []
        var total = USD.zero
        for h in 0..<max(horizon, 0) {
            let index = series.values.count - 7 + (h % 7)
            let p50 = index >= 0 && index < series.values.count ? series.values[index] : .zero
            total += p50
            let band = Quantiles(p1: .zero, p10: .zero, p50: p50, p90: p50 + p50, p99: p50 + p50 + p50)
            let cumulative = Quantiles(
                p1: .zero, p10: .zero, p50: total, p90: total + total, p99: total + total + total)
            days.append(DayForecast(day: series.end.addingDays(Int64(h)), band: band, cumulative: cumulative))
        }
        return ForecastResult(
            method: "seasonal_naive", days: days, backtest: Backtest(mase: nil, mape: nil, coverageP10P90: nil, days: 0)
        )
    }
}

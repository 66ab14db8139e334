/// The bands, calibrated from the scope's own history: rolling-origin forecasts at a few origins a week apart,
/// their errors standardised by the scale of the history at the origin and by how far ahead they were, pooled.
/// A forecast's band is its point plus the pooled error quantiles times the current scale and horizon factor.
struct Calibration {
    /// Standardised error quantiles of one day (p1, p10, p50, p90, p99).
    var daily: [Double]
    /// The same from the first week ahead alone: the bands `expected` judges single past days by.
    var firstWeek: [Double]
    /// Quantiles of the error of the sum of the days so far, over the sum of their units (for the band of the sum).
    var cumulative: [Double]
    var backtest: Backtest

    static let levels = [0.01, 0.10, 0.50, 0.90, 0.99]
    /// Origins of the in-scope backtest, a week apart, ending a week before the last day.
    static let origins = 8
    /// The fewest days a backtest origin is fitted on.
    static let minimumTraining = 14
    /// How far ahead the backtest forecasts (the same whatever horizon is asked, so bands do not depend on it).
    static let backtestHorizon = 30
    /// Below this many origins the bands come from the spread of what exists instead (see `spreadBands`).
    static let minimumOrigins = 3

    /// How errors grow with the horizon (1 at one day ahead): the level's uncertainty compounds.
    static func growth(_ h: Int) -> Double { (1 + Double(h - 1) / 14).squareRoot() }

    /// The unit a day's error is measured in: the scale, times its weekday's factor (a quiet Sunday errs by less
    /// than a busy Tuesday; floored so a usually empty weekday still has a band), times the horizon's growth.
    static func unit(scale: Double, model: WeekdayModel, _ h: Int) -> Double {
        scale * max(model.factor(h), 0.1) * growth(h)
    }

    /// The scale errors are measured in: the median day of the last four weeks (their mean when most are zero).
    static func scale(_ values: [Double], count: Int) -> Double {
        let recent = values[max(count - 28, 0)..<count]
        let median = RobustStatistics.median(recent)
        return median > 0 ? median : recent.reduce(0, +) / Double(max(recent.count, 1))
    }

    /// Calibrates from `values[0..<count]`.
    init(_ values: [Double], count: Int) {
        var errors: [(origin: Int, h: Int, z: Double, zSum: Double)] = []
        var absolute = 0.0
        var percentage: [Double] = []
        var firstOrigin = count
        for k in 1...Self.origins {
            let origin = count - 7 * k
            guard origin >= Self.minimumTraining else { break }
            let scale = Self.scale(values, count: origin)
            guard scale > 0 else { continue }
            let model = WeekdayModel(values, count: origin)
            var sum = 0.0
            var units = 0.0
            for h in 1...min(Self.backtestHorizon, count - origin) {
                let actual = values[origin + h - 1]
                let error = actual - model.point(h)
                let unit = Self.unit(scale: scale, model: model, h)
                sum += error
                units += unit
                errors.append((k, h, error / unit, sum / units))
                absolute += abs(error)
                if actual > 0 { percentage.append(abs(error) / actual) }
            }
            firstOrigin = origin
        }
        let originCount = Set(errors.map(\.origin)).count
        guard originCount >= Self.minimumOrigins else {
            daily = Self.spreadBands(values, count: count)
            firstWeek = daily
            cumulative = daily
            backtest = Backtest(mase: nil, mape: nil, coverageP10P90: nil, days: 0)
            return
        }
        let z = errors.map(\.z).sorted()
        daily = Self.levels.map { RobustStatistics.quantile(z, $0) }
        let near = errors.filter { $0.h <= 7 }.map(\.z).sorted()
        firstWeek = Self.levels.map { RobustStatistics.quantile(near, $0) }
        let zSum = errors.map(\.zSum).sorted()
        cumulative = Self.levels.map { RobustStatistics.quantile(zSum, $0) }
        let naive = Self.seasonalNaiveError(values, count: count)
        backtest = Backtest(
            mase: naive > 0 ? absolute / Double(errors.count) / naive : nil,
            mape: percentage.isEmpty ? nil : percentage.reduce(0, +) / Double(percentage.count),
            coverageP10P90: Self.leaveOneOriginOutCoverage(errors.map { ($0.origin, $0.z) }),
            days: count - firstOrigin)
    }

    /// Bands for a scope too new to backtest: wide and honest, from the spread of the days that exist (at least
    /// ±50% of the scale at one standard deviation), wider still the fewer days there are.
    static func spreadBands(_ values: [Double], count: Int) -> [Double] {
        let normal = [-2.326, -1.2816, 0, 1.2816, 2.326]
        let scale = Self.scale(values, count: count)
        let days = values[0..<count]
        let mean = days.reduce(0, +) / Double(max(count, 1))
        let variance = days.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(count, 1))
        let spread = max(scale > 0 ? variance.squareRoot() / scale : 0, 0.5)
        let shortness = (Double(minimumTraining) / Double(max(count, 1))).squareRoot()
        return normal.map { $0 * spread * max(shortness, 1) }
    }

    /// Mean absolute error of the in-sample seasonal-naive forecast (the previous week's same day; the previous day
    /// with under two weeks): the MASE denominator.
    static func seasonalNaiveError(_ values: [Double], count: Int) -> Double {
        let lag = count > 14 ? 7 : 1
        guard count > lag else { return 0 }
        var total = 0.0
        for index in lag..<count { total += abs(values[index] - values[index - lag]) }
        return total / Double(count - lag)
    }

    /// The share of each origin's errors inside the p10–p90 band calibrated from the OTHER origins: an honest
    /// coverage figure (the band calibrated on the errors themselves would cover 80% by construction).
    static func leaveOneOriginOutCoverage(_ errors: [(origin: Int, z: Double)]) -> Double? {
        let origins = Set(errors.map(\.origin))
        guard origins.count >= 2 else { return nil }
        var inside = 0
        for origin in origins {
            let others = errors.filter { $0.origin != origin }.map(\.z).sorted()
            let low = RobustStatistics.quantile(others, 0.1)
            let high = RobustStatistics.quantile(others, 0.9)
            inside += errors.filter { $0.origin == origin && $0.z >= low && $0.z <= high }.count
        }
        return Double(inside) / Double(errors.count)
    }
}

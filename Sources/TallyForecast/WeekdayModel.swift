/// The point forecast: multiplicative weekday factors (medians over the last weeks) times a robust recent level
/// with a damped trend. Every estimate is a median, so one spike moves nothing, and the level comes from the last
/// week alone, so after a level shift the new level wins within days.
struct WeekdayModel {
    /// Factor per weekday slot (index `day % 7` from the series start), mean 1.
    var factors: [Double]
    /// The deseasonalised level at the last observed day.
    var level: Double
    /// The deseasonalised change per day, damped going forward.
    var slope: Double
    /// Index of the first day the model forecasts (the history length).
    var origin: Int

    /// Weeks the weekday factors are medians over.
    static let profileWeeks = 12
    /// Days the level is the median of.
    static let levelDays = 28
    /// How many noise standard deviations between the last week and the longer window count as a level shift.
    static let shiftThreshold = 1.0
    /// Damping per day of the trend: its effect levels off at `phi / (1 - phi)` days of slope.
    static let phi = 0.9
    /// Factors below this count as "nothing on that weekday" (excluded from deseasonalised windows).
    static let emptyFactor = 0.05

    /// Fits on `values[0..<count]`.
    init(_ values: [Double], count: Int) {
        origin = count
        let recent = values[max(count - 28, 0)..<count]
        if recent.filter({ $0 > 0 }).count * 2 < recent.count {
            // Intermittent spend (a new or rarely used scope): a median would say zero; the mean is the honest rate.
            factors = Array(repeating: 1, count: 7)
            slope = 0
            level = recent.reduce(0, +) / Double(max(recent.count, 1))
            return
        }
        factors = Self.weekdayFactors(values, count: count)
        let factors = factors
        func deseasonalised(_ range: Range<Int>) -> [Double] {
            range.compactMap { index in
                let factor = factors[index % 7]
                return factor < Self.emptyFactor ? nil : values[index] / factor
            }
        }
        slope = Self.consistentSlope(count: count, deseasonalised)
        level = max(Self.level(count: count, slope: slope, deseasonalised), 0)
    }

    /// The level at the last day: the median of the last `levelDays` (carried along the trend from their middle),
    /// unless the last week alone differs from it by more than the day-to-day noise: then a level shift happened and
    /// the last week wins.
    static func level(count: Int, slope: Double, _ deseasonalised: (Range<Int>) -> [Double]) -> Double {
        func centred(_ days: Int) -> (level: Double, window: [Double]) {
            let window = deseasonalised(max(count - days, 0)..<count)
            let middle = Double(min(days, count) - 1) / 2
            return (RobustStatistics.median(window) + slope * middle, window)
        }
        let long = centred(levelDays)
        let short = centred(7)
        let deviations = long.window.map { abs($0 - RobustStatistics.median(long.window)) }
        let noise = 1.4826 * RobustStatistics.median(deviations)
        return abs(short.level - long.level) > shiftThreshold * noise ? short.level : long.level
    }

    /// The forecast for day `origin + h - 1` (h ≥ 1), never below zero.
    func point(_ h: Int) -> Double {
        let damped = Self.phi * (1 - Self.power(Self.phi, h)) / (1 - Self.phi)
        return max((level + slope * damped) * factor(h), 0)
    }

    /// The weekday factor of day `origin + h - 1`.
    func factor(_ h: Int) -> Double { factors[(origin + h - 1) % 7] }

    /// Medians over the last full weeks of each day's share of its week's mean; all 1 with under two weeks.
    static func weekdayFactors(_ values: [Double], count: Int) -> [Double] {
        let weeks = min(count / 7, profileWeeks)
        guard weeks >= 2 else { return Array(repeating: 1, count: 7) }
        var ratios = Array(repeating: [Double](), count: 7)
        for week in 0..<weeks {
            let days = (count - 7 * (week + 1))..<(count - 7 * week)
            let mean = days.reduce(0) { $0 + values[$1] } / 7
            guard mean > 0 else { continue }
            for index in days { ratios[index % 7].append(values[index] / mean) }
        }
        guard !ratios[0].isEmpty else { return Array(repeating: 1, count: 7) }
        let medians = ratios.map { RobustStatistics.median($0) }
        let mean = medians.reduce(0, +) / 7
        return mean > 0 ? medians.map { $0 / mean } : Array(repeating: 1, count: 7)
    }

    /// A trend only when it is consistent: the medians of three consecutive windows must move the same way, and so
    /// must the two halves of the last window; the smallest of the three steps counts. A level shift moves one step,
    /// not all three, so it is not mistaken for a trend.
    static func consistentSlope(count: Int, _ deseasonalised: (Range<Int>) -> [Double]) -> Double {
        let width = count >= 42 ? 14 : 7
        guard count >= 3 * width else { return 0 }
        func median(_ from: Int, _ to: Int) -> Double { RobustStatistics.median(deseasonalised(from..<to)) }
        let windows = (0..<3).map { median(count - (3 - $0) * width, count - (2 - $0) * width) }
        let half = width / 2
        let steps = [
            (windows[1] - windows[0]) / Double(width), (windows[2] - windows[1]) / Double(width),
            (median(count - half, count) - median(count - width, count - half)) / Double(half),
        ]
        guard steps.allSatisfy({ $0 > 0 }) || steps.allSatisfy({ $0 < 0 }) else { return 0 }
        return steps.min { abs($0) < abs($1) } ?? 0
    }

    static func power(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<exponent { result *= base }
        return result
    }
}

import TallyCore

/// Order statistics the method is built from: medians and quantiles resist the one spike that would drag a mean.
enum RobustStatistics {
    /// The median of `values`; 0 for none.
    static func median(_ values: some Collection<Double>) -> Double {
        quantile(values.sorted(), 0.5)
    }

    /// The `p` quantile of already sorted values, interpolated linearly between order statistics; 0 for none.
    static func quantile(_ sorted: [Double], _ p: Double) -> Double {
        guard let first = sorted.first else { return 0 }
        guard sorted.count > 1 else { return first }
        let position = min(max(p, 0), 1) * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let weight = position - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * weight
    }
}

/// Conversions between exact money and the `Double` the statistics run in.
enum Dollars {
    /// Forecasts are clamped below this many nanos (about $18 million a day), so that sums of 366 days of them
    /// still fit an `Int64`.
    static let ceilingNanos = 0x1p54

    static func of(_ usd: USD) -> Double { Double(usd.nanos) / 1e9 }

    /// Exact money from an estimate: never below zero, never above the ceiling, NaN as zero.
    static func usd(_ dollars: Double, ceiling: Double = ceilingNanos) -> USD {
        let nanos = dollars * 1e9
        guard !nanos.isNaN else { return .zero }
        return USD(nanos: Int64(min(max(nanos, 0), ceiling).rounded()))
    }
}

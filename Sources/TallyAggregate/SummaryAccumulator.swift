import TallyCore

/// Merges partial rows (from rollup ranges and raw ranges) into the groups of one summary.
public struct SummaryAccumulator: Sendable {
    struct Key: Hashable { var period: String?; var values: [String?] }

    public let dimensions: [UsageDimension]
    private var groups: [Key: UsageMetrics] = [:]

    public init(dimensions: [UsageDimension]) { self.dimensions = dimensions }

    /// `values` in the order of `dimensions`; '' and nil both mean "none".
    public mutating func add(period: String?, values: [String?], metrics: UsageMetrics) {
        let normalized = values.map { $0?.isEmpty == false ? $0 : nil }
        groups[Key(period: period, values: normalized), default: UsageMetrics()] += metrics
    }

    /// Groups ordered by period, then by cost (highest first), then by values, so answers are stable.
    public func result() -> SummaryResult {
        var totals = UsageMetrics()
        let sorted = groups.sorted { a, b in
            if a.key.period != b.key.period { return (a.key.period ?? "") < (b.key.period ?? "") }
            if a.value.cost != b.value.cost { return a.value.cost > b.value.cost }
            if a.value.requests != b.value.requests { return a.value.requests > b.value.requests }
            return a.key.values.map { $0 ?? "" }.lexicographicallyPrecedes(b.key.values.map { $0 ?? "" })
        }
        let list = sorted.map { entry -> SummaryGroup in
            totals += entry.value
            var values: [UsageDimension: String?] = [:]
            for (i, d) in dimensions.enumerated() { values[d] = entry.key.values[i] }
            return SummaryGroup(period: entry.key.period, values: values, metrics: entry.value)
        }
        return SummaryResult(groups: list, totals: totals)
    }
}

import TallyCore

/// Merges partial rows (from rollup ranges and raw ranges) into the groups of one summary.
public struct SummaryAccumulator: Sendable {
    struct Key: Hashable { var period: String?; var values: [String?] }

    /// The most groups one answer may have: a group per user per day over years would not fit a response (or memory).
    public static let maxGroups = 10_000

    public let dimensions: [UsageDimension]
    public let tagKeys: [String]
    private var groups: [Key: UsageMetrics] = [:]

    public init(dimensions: [UsageDimension], tagKeys: [String] = []) {
        self.dimensions = dimensions
        self.tagKeys = tagKeys
    }

    /// `values` in the order of `dimensions`, then of `tagKeys`; '' and nil both mean "none". Throws `tooManyGroups` past `maxGroups`,
    /// and `totalTooLarge` when a group's sum cannot be held.
    public mutating func add(period: String?, values: [String?], metrics: UsageMetrics) throws(TallyError) {
        let normalized = values.map { $0?.isEmpty == false ? $0 : nil }
        let key = Key(period: period, values: normalized)
        if groups[key] == nil, groups.count >= Self.maxGroups { throw .tooManyGroups(limit: Self.maxGroups) }
        try groups[key, default: UsageMetrics()].add(metrics)
    }

    /// Groups ordered by period, then by cost (highest first), then by values, so answers are stable.
    /// Throws `totalTooLarge` when the totals cannot be held.
    public func result() throws(TallyError) -> SummaryResult {
        var totals = UsageMetrics()
        let sorted = groups.sorted { a, b in
            if a.key.period != b.key.period { return (a.key.period ?? "") < (b.key.period ?? "") }
            if a.value.cost != b.value.cost { return a.value.cost > b.value.cost }
            if a.value.requests != b.value.requests { return a.value.requests > b.value.requests }
            return a.key.values.map { $0 ?? "" }.lexicographicallyPrecedes(b.key.values.map { $0 ?? "" })
        }
        var list: [SummaryGroup] = []
        list.reserveCapacity(sorted.count)
        for entry in sorted {
            try totals.add(entry.value)
            var values: [UsageDimension: String?] = [:]
            for (i, d) in dimensions.enumerated() { values[d] = entry.key.values[i] }
            var tags: [String: String?] = [:]
            for (i, k) in tagKeys.enumerated() { tags[k] = entry.key.values[dimensions.count + i] }
            list.append(SummaryGroup(period: entry.key.period, values: values, metrics: entry.value, tags: tags))
        }
        return SummaryResult(groups: list, totals: totals)
    }
}

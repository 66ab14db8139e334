import TallyCore

/// Summaries of the provider ledger (what the providers' reports say), in the same shape as the observed ledger's,
/// and the reconciliation of the two. Pure: the caller reads the rows and names the projects.
public enum ProviderLedger {
    /// The dimensions a provider report can break usage down by. Cost lines carry only day, provider, model and
    /// project, so the billed figure is attributed to groups of those dimensions only.
    public static let usageDimensions: Set<UsageDimension> = [.provider, .model, .project, .apiKey, .source]
    public static let costDimensions: Set<UsageDimension> = [.provider, .model, .project, .source]

    /// Where a provider project/workspace maps to a Tally project: its name, or "unassigned".
    public typealias ProjectName = @Sendable (_ connectionID: String, _ ref: String?) -> String

    public struct UsageInput: Sendable {
        public var connectionID: String
        public var provider: ProviderKind
        public var row: PricedProviderUsageRow
        public init(connectionID: String, provider: ProviderKind, row: PricedProviderUsageRow) {
            self.connectionID = connectionID
            self.provider = provider
            self.row = row
        }
    }

    public struct CostInput: Sendable {
        public var connectionID: String
        public var provider: ProviderKind
        public var row: ProviderCostRow
        public init(connectionID: String, provider: ProviderKind, row: ProviderCostRow) {
            self.connectionID = connectionID
            self.provider = provider
            self.row = row
        }
    }

    /// OpenAI cost line items read "<model>, <kind>"; Anthropic cost rows name their model.
    public static func model(of cost: ProviderCostRow) -> String? {
        if let m = cost.model { return m }
        guard let item = cost.lineItem, let comma = item.firstIndex(of: ",") else { return cost.lineItem }
        return String(item[..<comma])
    }

    /// Groups by UTC day/week/month (provider buckets are UTC days) and the given dimensions. `cost` is the catalog's
    /// estimate of the reported usage; `providerCost` the billed amount from the cost reports.
    public static func summary(
        usage: [UsageInput], costs: [CostInput], grain: TimeGrain?, dimensions: [UsageDimension],
        filters: DimensionFilters, projectName: ProjectName, canonicalModel: (String, String) -> String
    )
        throws(TallyError) -> SummaryResult
    {
        var acc = SummaryAccumulator(dimensions: dimensions)
        func period(_ start: Instant) -> String? {
            grain.map { PeriodLabel.label(TimeZoneRules.utc.localDate(of: start), grain: $0) }
        }
        func values(provider: ProviderKind, model: String?, project: String, apiKey: String?) -> [UsageDimension:
            String?]
        {
            [
                .provider: provider.rawValue, .model: model.map { canonicalModel(provider.rawValue, $0) },
                .project: project,
                .apiKey: apiKey, .source: "provider_sync",
            ]
        }
        func passes(_ v: [UsageDimension: String?]) -> Bool {
            filters.allSatisfy { d, wanted in (v[d] ?? nil).map(wanted.contains) ?? false }
        }
        for u in usage {
            let v = values(
                provider: u.provider, model: u.row.row.model,
                project: projectName(u.connectionID, u.row.row.projectRef),
                apiKey: u.row.row.apiKeyRef)
            guard passes(v) else { continue }
            var m = UsageMetrics()
            let t = u.row.row.usage
            m.requests = t.requests
            for c in TokenClass.counts { m[c] = t[c] }
            m.cost = u.row.cost ?? .zero
            // The report does not count Anthropic requests: a row is one unit of "unpriced" only when it has no price.
            m.unpricedRequests = u.row.cost == nil ? Swift.max(t.requests, 1) : 0
            try acc.add(period: period(u.row.row.bucketStart), values: dimensions.map { v[$0] ?? nil }, metrics: m)
        }
        if Set(dimensions).union(filters.keys).isSubset(of: costDimensions) {
            for c in costs {
                let v = values(
                    provider: c.provider, model: model(of: c.row),
                    project: projectName(c.connectionID, c.row.projectRef),
                    apiKey: nil)
                guard passes(v) else { continue }
                var m = UsageMetrics()
                m.providerCost = c.row.amount
                try acc.add(period: period(c.row.bucketStart), values: dimensions.map { v[$0] ?? nil }, metrics: m)
            }
        }
        return try acc.result()
    }

    // MARK: Reconciliation

    public struct Line: Sendable, Equatable {
        public var period: String?
        public var value: String?
        public var observed: UsageMetrics
        public var provider: UsageMetrics
        /// Billed minus estimated (observed); nil when either side is unknown.
        public var difference: USD?
        /// The difference in hundredths of a percent of the billed amount (1234 = 12.34 %); nil when nothing was billed.
        public var differenceBasisPoints: Int64?
        public var flagged: Bool
    }

    /// Pairs observed and provider groups (same period and value) and measures how far the estimate is from the bill.
    /// A group is flagged when the difference exceeds `thresholdBasisPoints` of the billed amount, or when one side
    /// has usage the other lacks.
    public static func reconcile(
        observed: SummaryResult, provider: SummaryResult, dimension: UsageDimension?,
        thresholdBasisPoints: Int64
    ) throws(TallyError) -> [Line] {
        struct Key: Hashable { var period: String?; var value: String? }
        var pairs: [Key: (UsageMetrics, UsageMetrics)] = [:]
        for g in observed.groups {
            let k = Key(period: g.period, value: dimension.flatMap { g.values[$0] ?? nil })
            try pairs[k, default: (UsageMetrics(), UsageMetrics())].0.add(g.metrics)
        }
        for g in provider.groups {
            let k = Key(period: g.period, value: dimension.flatMap { g.values[$0] ?? nil })
            try pairs[k, default: (UsageMetrics(), UsageMetrics())].1.add(g.metrics)
        }
        return pairs.sorted { ($0.key.period ?? "", $0.key.value ?? "") < ($1.key.period ?? "", $1.key.value ?? "") }
            .map { k, pair in
                let (o, p) = pair
                let billed = p.providerCost
                let estimate = o.knownCost
                // Checked: a bill and an estimate of opposite extremes differ by more than an Int64 holds (then no figure).
                let difference = estimate.flatMap { billed.adding(USD(nanos: 0 &- $0.nanos)) }
                var bp: Int64?
                if let difference, billed.nanos != 0 {
                    // Half away from zero, on the magnitude, so +x% and −x% round alike; a billed nano-dollar against an
                    // estimate of billions is more basis points than an Int64 holds: no figure then, but flagged.
                    let magnitude =
                        (Int128(difference.nanos.magnitude) * 10_000 + Int128(billed.nanos.magnitude) / 2)
                        / Int128(billed.nanos.magnitude)
                    bp = Int64(exactly: magnitude).map { $0 * (difference.nanos < 0 ? -1 : 1) }
                }
                let oneSided =
                    (o.requests > 0 || o.inputTokens > 0)
                    != (p.inputTokens > 0 || p.outputTokens > 0 || billed.nanos != 0)
                let beyondFigures = estimate != nil && billed.nanos != 0 && bp == nil
                let flagged =
                    oneSided || beyondFigures || (bp.map { $0.magnitude > thresholdBasisPoints.magnitude } ?? false)
                return Line(
                    period: k.period, value: k.value, observed: o, provider: p, difference: difference,
                    differenceBasisPoints: bp, flagged: flagged)
            }
    }
}

/// A breakdown of usage: what `group_by` and the filters of the summary and event APIs name.
public enum UsageDimension: String, Sendable, CaseIterable, Hashable, Comparable {
    case provider, model, project, feature, user
    case apiKey = "api_key"
    case environment, source, status

    public static func < (a: UsageDimension, b: UsageDimension) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The column holding this dimension in the events and rollup tables.
    public var column: String {
        switch self {
        case .project: "project_id"
        case .user: "user_id"
        default: rawValue
        }
    }
}

public enum TimeGrain: String, Sendable, CaseIterable {
    case day, week, month
}

/// Filters on dimensions: each dimension matches any of its values. Projects are given by id.
public typealias DimensionFilters = [UsageDimension: [String]]

/// Summed usage; the metrics of a summary group and of a rollup row.
public struct UsageMetrics: Sendable, Equatable {
    public var requests: Int64 = 0
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var cachedInputTokens: Int64 = 0
    public var cacheWriteInputTokens: Int64 = 0
    public var cacheWrite1hInputTokens: Int64 = 0
    public var reasoningTokens: Int64 = 0
    public var inputAudioTokens: Int64 = 0
    public var outputAudioTokens: Int64 = 0
    public var errors: Int64 = 0
    /// Sum of the priced events' costs.
    public var cost = USD.zero
    /// Requests whose model had no price: their cost is unknown, not zero.
    public var unpricedRequests: Int64 = 0
    public var providerCost = USD.zero

    public init() {}

    /// The metrics of one stored event.
    public init(_ stored: StoredEvent) {
        let u = stored.event.usage
        requests = u.requests
        inputTokens = u.inputTokens
        outputTokens = u.outputTokens
        cachedInputTokens = u.cachedInputTokens
        cacheWriteInputTokens = u.cacheWriteInputTokens
        cacheWrite1hInputTokens = u.cacheWrite1hInputTokens
        reasoningTokens = u.reasoningTokens
        inputAudioTokens = u.inputAudioTokens
        outputAudioTokens = u.outputAudioTokens
        errors = stored.event.outcome.status == .error ? u.requests : 0
        cost = stored.cost ?? .zero
        unpricedRequests = stored.cost == nil ? u.requests : 0
        providerCost = stored.event.providerCost ?? .zero
    }

    public static func += (a: inout UsageMetrics, b: UsageMetrics) {
        a.requests += b.requests
        a.inputTokens += b.inputTokens
        a.outputTokens += b.outputTokens
        a.cachedInputTokens += b.cachedInputTokens
        a.cacheWriteInputTokens += b.cacheWriteInputTokens
        a.cacheWrite1hInputTokens += b.cacheWrite1hInputTokens
        a.reasoningTokens += b.reasoningTokens
        a.inputAudioTokens += b.inputAudioTokens
        a.outputAudioTokens += b.outputAudioTokens
        a.errors += b.errors
        a.cost += b.cost
        a.unpricedRequests += b.unpricedRequests
        a.providerCost += b.providerCost
    }

    /// Adds `other` with every sum checked: a total that cannot be held throws `totalTooLarge` naming its field,
    /// never wraps, traps or turns into a float.
    public mutating func add(_ other: UsageMetrics) throws(TallyError) {
        func sum(_ a: Int64, _ b: Int64, _ column: Int) throws(TallyError) -> Int64 {
            let (s, overflow) = a.addingReportingOverflow(b)
            if overflow { throw Self.overflow(column: column) }
            return s
        }
        requests = try sum(requests, other.requests, 0)
        inputTokens = try sum(inputTokens, other.inputTokens, 1)
        outputTokens = try sum(outputTokens, other.outputTokens, 2)
        cachedInputTokens = try sum(cachedInputTokens, other.cachedInputTokens, 3)
        cacheWriteInputTokens = try sum(cacheWriteInputTokens, other.cacheWriteInputTokens, 4)
        cacheWrite1hInputTokens = try sum(cacheWrite1hInputTokens, other.cacheWrite1hInputTokens, 5)
        reasoningTokens = try sum(reasoningTokens, other.reasoningTokens, 6)
        inputAudioTokens = try sum(inputAudioTokens, other.inputAudioTokens, 7)
        outputAudioTokens = try sum(outputAudioTokens, other.outputAudioTokens, 8)
        errors = try sum(errors, other.errors, 9)
        cost = USD(nanos: try sum(cost.nanos, other.cost.nanos, 10))
        unpricedRequests = try sum(unpricedRequests, other.unpricedRequests, 11)
        providerCost = USD(nanos: try sum(providerCost.nanos, other.providerCost.nanos, 12))
    }

    /// The error for a total of `columns[column]` that cannot be held, named as the API names the metric.
    public static func overflow(column: Int) -> TallyError {
        .totalTooLarge([FieldProblem(field: fieldNames[column], reason:
            "adds up to more than Tally can count exactly (at most 9223372036854775807 tokens or requests, "
            + "9223372036.854775807 USD in one total)")])
    }

    /// The metrics' names in API answers, in `columns` order.
    public static let fieldNames = [
        "requests", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens",
        "cache_write_1h_input_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens",
        "errors", "cost_usd", "unpriced_requests", "provider_cost_usd",
    ]

    /// Cost is unknown (not $0) when nothing in the group was priced.
    public var knownCost: USD? { unpricedRequests == requests && requests > 0 ? nil : cost }

    /// The metrics in storage column order; stores and SQL use this one list.
    public static let columns = [
        "requests", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens",
        "cache_write_1h_input_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens",
        "errors", "cost_nanos", "unpriced_requests", "provider_cost_nanos",
    ]

    public var columnValues: [Int64] {
        [requests, inputTokens, outputTokens, cachedInputTokens, cacheWriteInputTokens, cacheWrite1hInputTokens,
         reasoningTokens, inputAudioTokens, outputAudioTokens, errors, cost.nanos, unpricedRequests, providerCost.nanos]
    }

    public init(columnValues v: [Int64]) {
        requests = v[0]; inputTokens = v[1]; outputTokens = v[2]; cachedInputTokens = v[3]
        cacheWriteInputTokens = v[4]; cacheWrite1hInputTokens = v[5]; reasoningTokens = v[6]
        inputAudioTokens = v[7]; outputAudioTokens = v[8]; errors = v[9]; cost = USD(nanos: v[10])
        unpricedRequests = v[11]; providerCost = USD(nanos: v[12])
    }
}

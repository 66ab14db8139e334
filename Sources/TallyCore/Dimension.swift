/// A breakdown of usage: what `group_by` and the filters of the summary and event APIs name.
public enum UsageDimension: String, Sendable, CaseIterable, Hashable, Comparable {
    case provider, model, project, feature, user
    case apiKey = "api_key"
    case environment, source, status
    /// What kind of call (chat, embedding, …): answered from raw events, no rollup keys by it (issue 22).
    case operation
    /// A team is a set of projects (`Team`), not a column: the store answers it through `project_id` (`TeamMap`).
    case team

    public static func < (a: UsageDimension, b: UsageDimension) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The column holding this dimension in the events and rollup tables.
    public var column: String {
        switch self {
        case .project: "project_id"
        case .user: "user_id"
        case .team: "team_id"  // never reaches SQL: the store rewrites it to projects first (TeamMap)
        default: rawValue
        }
    }
}

/// Tags as a breakdown (`group_by=tag:<key>`): the keys a summary may group by.
public enum TagGrouping {
    /// 1 to 64 letters, digits, `_`, `.`, `:` or `-`: what a JSON path label holds without quoting or escapes.
    public static func isKey(_ key: String) -> Bool {
        (1...64).contains(key.utf8.count)
            && key.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
                    || c == 0x2E || c == 0x3A || c == 0x2D
            }
    }

    public static let keyProblem = "tag:<key> needs a key of 1 to 64 letters, digits, '_', '.', ':' or '-'"
}

public enum TimeGrain: String, Sendable, CaseIterable {
    case day, week, month
}

/// Filters on dimensions: each dimension matches any of its values. Projects are given by id.
public typealias DimensionFilters = [UsageDimension: [String]]

/// Summed usage; the metrics of a summary group and of a rollup row: `requests`, a count per `TokenClass`, then
/// errors, cost, unpriced requests and the provider's cost.
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
    /// The audio part of `cachedInputTokens` (also inside `inputAudioTokens`).
    public var cachedInputAudioTokens: Int64 = 0
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
        for c in TokenClass.counts { self[c] = u[c] }
        errors = stored.event.outcome.status == .error ? u.requests : 0
        cost = stored.cost ?? .zero
        unpricedRequests = stored.cost == nil ? u.requests : 0
        providerCost = stored.event.providerCost ?? .zero
    }

    public static func += (a: inout UsageMetrics, b: UsageMetrics) {
        a.requests += b.requests
        for c in TokenClass.counts { a[c] += b[c] }
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
        for (i, c) in TokenClass.counts.enumerated() {
            self[c] = try sum(self[c], other[c], 1 + i)
        }
        let t = Self.afterCounts
        errors = try sum(errors, other.errors, t)
        cost = USD(nanos: try sum(cost.nanos, other.cost.nanos, t + 1))
        unpricedRequests = try sum(unpricedRequests, other.unpricedRequests, t + 2)
        providerCost = USD(nanos: try sum(providerCost.nanos, other.providerCost.nanos, t + 3))
    }

    /// The error for a total of `columns[column]` that cannot be held, named as the API names the metric.
    public static func overflow(column: Int) -> TallyError {
        .totalTooLarge([
            FieldProblem(
                field: fieldNames[column],
                reason:
                    "adds up to more than Tally can count exactly (at most 9223372036854775807 tokens or requests, "
                    + "9223372036.854775807 USD in one total)")
        ])
    }

    /// The metrics' names in API answers, in `columns` order.
    public static let fieldNames =
        ["requests"] + TokenClass.counts.map(\.field)
        + ["errors", "cost_usd", "unpriced_requests", "provider_cost_usd"]

    /// The position of `errors` in `columns`: the first metric after the token counts.
    static let afterCounts = 1 + TokenClass.counts.count

    /// Cost is unknown (not $0) when nothing in the group was priced.
    public var knownCost: USD? { unpricedRequests == requests && requests > 0 ? nil : cost }

    /// The metrics in storage column order; stores and SQL use this one list.
    public static let columns =
        ["requests"] + TokenClass.counts.map(\.column)
        + ["errors", "cost_nanos", "unpriced_requests", "provider_cost_nanos"]

    public var columnValues: [Int64] {
        [requests] + TokenClass.counts.map { self[$0] } + [errors, cost.nanos, unpricedRequests, providerCost.nanos]
    }

    public init(columnValues v: [Int64]) {
        requests = v[0]
        for (i, c) in TokenClass.counts.enumerated() { self[c] = v[1 + i] }
        let t = Self.afterCounts
        errors = v[t]; cost = USD(nanos: v[t + 1])
        unpricedRequests = v[t + 2]; providerCost = USD(nanos: v[t + 3])
    }
}

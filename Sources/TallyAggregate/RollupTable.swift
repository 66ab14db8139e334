import TallyCore

/// Pre-aggregates per UTC hour and per UTC day, kept in the same transaction as the events, so summaries never
/// scan raw events: whole UTC days of a range come from the daily table, the hours around them from the hourly one.
///
/// One table with every dimension would hold about as many rows as there are events once a
/// high-cardinality dimension (user) is in it, so users get tables of their own; a query uses the first
/// table that has every dimension it groups or filters by, and raw events otherwise.
public struct RollupTable: Sendable, Hashable {
    public enum Bucket: Sendable, Hashable {
        case hour, day
        /// The key column: the bucket's index since 1970 (UTC hours or UTC days).
        public var column: String { self == .hour ? "hour" : "day" }
        public var hours: Int64 { self == .hour ? 1 : 24 }
    }

    public let name: String
    public let dimensions: [UsageDimension]
    public let bucket: Bucket

    static let mainDimensions: [UsageDimension] = [
        .project, .provider, .model, .feature, .apiKey, .environment, .source, .status,
    ]
    static let userDimensions: [UsageDimension] = [.project, .provider, .model, .user, .environment, .source, .status]

    public static let main = RollupTable(name: "usage_rollup_hourly", dimensions: mainDimensions, bucket: .hour)
    public static let byUser = RollupTable(name: "usage_rollup_user_hourly", dimensions: userDimensions, bucket: .hour)
    public static let mainDaily = RollupTable(name: "usage_rollup_daily", dimensions: mainDimensions, bucket: .day)
    public static let byUserDaily = RollupTable(
        name: "usage_rollup_user_daily", dimensions: userDimensions, bucket: .day)

    /// Narrow rollups (issue 24): the main table keys on eight dimensions, so a busy organization holds hundreds of
    /// thousands of its rows a month, and a summary by model or the overview's breakdown read them all. These keep
    /// only what those read, a small fraction of the rows.
    public static let byModel = RollupTable(
        name: "usage_rollup_model_hourly", dimensions: [.provider, .model], bucket: .hour)
    public static let byModelDaily = RollupTable(
        name: "usage_rollup_model_daily", dimensions: [.provider, .model], bucket: .day)
    public static let byFeature = RollupTable(
        name: "usage_rollup_feature_hourly", dimensions: [.project, .provider, .model, .feature], bucket: .hour)
    public static let byFeatureDaily = RollupTable(
        name: "usage_rollup_feature_daily", dimensions: [.project, .provider, .model, .feature], bucket: .day)

    /// The tables of migrations 2 and 6 (migration 10 added a count to these).
    public static let original = [main, byUser, mainDaily, byUserDaily]
    /// The narrow ones of migration 21, filled from the main tables.
    public static let narrow = [byModel, byModelDaily, byFeature, byFeatureDaily]
    /// Every table, the narrowest first: `covering` picks the first that can answer.
    public static let all = narrow + original

    /// The first (so the narrowest) hourly table that can answer a query on these dimensions.
    public static func covering(_ needed: Set<UsageDimension>) -> RollupTable? {
        all.first { $0.bucket == .hour && needed.isSubset(of: Set($0.dimensions)) }
    }

    /// The daily table with the same dimensions as this one.
    public var daily: RollupTable { RollupTable.all.first { $0.bucket == .day && $0.dimensions == dimensions }! }

    /// A rollup key's value for a dimension: absent values are stored as '' so keys stay unique.
    public static func keyValue(_ dimension: UsageDimension, of stored: StoredEvent) -> String {
        let e = stored.event
        switch dimension {
        case .provider: return e.provider
        case .model: return e.model
        case .project: return stored.projectID
        case .feature: return e.attribution.feature ?? ""
        case .user: return e.attribution.user ?? ""
        case .apiKey: return e.attribution.apiKey ?? ""
        case .environment: return e.attribution.environment ?? ""
        case .source: return e.source.rawValue
        case .status: return e.outcome.status.rawValue
        case .team: return ""  // No rollup table keys by team: teams are answered through projects (`TeamMap`).
        case .operation: return e.operation.rawValue  // no table keys by it (`covering` never picks one)
        }
    }
}

public struct RollupKey: Hashable, Sendable, Comparable {
    public var organizationID: String
    /// The UTC hour or UTC day since 1970, by the table's bucket.
    public var bucket: Int64
    public var values: [String]

    public init(organizationID: String, bucket: Int64, values: [String]) {
        self.organizationID = organizationID
        self.bucket = bucket
        self.values = values
    }

    init(_ table: RollupTable, _ stored: StoredEvent) {
        self.init(
            organizationID: stored.organizationID, bucket: floorDiv(stored.event.timestamp.hour, table.bucket.hours),
            values: table.dimensions.map { RollupTable.keyValue($0, of: stored) })
    }

    public static func < (a: RollupKey, b: RollupKey) -> Bool {
        if a.organizationID != b.organizationID { return a.organizationID < b.organizationID }
        if a.bucket != b.bucket { return a.bucket < b.bucket }
        return a.values.lexicographicallyPrecedes(b.values)
    }
}

/// The increments that newly stored events add to one rollup table.
public struct RollupDelta: Sendable {
    public let table: RollupTable
    /// Sorted by key, so concurrent writers take row locks in one order and never deadlock.
    public let rows: [(key: RollupKey, metrics: UsageMetrics)]

    /// Throws `totalTooLarge` when the events' own sum for one key cannot be held (1,000 events of 10^9 USD can't):
    /// the stores refuse the batch, as they do an increment that would overflow a stored row.
    public static func compute(_ events: [StoredEvent]) throws(TallyError) -> [RollupDelta] {
        var deltas: [RollupDelta] = []
        for table in RollupTable.all {
            var sums: [RollupKey: UsageMetrics] = [:]
            for stored in events {
                try sums[RollupKey(table, stored), default: UsageMetrics()].add(UsageMetrics(stored))
            }
            deltas.append(RollupDelta(table: table, rows: sums.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
        }
        return deltas
    }
}

extension RollupDelta {
    /// What re-pricing these events changes in each rollup: only cost and unpriced requests move.
    public static func repricing(_ changes: [RepricedEvent]) throws(TallyError) -> [RollupDelta] {
        var deltas: [RollupDelta] = []
        for table in RollupTable.all {
            var sums: [RollupKey: UsageMetrics] = [:]
            for change in changes {
                let stored = change.stored
                let key = RollupKey(table, stored)
                var delta = UsageMetrics()
                let requests = stored.event.usage.requests
                // Both costs are within 0…10^9 USD and requests within 0…10^12, so these differences cannot overflow.
                delta.cost = (change.cost ?? .zero) - (stored.cost ?? .zero)
                delta.unpricedRequests = (change.cost == nil ? requests : 0) - (stored.cost == nil ? requests : 0)
                try sums[key, default: UsageMetrics()].add(delta)
            }
            deltas.append(RollupDelta(table: table, rows: sums.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
        }
        return deltas
    }
}

import TallyCore

/// Hourly pre-aggregates kept in the same transaction as the events, so summaries never scan raw events.
///
/// One table with every dimension would hold about as many rows as there are events once a
/// high-cardinality dimension (user) is in it, so users get a table of their own; a query uses the first
/// table that has every dimension it groups or filters by, and raw events otherwise.
public struct RollupTable: Sendable, Hashable {
    public let name: String
    public let dimensions: [UsageDimension]

    public static let main = RollupTable(
        name: "usage_rollup_hourly",
        dimensions: [.project, .provider, .model, .feature, .apiKey, .environment, .source, .status]
    )
    public static let byUser = RollupTable(
        name: "usage_rollup_user_hourly",
        dimensions: [.project, .provider, .model, .user, .environment, .source, .status]
    )
    public static let all = [main, byUser]

    /// The first table that can answer a query on these dimensions.
    public static func covering(_ needed: Set<UsageDimension>) -> RollupTable? {
        all.first { needed.isSubset(of: Set($0.dimensions)) }
    }

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
        }
    }
}

public struct RollupKey: Hashable, Sendable, Comparable {
    public var organizationID: String
    public var hour: Int64
    public var values: [String]

    public static func < (a: RollupKey, b: RollupKey) -> Bool {
        if a.organizationID != b.organizationID { return a.organizationID < b.organizationID }
        if a.hour != b.hour { return a.hour < b.hour }
        return a.values.lexicographicallyPrecedes(b.values)
    }
}

/// The increments that newly stored events add to one rollup table.
public struct RollupDelta: Sendable {
    public let table: RollupTable
    /// Sorted by key, so concurrent writers take row locks in one order and never deadlock.
    public let rows: [(key: RollupKey, metrics: UsageMetrics)]

    public static func compute(_ events: [StoredEvent]) -> [RollupDelta] {
        RollupTable.all.map { table in
            var sums: [RollupKey: UsageMetrics] = [:]
            for stored in events {
                let key = RollupKey(
                    organizationID: stored.organizationID,
                    hour: stored.event.timestamp.hour,
                    values: table.dimensions.map { RollupTable.keyValue($0, of: stored) }
                )
                sums[key, default: UsageMetrics()] += UsageMetrics(stored)
            }
            return RollupDelta(table: table, rows: sums.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        }
    }
}

extension RollupDelta {
    /// What re-pricing these events changes in each rollup: only cost and unpriced requests move.
    public static func repricing(_ changes: [RepricedEvent]) -> [RollupDelta] {
        RollupTable.all.map { table in
            var sums: [RollupKey: UsageMetrics] = [:]
            for change in changes {
                let stored = change.stored
                let key = RollupKey(
                    organizationID: stored.organizationID,
                    hour: stored.event.timestamp.hour,
                    values: table.dimensions.map { RollupTable.keyValue($0, of: stored) }
                )
                var delta = UsageMetrics()
                let requests = stored.event.usage.requests
                delta.cost = (change.cost ?? .zero) - (stored.cost ?? .zero)
                delta.unpricedRequests = (change.cost == nil ? requests : 0) - (stored.cost == nil ? requests : 0)
                sums[key, default: UsageMetrics()] += delta
            }
            return RollupDelta(table: table, rows: sums.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        }
    }
}

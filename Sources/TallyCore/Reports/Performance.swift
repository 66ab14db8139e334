/// The performance report (issue 20): requests, success rate, latency and time-to-first-token percentiles and
/// retries per group, from the performance rollup's histograms (whole UTC hours).
public struct PerformanceQuery: Sendable {
    public var organizationID: String
    /// Whole UTC hours since 1970: `[fromHour, toHour)`.
    public var fromHour: Int64
    public var toHour: Int64
    /// Among `PerformanceQuery.dimensions`.
    public var dimensions: [UsageDimension]
    /// On those dimensions (projects by id), and `team` (resolved to projects by the store).
    public var filters: DimensionFilters

    /// What the performance rollup keeps (and `team`, through projects).
    public static let dimensions: [UsageDimension] = [.provider, .model, .project, .feature, .source, .team]

    public init(
        organizationID: String, fromHour: Int64, toHour: Int64, dimensions: [UsageDimension], filters: DimensionFilters
    ) {
        self.organizationID = organizationID
        self.fromHour = fromHour
        self.toHour = toHour
        self.dimensions = dimensions
        self.filters = filters
    }
}

/// One bucket of one group's histogram (`metric` `latency` or `ttft`), or its retries (`retries`, bucket 0).
public struct PerformanceRow: Sendable, Equatable {
    /// Values of the grouped dimensions; nil where the events had none.
    public var values: [UsageDimension: String?]
    public var metric: String
    public var bucket: Int64
    public var count: Int64

    public init(values: [UsageDimension: String?], metric: String, bucket: Int64, count: Int64) {
        self.values = values
        self.metric = metric
        self.bucket = bucket
        self.count = count
    }
}

public protocol PerformanceStore: Sendable {
    /// The histograms' buckets per group. Throws `tooManyGroups` past a bound on the rows one answer may read.
    func performanceRows(_ query: PerformanceQuery) async throws -> [PerformanceRow]
}

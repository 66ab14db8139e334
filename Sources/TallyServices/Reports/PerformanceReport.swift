import TallyAggregate
import TallyCore

/// One group of the performance report: its requests and errors (the summary's), latency and time-to-first-token
/// percentiles from the histograms (nil when no event of the group reported one), and its retries.
public struct PerformanceGroup: Sendable, Equatable {
    public var values: [UsageDimension: String?]
    public var requests: Int64
    public var errors: Int64
    /// p50, p95, p99 in milliseconds, and how many events reported a latency.
    public var latency: (p50: Int64, p95: Int64, p99: Int64, samples: Int64)?
    /// p50, p95 in milliseconds, and how many events reported one.
    public var timeToFirstToken: (p50: Int64, p95: Int64, samples: Int64)?
    public var retries: Int64

    public init(
        values: [UsageDimension: String?], requests: Int64, errors: Int64,
        latency: (p50: Int64, p95: Int64, p99: Int64, samples: Int64)?,
        timeToFirstToken: (p50: Int64, p95: Int64, samples: Int64)?, retries: Int64
    ) {
        self.values = values
        self.requests = requests
        self.errors = errors
        self.latency = latency
        self.timeToFirstToken = timeToFirstToken
        self.retries = retries
    }

    /// (requests - errors) / requests in percent with one decimal, rounded down (99.96 % is not "100.0"); nil
    /// without requests.
    public var successPercent: String? {
        guard requests > 0 else { return nil }
        let tenths = Int128(max(requests - errors, 0)) * 1000 / Int128(requests)
        return "\(tenths / 10).\(tenths % 10)"
    }

    public static func == (a: PerformanceGroup, b: PerformanceGroup) -> Bool {
        a.values == b.values && a.requests == b.requests && a.errors == b.errors && a.retries == b.retries
            && a.latency.map { [$0.p50, $0.p95, $0.p99, $0.samples] }
                == b.latency.map { [$0.p50, $0.p95, $0.p99, $0.samples] }
            && a.timeToFirstToken.map { [$0.p50, $0.p95, $0.samples] }
                == b.timeToFirstToken.map { [$0.p50, $0.p95, $0.samples] }
    }
}

public struct PerformanceReport: Sendable {
    /// Whole hours: `from` down, `to` up to the hour.
    public var from: Instant
    public var to: Instant
    public var dimensions: [UsageDimension]
    /// Most requests first.
    public var groups: [PerformanceGroup]
    public var totals: PerformanceGroup

    public init(
        from: Instant, to: Instant, dimensions: [UsageDimension], groups: [PerformanceGroup], totals: PerformanceGroup
    ) {
        self.from = from
        self.to = to
        self.dimensions = dimensions
        self.groups = groups
        self.totals = totals
    }
}

/// The performance report (issue 20) from the performance rollup's histograms and the summary's requests and errors,
/// over whole hours. Percentiles are nearest-rank over `LatencyHistogram` buckets: within 0.79 % of the exact value.
public struct PerformanceService<Store: PerformanceStore & UsageStore>: Sendable {
    let store: Store
    public init(store: Store) { self.store = store }

    public func report(
        organizationID: String, from: Instant, to: Instant, dimensions: [UsageDimension], filters: DimensionFilters
    ) async throws -> PerformanceReport {
        let fromHour = from.hour
        let toHour = Instant(microseconds: to.microseconds + Instant.microsecondsPerHour - 1).hour
        let start = Instant(microseconds: fromHour * Instant.microsecondsPerHour)
        let end = Instant(microseconds: toHour * Instant.microsecondsPerHour)
        let rows = try await store.performanceRows(
            PerformanceQuery(
                organizationID: organizationID, fromHour: fromHour, toHour: toHour, dimensions: dimensions,
                filters: filters))
        let summary = try await store.summary(
            SummaryQuery(
                organizationID: organizationID, from: start, to: end, timeZone: .utc, grain: nil,
                dimensions: dimensions, filters: filters))
        func key(_ values: [UsageDimension: String?]) -> [String] { dimensions.map { (values[$0] ?? nil) ?? "" } }
        var histograms: [[String]: [String: [(bucket: Int64, count: Int64)]]] = [:]
        var all: [String: [Int64: Int64]] = [:]
        var valuesOf: [[String]: [UsageDimension: String?]] = [:]
        for row in rows {
            let k = key(row.values)
            valuesOf[k] = row.values
            histograms[k, default: [:]][row.metric, default: []].append((row.bucket, row.count))
            all[row.metric, default: [:]][row.bucket, default: 0] &+= row.count
        }
        var groups: [PerformanceGroup] = []
        var seen = Set<[String]>()
        for g in summary.groups {
            let k = key(g.values)
            seen.insert(k)
            groups.append(
                Self.group(
                    values: g.values, requests: g.metrics.requests, errors: g.metrics.errors, histograms[k] ?? [:]))
        }
        // Events with latencies but no summary row cannot exist (both are written in one transaction); a group only
        // in the histograms still shows, with its counts unknown as zero.
        for (k, h) in histograms where !seen.contains(k) {
            groups.append(Self.group(values: valuesOf[k] ?? [:], requests: 0, errors: 0, h))
        }
        groups.sort { a, b in
            a.requests != b.requests ? a.requests > b.requests : key(a.values).lexicographicallyPrecedes(key(b.values))
        }
        let totals = Self.group(
            values: [:], requests: summary.totals.requests, errors: summary.totals.errors,
            all.mapValues { $0.map { (bucket: $0.key, count: $0.value) } })
        return PerformanceReport(from: start, to: end, dimensions: dimensions, groups: groups, totals: totals)
    }

    static func group(
        values: [UsageDimension: String?], requests: Int64, errors: Int64,
        _ h: [String: [(bucket: Int64, count: Int64)]]
    ) -> PerformanceGroup {
        func samples(_ counts: [(bucket: Int64, count: Int64)]) -> Int64 {
            counts.reduce(Int64(0)) { $0.addingReportingOverflow($1.count).overflow ? Int64.max : $0 + $1.count }
        }
        var latency: (Int64, Int64, Int64, Int64)?
        if let counts = h["latency"], let p50 = LatencyHistogram.percentile(50, of: counts),
            let p95 = LatencyHistogram.percentile(95, of: counts), let p99 = LatencyHistogram.percentile(99, of: counts)
        {
            latency = (p50, p95, p99, samples(counts))
        }
        var ttft: (Int64, Int64, Int64)?
        if let counts = h["ttft"], let p50 = LatencyHistogram.percentile(50, of: counts),
            let p95 = LatencyHistogram.percentile(95, of: counts)
        {
            ttft = (p50, p95, samples(counts))
        }
        return PerformanceGroup(
            values: values, requests: requests, errors: errors, latency: latency, timeToFirstToken: ttft,
            retries: samples(h["retries"] ?? []))
    }
}

import TallyCore

/// Latencies as a log-linear histogram (issue 20's performance report), integer math only. Milliseconds below 128
/// have a bucket each (exact); above, each power of two is cut into 64 buckets, so a bucket spans at most 1/64 of its
/// lower bound, and its midpoint, which a percentile reports, is within 1/128 (0.79 %) of any value in it. Every
/// Int64 fits: the last bucket is 3711.
public enum LatencyHistogram {
    /// Exact below this many milliseconds.
    static let linear: Int64 = 128
    /// The largest relative error of a reported percentile, as documented: 1/128.
    public static let relativeError = "0.79%"

    public static func bucket(of milliseconds: Int64) -> Int64 {
        let v = max(milliseconds, 0)
        guard v >= linear else { return v }
        let exponent = Int64(63 - v.leadingZeroBitCount)  // floor(log2 v), ≥ 7
        let shift = exponent - 6
        return shift * 64 + (v >> shift)
    }

    /// The value a bucket reports: itself below 128 ms, else the midpoint of its span.
    public static func value(of bucket: Int64) -> Int64 {
        guard bucket >= linear else { return max(bucket, 0) }
        let shift = bucket / 64 - 1
        let mantissa = bucket % 64 + 64
        let lower = mantissa << shift
        return lower + (Int64(1) << shift) / 2
    }

    /// The nearest-rank percentile (`percent` of 100) of counts per bucket, or nil when there are none.
    public static func percentile(_ percent: Int64, of counts: [(bucket: Int64, count: Int64)]) -> Int64? {
        let sorted = counts.filter { $0.count > 0 }.sorted { $0.bucket < $1.bucket }
        let total = sorted.reduce(Int128(0)) { $0 + Int128($1.count) }
        guard total > 0 else { return nil }
        let rank = max(1, (Int128(percent) * total + 99) / 100)
        var seen = Int128(0)
        for entry in sorted {
            seen += Int128(entry.count)
            if seen >= rank { return value(of: entry.bucket) }
        }
        return sorted.last.map { value(of: $0.bucket) }
    }
}

/// What an hour's events add to the performance rollup: per key (hour, project, provider, model, feature, source),
/// a count per latency bucket and per time-to-first-token bucket, and the retries summed.
public struct PerformanceDelta: Sendable {
    public struct Key: Hashable, Sendable, Comparable {
        public var organizationID: String
        public var hour: Int64
        /// project id, provider, model, feature ('' when none), source, in `PerformanceDelta.dimensions` order.
        public var values: [String]
        public var metric: String
        public var bucket: Int64

        public static func < (a: Key, b: Key) -> Bool {
            (a.organizationID, a.hour, a.metric, a.bucket) != (b.organizationID, b.hour, b.metric, b.bucket)
                ? (a.organizationID, a.hour, a.metric, a.bucket) < (b.organizationID, b.hour, b.metric, b.bucket)
                : a.values.lexicographicallyPrecedes(b.values)
        }
    }

    /// The dimensions the performance rollup keeps, in its key's order.
    public static let dimensions: [UsageDimension] = [.project, .provider, .model, .feature, .source]

    /// Sorted by key, so concurrent writers lock rows in one order.
    public let rows: [(key: Key, count: Int64)]

    public static func compute(_ events: [StoredEvent]) -> PerformanceDelta {
        var counts: [Key: Int64] = [:]
        for stored in events {
            let o = stored.event.outcome
            let values = dimensions.map { RollupTable.keyValue($0, of: stored) }
            let hour = stored.event.timestamp.hour
            func add(_ metric: String, _ bucket: Int64, _ n: Int64) {
                let key = Key(
                    organizationID: stored.organizationID, hour: hour, values: values, metric: metric, bucket: bucket)
                counts[key, default: 0] =
                    counts[key, default: 0].addingReportingOverflow(n).overflow
                    ? Int64.max : counts[key, default: 0] + n
            }
            // One histogram entry per event: an event standing for several identical requests has one latency.
            if let latency = o.latencyMs { add("latency", LatencyHistogram.bucket(of: latency), 1) }
            if let ttft = o.timeToFirstTokenMs { add("ttft", LatencyHistogram.bucket(of: ttft), 1) }
            if let retries = o.retries, retries > 0 { add("retries", 0, retries) }
        }
        return PerformanceDelta(rows: counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }
}

import TallyAggregate
import TallyCore

/// The performance rollup read back (issue 20): bucket counts per group over whole hours, written once for both
/// dialects. Teams fold through their projects, as in the summary.
extension SQLStore {
    /// Rows one answer may read: 10,000 groups of a few hundred buckets at most.
    static var performanceRowLimit: Int64 { 400_000 }

    public func performanceRows(_ query: PerformanceQuery) async throws -> [PerformanceRow] {
        var asked = query
        var teams: TeamMap?
        if TeamMap.involved(query.dimensions, query.filters) {
            let map = try await teamMap(organizationID: query.organizationID)
            asked.filters = map.resolving(query.filters)
            asked.dimensions = query.dimensions.map { $0 == .team ? .project : $0 }
            teams = map
        }
        var columns: [String] = []
        for d in asked.dimensions where !columns.contains(d.column) { columns.append(d.column) }
        var s = SQLStatement(dialect, "SELECT ")
        for c in columns { s.append(c + ", ") }
        // n split in two sums, as the rollups' metrics are, so no sum passes Int64 inside the database.
        s.append(
            "metric, bucket, CAST(COALESCE(SUM(n / 1000000000), 0) AS BIGINT) AS n_billions, "
                + "CAST(COALESCE(SUM(n % 1000000000), 0) AS BIGINT) AS n_rest FROM performance_rollup_hourly WHERE org_id = "
        )
        s.bind(query.organizationID)
        s.append(" AND hour >= ")
        s.bind(asked.fromHour)
        s.append(" AND hour < ")
        s.bind(asked.toHour)
        s.appendFilters(asked.filters)
        s.append(" GROUP BY " + (columns + ["metric", "bucket"]).joined(separator: ", ") + " LIMIT ")
        s.bind(Self.performanceRowLimit + 1)
        let rows = try await database.queryMayLag(s)
        if rows.count > Self.performanceRowLimit { throw TallyError.tooManyGroups(limit: SummaryAccumulator.maxGroups) }
        return try rows.map { r in
            var values: [UsageDimension: String?] = [:]
            for d in query.dimensions {
                let raw = try r.optionalText((d == .team ? UsageDimension.project : d).column)
                let value = raw?.isEmpty == false ? raw : nil
                values[d] = d == .team ? value.flatMap { teams?.teamOfProject[$0] } : value
            }
            let exact = Int128(try r.int("n_billions")) * 1_000_000_000 + Int128(try r.int("n_rest"))
            return PerformanceRow(
                values: values, metric: try r.text("metric"), bucket: try r.int("bucket"),
                count: Int64(clamping: exact))
        }
    }
}

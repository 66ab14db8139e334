import TallyAggregate
import TallyCore

/// The queries over events and rollups that read the same in both dialects.
public enum UsageSQL {
    /// Event columns in table order (after `seq`); inserts and reads use this one list.
    public static let eventColumns: [String] =
        [
            "org_id", "project_id", "event_id", "ts_us", "received_us", "provider", "model", "operation",
        ] + TokenClass.counts.map(\.column) + [
            "requests", "feature", "user_id", "api_key", "environment", "tags", "status", "http_status", "error_type",
            "latency_ms", "ttft_ms", "streamed", "retries", "finish_reason", "batch", "service_tier",
            "provider_cost_nanos", "cost_nanos", "price_id", "source", "safety_flags", "quality_flags",
        ]

    /// Columns holding integers; the others hold text.
    public static let integerEventColumns = Set(
        [
            "ts_us", "received_us", "requests", "http_status", "latency_ms", "ttft_ms", "streamed", "retries", "batch",
            "provider_cost_nanos", "cost_nanos",
        ] + TokenClass.counts.map(\.column))

    /// The values of one stored event, in `eventColumns` order.
    public static func eventValues(_ s: StoredEvent) -> [SQLValue] {
        let e = s.event
        let u = e.usage
        let a = e.attribution
        let o = e.outcome
        func t(_ v: String?) -> SQLValue { v.map(SQLValue.text) ?? .null }
        func i(_ v: Int64?) -> SQLValue { v.map(SQLValue.int) ?? .null }
        func b(_ v: Bool?) -> SQLValue { v.map { .int($0 ? 1 : 0) } ?? .null }
        var row: [SQLValue] = []
        row.reserveCapacity(eventColumns.count)
        row += [
            .text(s.organizationID), .text(s.projectID), .text(e.id), .int(e.timestamp.microseconds),
            .int(s.receivedAt.microseconds), .text(e.provider), .text(e.model), .text(e.operation.rawValue),
        ]
        for tokenClass in TokenClass.counts { row.append(.int(u[tokenClass])) }
        row += [
            .int(u.requests), t(a.feature), t(a.user), t(a.apiKey), t(a.environment), t(encodeTags(a.tags)),
            .text(o.status.rawValue), i(o.httpStatus.map(Int64.init)), t(o.errorType), i(o.latencyMs),
            i(o.timeToFirstTokenMs), b(o.streamed), i(o.retries), t(o.finishReason), .int(e.batch ? 1 : 0),
            t(e.serviceTier), i(e.providerCost?.nanos), i(s.cost?.nanos), t(s.priceID), .text(e.source.rawValue),
            t(encodeFlags(o.safetyFlags)), t(encodeFlags(o.qualityFlags)),
        ]
        return row
    }

    /// New events, skipped when their key is stored already; every column may be NULL. On PostgreSQL the key is
    /// claimed in `usage_event_keys` first (`eventKeyClaims`); the insert skips any conflict, which only a table
    /// made before partitioning still has (its events not yet copied to the keys).
    package static func eventInsert(_ dialect: SQLDialect, _ events: [StoredEvent]) -> SQLBulkInsert {
        let key = ["org_id", "project_id", "event_id"]
        return SQLBulkInsert(
            table: "usage_events", columns: eventColumns,
            integerColumns: eventColumns.map(integerEventColumns.contains),
            rows: events.map(eventValues),
            conflict: dialect == .postgres ? .skipAnyConflict(key: key) : .skip(key: key),
            mayHoldNulls: true
        )
    }

    /// Each event's key, claimed in PostgreSQL's `usage_event_keys` (`EventPartitions`).
    static func eventKeyClaims(_ events: [StoredEvent]) -> SQLBulkInsert {
        SQLBulkInsert(
            table: "usage_event_keys", columns: ["org_id", "project_id", "event_id", "ts_us"],
            integerColumns: [false, false, false, true],
            rows: events.map {
                [
                    .text($0.organizationID), .text($0.projectID), .text($0.event.id),
                    .int($0.event.timestamp.microseconds),
                ]
            },
            conflict: .skip(key: ["org_id", "project_id", "event_id"]), mayHoldNulls: false)
    }

    /// Flags as the column keeps them: `,a,b,`, so that one flag is found with `LIKE '%,a,%'`; nil for none. A flag
    /// never holds a comma (filter names refuse them; `EventFlags`).
    static func encodeFlags(_ flags: [String]) -> String? {
        flags.isEmpty ? nil : "," + flags.joined(separator: ",") + ","
    }

    static func decodeFlags(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map(String.init)
    }

    static func encodeTags(_ tags: [String: String]) -> String? {
        guard !tags.isEmpty else { return nil }
        var w = JSONWriter()
        w.beginObject()
        for k in tags.keys.sorted() { w.field(k, tags[k]) }
        w.endObject()
        return w.text
    }

    /// The tags as `encodeTags` wrote them: a JSON object of strings; nil for anything else.
    static func decodeTags(_ text: String) -> [String: String]? {
        guard case .object(let members)? = try? JSONParser.parse(Array(text.utf8)) else { return nil }
        var tags: [String: String] = [:]
        for (k, v) in members {
            guard case .string(let s) = v else { return nil }
            tags[k] = s
        }
        return tags
    }

    /// `SELECT seq, e.<columns>, p.name AS project_name` joined to the project's name.
    static var selectEvents: String {
        "SELECT e.seq, " + eventColumns.map { "e." + $0 }.joined(separator: ", ")
            + ", p.name AS project_name FROM usage_events e JOIN projects p ON p.id = e.project_id"
    }

    /// Decodes a row of `selectEvents`: the sequence number and the event.
    public static func decodeEvent(_ r: SQLRow) throws -> (sequence: Int64, event: StoredEvent) {
        var e = UsageEvent(
            id: try r.text("event_id"), timestamp: try r.instant("ts_us"), provider: try r.text("provider"),
            model: try r.text("model"), operation: try r.raw("operation")
        )
        for tokenClass in TokenClass.counts { e.usage[tokenClass] = try r.int(tokenClass.column) }
        e.usage.requests = try r.int("requests")
        e.attribution = Attribution(
            feature: try r.optionalText("feature"), user: try r.optionalText("user_id"),
            apiKey: try r.optionalText("api_key"), environment: try r.optionalText("environment"),
            tags: try r.optionalParsed("tags", as: "a JSON object of strings", decodeTags) ?? [:])
        e.outcome.status = try r.raw("status")
        e.outcome.httpStatus = try r.optionalInt("http_status").map(Int.init)
        e.outcome.errorType = try r.optionalText("error_type")
        e.outcome.latencyMs = try r.optionalInt("latency_ms")
        e.outcome.timeToFirstTokenMs = try r.optionalInt("ttft_ms")
        e.outcome.streamed = try r.optionalBool("streamed")
        e.outcome.retries = try r.optionalInt("retries")
        e.outcome.finishReason = try r.optionalText("finish_reason")
        e.batch = try r.bool("batch")
        e.serviceTier = try r.optionalText("service_tier")
        e.providerCost = try r.optionalInt("provider_cost_nanos").map(USD.init(nanos:))
        e.source = try r.raw("source")
        e.outcome.safetyFlags = decodeFlags(try r.optionalText("safety_flags"))
        e.outcome.qualityFlags = decodeFlags(try r.optionalText("quality_flags"))
        let name = try r.text("project_name")
        e.attribution.project = name
        let stored = StoredEvent(
            event: e, organizationID: try r.text("org_id"), projectID: try r.text("project_id"), projectName: name,
            receivedAt: try r.instant("received_us"), cost: try r.optionalInt("cost_nanos").map(USD.init(nanos:)),
            priceID: try r.optionalText("price_id")
        )
        return (try r.int("seq"), stored)
    }

    /// One page of events, newest first, keyset-paginated on (timestamp, seq).
    public static func eventPage(_ dialect: SQLDialect, _ q: EventQuery) -> SQLStatement {
        var s = SQLStatement(dialect, selectEvents + " WHERE e.org_id = ")
        s.bind(q.organizationID)
        s.appendFilters(q.filters, tableAlias: "e.")
        s.appendFlagFilter(q.flags, tableAlias: "e.")
        if let from = q.from { s.append(" AND e.ts_us >= "); s.bind(from.microseconds) }
        if let to = q.to { s.append(" AND e.ts_us < "); s.bind(to.microseconds) }
        if let c = q.after {
            s.append(" AND (e.ts_us < ")
            s.bind(c.timestamp.microseconds)
            s.append(" OR (e.ts_us = ")
            s.bind(c.timestamp.microseconds)
            s.append(" AND e.seq < ")
            s.bind(c.sequence)
            s.append("))")
        }
        s.append(" ORDER BY e.ts_us DESC, e.seq DESC LIMIT ")
        s.bind(Int64(q.limit + 1))
        return s
    }

    /// Events stored after a sequence number, in storage order: what a live view has not shown yet.
    public static func eventsStored(
        _ dialect: SQLDialect, organizationID: String, after sequence: Int64,
        filters: DimensionFilters, limit: Int
    ) -> SQLStatement {
        var s = SQLStatement(dialect, selectEvents + " WHERE e.seq > ")
        s.bind(sequence)
        s.append(" AND e.org_id = ")
        s.bind(organizationID)
        s.appendFilters(filters, tableAlias: "e.")
        s.append(" ORDER BY e.seq LIMIT ")
        s.bind(Int64(limit))
        return s
    }

    public static func eventByID(_ dialect: SQLDialect, organizationID: String, id: String, projectIDs: [String]?)
        -> SQLStatement
    {
        var s = SQLStatement(dialect, selectEvents + " WHERE e.org_id = ")
        s.bind(organizationID)
        s.append(" AND e.event_id = ")
        s.bind(id)
        if let projectIDs { s.appendFilters([.project: projectIDs], tableAlias: "e.") }
        s.append(" ORDER BY e.ts_us DESC, e.seq DESC LIMIT 1")
        return s
    }

    // MARK: Summary

    /// Metric expressions over raw events, in `UsageMetrics.columns` order.
    static let rawMetricExpressions =
        ["requests"] + TokenClass.counts.map(\.column) + [
            "CASE WHEN status = 'error' THEN requests ELSE 0 END", "COALESCE(cost_nanos, 0)",
            "CASE WHEN cost_nanos IS NULL THEN requests ELSE 0 END", "COALESCE(provider_cost_nanos, 0)",
        ]

    /// Two sums per metric: of its billions and of its remainders, named `<metric>_billions` and `<metric>_rest`
    /// (`expressions` are in `UsageMetrics.columns` order). Neither can overflow in SQL (SQLite's SUM would throw,
    /// PostgreSQL's numeric would not fit BIGINT), and `metrics` joins them in Swift, checked.
    static func splitSums(_ expressions: [String]) -> String {
        zip(expressions, splitSumNames).map { e, names in
            "CAST(COALESCE(SUM((\(e)) / 1000000000), 0) AS BIGINT) AS \(names.billions), "
                + "CAST(COALESCE(SUM((\(e)) % 1000000000), 0) AS BIGINT) AS \(names.rest)"
        }.joined(separator: ", ")
    }

    static let splitSumNames = UsageMetrics.columns.map { (billions: $0 + "_billions", rest: $0 + "_rest") }

    /// The metrics of a row of `splitSums`; `totalTooLarge` names one beyond an Int64.
    static func metrics(_ r: SQLRow) throws -> UsageMetrics {
        var values: [Int64] = []
        values.reserveCapacity(UsageMetrics.columns.count)
        for (i, names) in splitSumNames.enumerated() {
            let exact = Int128(try r.int(names.billions)) * 1_000_000_000 + Int128(try r.int(names.rest))
            guard let value = Int64(exactly: exact) else { throw UsageMetrics.overflow(column: i) }
            values.append(value)
        }
        return UsageMetrics(columnValues: values)
    }

    /// At most this many rows per query: past it the answer has more groups than `SummaryAccumulator.maxGroups`
    /// (a week or month folds up to 31 local days into one group, so those may read 31 rows per group).
    static func rowLimit(_ query: SummaryQuery) -> Int64? {
        guard !query.dimensions.isEmpty || !query.tagKeys.isEmpty || query.grain != nil else { return nil }
        let perGroup: Int64 = query.grain == nil || query.grain == .day ? 1 : 31
        return Int64(SummaryAccumulator.maxGroups) * perGroup + 1
    }

    /// Rows: [local day when grouped by time], one column per dimension, then the metrics.
    public static func rollupSummary(
        _ dialect: SQLDialect, table: RollupTable, range: SummaryPlan.RollupRange,
        query: SummaryQuery
    ) -> SQLStatement {
        var s = SQLStatement(dialect, "SELECT ")
        var groupBy: [String] = []
        let column = table.bucket.column
        if query.grain != nil {
            s.append("(\(column) * \(table.bucket.hours * 3600) + CAST(")
            s.bind(range.offsetSeconds)
            s.append(" AS BIGINT)) / 86400 AS local_day, ")
            groupBy.append("local_day")
        }
        for d in query.dimensions { s.append(d.column + ", "); groupBy.append(d.column) }
        s.append(splitSums(UsageMetrics.columns))
        s.append(" FROM \(table.name) WHERE org_id = ")
        s.bind(query.organizationID)
        s.append(" AND \(column) >= ")
        s.bind(range.startHour)
        s.append(" AND \(column) < ")
        s.bind(range.endHour)
        s.appendFilters(query.filters)
        if !groupBy.isEmpty { s.append(" GROUP BY " + groupBy.joined(separator: ", ")) }
        if let limit = rowLimit(query) { s.append(" LIMIT "); s.bind(limit) }
        return s
    }

    /// Rows: one column per dimension, then the metrics.
    public static func rawSummary(_ dialect: SQLDialect, range: SummaryPlan.RawRange, query: SummaryQuery)
        -> SQLStatement
    {
        var s = SQLStatement(dialect, "SELECT ")
        for d in query.dimensions { s.append(d.column + ", ") }
        for (i, key) in query.tagKeys.enumerated() {
            s.appendTagValue(key)
            s.append(" AS tag_\(i), ")
        }
        s.append(splitSums(rawMetricExpressions))
        s.append(" FROM usage_events WHERE org_id = ")
        s.bind(query.organizationID)
        s.append(" AND ts_us >= ")
        s.bind(range.start.microseconds)
        s.append(" AND ts_us < ")
        s.bind(range.end.microseconds)
        s.appendFilters(query.filters)
        let groups = query.dimensions.map(\.column) + query.tagKeys.indices.map { "tag_\($0)" }
        if !groups.isEmpty { s.append(" GROUP BY " + groups.joined(separator: ", ")) }
        if let limit = rowLimit(query) { s.append(" LIMIT "); s.bind(limit) }
        return s
    }

    /// A raw row's grouped values: the dimensions', then the tags'.
    static func groupValues(_ r: SQLRow, _ query: SummaryQuery) throws -> [String?] {
        try query.dimensions.map { try r.optionalText($0.column) }
            + query.tagKeys.indices.map { try r.optionalText("tag_\($0)") }
    }

    /// Runs a plan with the store's own executor and merges the rows into the answer.
    public static func summary(
        _ dialect: SQLDialect, _ query: SummaryQuery,
        run: (SQLStatement) async throws -> [SQLRow]
    ) async throws -> SummaryResult {
        let plan = SummaryPlan(query)
        var acc = SummaryAccumulator(dimensions: query.dimensions, tagKeys: query.tagKeys)
        func rows(_ statement: SQLStatement) async throws -> [SQLRow] {
            let rows = try await run(statement)
            if let limit = rowLimit(query), rows.count >= limit {
                throw TallyError.tooManyGroups(limit: SummaryAccumulator.maxGroups)
            }
            return rows
        }
        if let hourly = plan.table {
            let ranges = plan.dayRanges.map { (hourly.daily, $0) } + plan.rollupRanges.map { (hourly, $0) }
            for (table, range) in ranges {
                for r in try await rows(rollupSummary(dialect, table: table, range: range, query: query)) {
                    let m = try metrics(r)
                    guard m != UsageMetrics() else { continue }
                    let period = try query.grain.map { PeriodLabel.label(localDay: try r.int("local_day"), grain: $0) }
                    try acc.add(
                        period: period, values: try query.dimensions.map { try r.optionalText($0.column) }, metrics: m)
                }
            }
        }
        for range in plan.rawRanges {
            for r in try await rows(rawSummary(dialect, range: range, query: query)) {
                let m = try metrics(r)
                guard m != UsageMetrics() else { continue }
                try acc.add(period: range.period, values: try groupValues(r, query), metrics: m)
            }
        }
        return try acc.result()
    }
}

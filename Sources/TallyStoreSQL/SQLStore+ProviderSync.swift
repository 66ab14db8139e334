import TallyCore

/// The provider ledger (usage and cost rows from the providers' own reports), sync runs and sync leases.
extension SQLStore {
    static var usageColumns: [String] {
        [
            "org_id", "connection_id", "report", "bucket_start_us", "bucket_end_us", "group_key", "model",
            "project_ref", "api_key_ref",
            "batch", "service_tier", "context_window",
        ] + TokenClass.counts.map(\.column) + ["requests", "units", "unit", "cost_nanos", "price_id"]
    }

    static var costColumns: [String] {
        [
            "org_id", "connection_id", "report", "bucket_start_us", "bucket_end_us", "group_key", "project_ref",
            "api_key_ref",
            "line_item", "model", "cost_type", "token_type", "service_tier", "amount_nanos", "quantity",
            "quantity_unit",
        ]
    }

    static func optional(_ s: String?) -> SQLValue { s.map(SQLValue.text) ?? .null }

    func insertStatement(_ table: String, _ columns: [String], _ values: [SQLValue]) -> SQLStatement {
        var s = SQLStatement(dialect, "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (")
        for (i, v) in values.enumerated() {
            if i > 0 { s.append(", ") }
            s.bind(v)
        }
        s.append(")")
        return s
    }

    func deleteBucket(_ table: String, connectionID: String, report: ProviderReport, start: Instant) -> SQLStep {
        SQLStep(
            statement([
                ("DELETE FROM \(table) WHERE connection_id = ", .text(connectionID)),
                (" AND report = ", .text(report.rawValue)),
                (" AND bucket_start_us = ", .int(start.microseconds)),
            ]))
    }

    public func replaceProviderUsage(
        organizationID: String, connectionID: String, report: ProviderReport,
        buckets: [ProviderBucket<PricedProviderUsageRow>]
    ) async throws {
        var steps: [SQLStep] = []
        for bucket in buckets {
            steps.append(
                deleteBucket("provider_usage", connectionID: connectionID, report: report, start: bucket.start))
            // A provider may list a grouping twice in a bucket (it should not): sum them rather than fail the page.
            var merged: [String: PricedProviderUsageRow] = [:]
            var order: [String] = []
            for priced in bucket.rows {
                let key = priced.row.groupKey
                if var existing = merged[key] {
                    try existing.row.usage.add(priced.row.usage)
                    existing.row.units = try checkedSum(existing.row.units, priced.row.units, field: "units")
                    if let a = existing.cost, let b = priced.cost {
                        existing.cost = USD(nanos: try checkedSum(a.nanos, b.nanos, field: "cost_usd"))
                    } else {
                        existing.cost = nil
                    }
                    merged[key] = existing
                } else {
                    merged[key] = priced
                    order.append(key)
                }
            }
            for key in order {
                let p = merged[key]!
                let r = p.row
                let u = r.usage
                steps.append(
                    SQLStep(
                        insertStatement(
                            "provider_usage", Self.usageColumns,
                            [
                                .text(organizationID), .text(connectionID), .text(report.rawValue),
                                .int(bucket.start.microseconds),
                                .int(bucket.end.microseconds), .text(key), Self.optional(r.model),
                                Self.optional(r.projectRef),
                                Self.optional(r.apiKeyRef), r.batch.map { .int($0 ? 1 : 0) } ?? .null,
                                Self.optional(r.serviceTier),
                                Self.optional(r.contextWindow),
                            ] + TokenClass.counts.map { .int(u[$0]) } + [
                                .int(u.requests), .int(r.units), Self.optional(r.unit),
                                p.cost.map { .int($0.nanos) } ?? .null, Self.optional(p.priceID),
                            ])))
            }
        }
        try await database.transaction(steps)
    }

    public func replaceProviderCosts(
        organizationID: String, connectionID: String, report: ProviderReport,
        buckets: [ProviderBucket<ProviderCostRow>]
    ) async throws {
        var steps: [SQLStep] = []
        for bucket in buckets {
            steps.append(
                deleteBucket("provider_costs", connectionID: connectionID, report: report, start: bucket.start))
            var merged: [String: ProviderCostRow] = [:]
            var order: [String] = []
            for row in bucket.rows {
                if var existing = merged[row.groupKey] {
                    existing.amount = USD(
                        nanos: try checkedSum(existing.amount.nanos, row.amount.nanos, field: "amount"))
                    merged[row.groupKey] = existing
                } else {
                    merged[row.groupKey] = row
                    order.append(row.groupKey)
                }
            }
            for key in order {
                let r = merged[key]!
                steps.append(
                    SQLStep(
                        insertStatement(
                            "provider_costs", Self.costColumns,
                            [
                                .text(organizationID), .text(connectionID), .text(report.rawValue),
                                .int(bucket.start.microseconds),
                                .int(bucket.end.microseconds), .text(key), Self.optional(r.projectRef),
                                Self.optional(r.apiKeyRef),
                                Self.optional(r.lineItem), Self.optional(r.model), Self.optional(r.costType),
                                Self.optional(r.tokenType),
                                Self.optional(r.serviceTier), .int(r.amount.nanos), Self.optional(r.quantity),
                                Self.optional(r.quantityUnit),
                            ])))
            }
        }
        try await database.transaction(steps)
    }

    func ledgerQuery(
        _ table: String, _ columns: [String], organizationID: String, connectionID: String?, from: Instant,
        to: Instant
    ) -> SQLStatement {
        var s = SQLStatement(dialect, "SELECT \(columns.joined(separator: ", ")) FROM \(table) WHERE org_id = ")
        s.bind(organizationID)
        if let connectionID {
            s.append(" AND connection_id = ")
            s.bind(connectionID)
        }
        s.append(" AND bucket_start_us >= ")
        s.bind(from.microseconds)
        s.append(" AND bucket_start_us < ")
        s.bind(to.microseconds)
        s.append(" ORDER BY bucket_start_us, connection_id, report, group_key")
        return s
    }

    public func providerUsage(organizationID: String, connectionID: String?, from: Instant, to: Instant) async throws
        -> [(report: ProviderReport, row: PricedProviderUsageRow)]
    {
        try await database.query(
            ledgerQuery(
                "provider_usage", Self.usageColumns, organizationID: organizationID,
                connectionID: connectionID, from: from, to: to)
        ).map { r in
            var u = TokenUsage()
            for c in TokenClass.counts { u[c] = try r.int(c.column) }
            u.requests = try r.int("requests")
            let row = ProviderUsageRow(
                bucketStart: try r.instant("bucket_start_us"), bucketEnd: try r.instant("bucket_end_us"),
                model: try r.optionalText("model"),
                projectRef: try r.optionalText("project_ref"), apiKeyRef: try r.optionalText("api_key_ref"),
                batch: try r.optionalBool("batch"), serviceTier: try r.optionalText("service_tier"),
                contextWindow: try r.optionalText("context_window"), usage: u, units: try r.int("units"),
                unit: try r.optionalText("unit"))
            return (
                try r.raw("report", as: ProviderReport.self),
                PricedProviderUsageRow(
                    row: row, cost: try r.optionalInt("cost_nanos").map { USD(nanos: $0) },
                    priceID: try r.optionalText("price_id"))
            )
        }
    }

    public func providerCosts(organizationID: String, connectionID: String?, from: Instant, to: Instant) async throws
        -> [(report: ProviderReport, row: ProviderCostRow)]
    {
        try await database.query(
            ledgerQuery(
                "provider_costs", Self.costColumns, organizationID: organizationID,
                connectionID: connectionID, from: from, to: to)
        ).map { r in
            (
                try r.raw("report", as: ProviderReport.self),
                ProviderCostRow(
                    bucketStart: try r.instant("bucket_start_us"), bucketEnd: try r.instant("bucket_end_us"),
                    projectRef: try r.optionalText("project_ref"), apiKeyRef: try r.optionalText("api_key_ref"),
                    lineItem: try r.optionalText("line_item"), model: try r.optionalText("model"),
                    costType: try r.optionalText("cost_type"), tokenType: try r.optionalText("token_type"),
                    serviceTier: try r.optionalText("service_tier"), amount: USD(nanos: try r.int("amount_nanos")),
                    quantity: try r.optionalText("quantity"), quantityUnit: try r.optionalText("quantity_unit"))
            )
        }
    }

    // MARK: Provider projects

    public func providerRefs(organizationID: String, connectionID: String) async throws -> [ProviderRef] {
        var out: [ProviderRef] = []
        for (kind, column) in [("project", "project_ref"), ("api_key", "api_key_ref")] {
            let rows = try await database.query(
                statement([
                    (
                        "SELECT \(column), CAST(COUNT(*) AS BIGINT) AS row_count FROM provider_usage WHERE org_id = ",
                        .text(organizationID)
                    ),
                    (" AND connection_id = ", .text(connectionID)),
                    (" AND \(column) IS NOT NULL GROUP BY \(column) ORDER BY \(column)", nil),
                ]))
            out += try rows.map { ProviderRef(kind: kind, ref: try $0.text(column), rows: try $0.int("row_count")) }
        }
        return out
    }

    public func providerProjectMappings(organizationID: String) async throws -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for r in try await database.query(
            statement([
                (
                    "SELECT connection_id, ref, project_id FROM provider_project_map WHERE org_id = ",
                    .text(organizationID)
                )
            ]))
        {
            out[try r.text("connection_id"), default: [:]][try r.text("ref")] = try r.text("project_id")
        }
        return out
    }

    public func mapProviderProject(organizationID: String, connectionID: String, ref: String, projectID: String?)
        async throws
    {
        var steps = [
            SQLStep(
                statement([
                    ("DELETE FROM provider_project_map WHERE org_id = ", .text(organizationID)),
                    (" AND connection_id = ", .text(connectionID)),
                    (" AND ref = ", .text(ref)),
                ]))
        ]
        if let projectID {
            steps.append(
                SQLStep(
                    insertStatement(
                        "provider_project_map", ["org_id", "connection_id", "ref", "project_id"],
                        [.text(organizationID), .text(connectionID), .text(ref), .text(projectID)])))
        }
        try await database.transaction(steps)
    }

    // MARK: Runs

    static var runColumns: String {
        "id, org_id, connection_id, trigger_kind, from_us, to_us, status, pages, rows_stored, started_us, finished_us, error"
    }

    public func createSyncRun(_ run: SyncRun) async throws {
        try await database.execute(
            insertStatement(
                "sync_runs", Self.runColumns.split(separator: ",").map { $0.trimmingSpaces() },
                [
                    .text(run.id), .text(run.organizationID), .text(run.connectionID), .text(run.trigger.rawValue),
                    .int(run.from.microseconds),
                    .int(run.to.microseconds), .text(run.status.rawValue), .int(run.pages), .int(run.rows),
                    .int(run.startedAt.microseconds),
                    run.finishedAt.map { .int($0.microseconds) } ?? .null, Self.optional(run.error),
                ]))
    }

    public func updateSyncRun(_ run: SyncRun) async throws {
        try await database.execute(
            statement([
                ("UPDATE sync_runs SET status = ", .text(run.status.rawValue)), (", pages = ", .int(run.pages)),
                (", rows_stored = ", .int(run.rows)),
                (", finished_us = ", run.finishedAt.map { .int($0.microseconds) } ?? .null),
                (", error = ", Self.optional(run.error)),
                (" WHERE id = ", .text(run.id)), (" AND org_id = ", .text(run.organizationID)),
            ]))
    }

    public func syncRuns(organizationID: String, connectionID: String?, limit: Int) async throws -> [SyncRun] {
        var s = SQLStatement(dialect, "SELECT \(Self.runColumns) FROM sync_runs WHERE org_id = ")
        s.bind(organizationID)
        if let connectionID {
            s.append(" AND connection_id = ")
            s.bind(connectionID)
        }
        s.append(" ORDER BY started_us DESC, id DESC LIMIT ")
        s.bind(Int64(limit))
        return try await database.query(s).map { r in
            SyncRun(
                id: try r.text("id"), organizationID: try r.text("org_id"), connectionID: try r.text("connection_id"),
                trigger: try r.raw("trigger_kind"), from: try r.instant("from_us"), to: try r.instant("to_us"),
                status: try r.raw("status"), pages: try r.int("pages"), rows: try r.int("rows_stored"),
                startedAt: try r.instant("started_us"), finishedAt: try r.optionalInstant("finished_us"),
                error: try r.optionalText("error"))
        }
    }

    // MARK: Leases

    public func acquireSyncLease(connectionID: String, holder: String, until: Instant, now: Instant) async throws
        -> Bool
    {
        // Insert if absent; otherwise take it over only when it expired or is ours. One statement, so two replicas
        // racing for it cannot both win.
        let changed = try await database.execute(
            statement([
                ("INSERT INTO sync_leases (connection_id, holder, until_us) VALUES (", .text(connectionID)),
                (", ", .text(holder)),
                (", ", .int(until.microseconds)),
                (
                    ") ON CONFLICT (connection_id) DO UPDATE SET holder = excluded.holder, until_us = excluded.until_us WHERE sync_leases.until_us < ",
                    .int(now.microseconds)
                ),
                (" OR sync_leases.holder = ", .text(holder)),
            ]))
        return changed == 1
    }

    public func releaseSyncLease(connectionID: String, holder: String) async throws {
        try await database.execute(
            statement([
                ("DELETE FROM sync_leases WHERE connection_id = ", .text(connectionID)),
                (" AND holder = ", .text(holder)),
            ]))
    }
}

/// `a + b` for rows a provider listed twice: a sum that cannot be held fails the page, never wraps or traps.
func checkedSum(_ a: Int64, _ b: Int64, field: String) throws(TallyError) -> Int64 {
    let (sum, overflow) = a.addingReportingOverflow(b)
    guard !overflow else {
        throw .totalTooLarge([
            FieldProblem(
                field: field, reason: "of rows listed twice in one bucket adds up to more than Tally can count")
        ])
    }
    return sum
}

extension TokenUsage {
    public mutating func add(_ o: TokenUsage) throws(TallyError) {
        func sum(_ a: Int64, _ b: Int64, _ field: String) throws(TallyError) -> Int64 {
            try checkedSum(a, b, field: field)
        }
        for c in TokenClass.counts { self[c] = try sum(self[c], o[c], c.field) }
        requests = try sum(requests, o.requests, "requests")
    }
}

extension Substring {
    func trimmingSpaces() -> String { String(drop { $0 == " " }) }
}

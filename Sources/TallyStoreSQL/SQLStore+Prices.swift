import TallyAggregate
import TallyCore

/// Organization prices, the audit log, unpriced models and re-pricing, written once for both dialects.
extension SQLStore {
    static var priceColumns: String {
        "SELECT id, org_id, provider, model, from_date, to_date, definition, created_us FROM price_entries"
    }

    public func priceRecords(organizationID: String?) async throws -> [OrganizationPriceRecord] {
        var s = SQLStatement(dialect, Self.priceColumns)
        if let organizationID {
            s.append(" WHERE org_id = ")
            s.bind(.text(organizationID))
        }
        s.append(" ORDER BY org_id, model, from_date, id")
        return try await database.query(s).map { r in
            OrganizationPriceRecord(
                id: try r.text("id"), organizationID: try r.text("org_id"), provider: try r.optionalText("provider"),
                model: try r.text("model"), from: try r.parsed("from_date", as: "a date", CivilDate.init(parsing:)),
                to: try r.optionalParsed("to_date", as: "a date", CivilDate.init(parsing:)),
                definition: try r.text("definition"),
                createdAt: try r.instant("created_us")
            )
        }
    }

    public func addPriceRecord(_ record: OrganizationPriceRecord, audit: AuditRecord) async throws {
        let insert = statement([
            (
                "INSERT INTO price_entries (id, org_id, provider, model, from_date, to_date, definition, created_us) VALUES (",
                .text(record.id)
            ),
            (", ", .text(record.organizationID)), (", ", record.provider.map(SQLValue.text) ?? .null),
            (", ", .text(record.model)),
            (", ", .text(record.from.description)), (", ", record.to.map { .text($0.description) } ?? .null),
            (", ", .text(record.definition)), (", ", .int(record.createdAt.microseconds)), (")", nil),
        ])
        try await database.transaction([SQLStep(insert), SQLStep(auditInsert(audit))])
    }

    public func endPriceRecord(organizationID: String, id: String, on date: CivilDate, audit: AuditRecord) async throws
    {
        guard let record = try await priceRecords(organizationID: organizationID).first(where: { $0.id == id }) else {
            throw TallyError.notFound("price entry '\(id)'")
        }
        let change: SQLStatement
        if record.from >= date {
            change = statement([
                ("DELETE FROM price_entries WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
            ])
        } else {
            let end = min(date, record.to ?? date)
            change = statement([
                ("UPDATE price_entries SET to_date = ", .text(end.description)),
                (" WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
            ])
        }
        try await database.transaction([SQLStep(change, expectedChanges: 1), SQLStep(auditInsert(audit))])
    }

    public func unpricedModels(
        organizationID: String, from: Instant?, to: Instant?,
        projectIDs: [String]?
    ) async throws -> [UnpricedModel] {
        var s = SQLStatement(
            dialect,
            """
            SELECT provider, model, CAST(SUM(requests) AS BIGINT) AS requests,
              CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, CAST(SUM(output_tokens) AS BIGINT) AS output_tokens,
              MIN(ts_us) AS first_seen_us, MAX(ts_us) AS last_seen_us
            FROM usage_events WHERE org_id =
            """ + " ")
        s.bind(.text(organizationID))
        s.append(" AND cost_nanos IS NULL")
        if let from { s.append(" AND ts_us >= "); s.bind(.int(from.microseconds)) }
        if let to { s.append(" AND ts_us < "); s.bind(.int(to.microseconds)) }
        if let projectIDs {
            s.append(" AND project_id IN (")
            for (i, id) in projectIDs.enumerated() {
                if i > 0 { s.append(", ") }
                s.bind(.text(id))
            }
            s.append(projectIDs.isEmpty ? "NULL)" : ")")
        }
        s.append(" GROUP BY provider, model ORDER BY SUM(requests) DESC, provider, model")
        return try await database.query(s).map { r in
            UnpricedModel(
                provider: try r.text("provider"), model: try r.text("model"), requests: try r.int("requests"),
                inputTokens: try r.int("input_tokens"), outputTokens: try r.int("output_tokens"),
                firstSeen: try r.instant("first_seen_us"), lastSeen: try r.instant("last_seen_us"))
        }
    }

    public func applyRepricing(_ changes: [RepricedEvent], audit: AuditRecord) async throws {
        // Null-safe equality differs: SQLite's `IS`, PostgreSQL's `IS NOT DISTINCT FROM`.
        let same = dialect == .postgres ? " IS NOT DISTINCT FROM " : " IS "
        var steps: [SQLStep] = []
        steps.reserveCapacity(changes.count + 2)
        for change in changes {
            let s = change.stored
            steps.append(
                SQLStep(
                    statement([
                        ("UPDATE usage_events SET cost_nanos = ", change.cost.map { .int($0.nanos) } ?? .null),
                        (", price_id = ", change.priceID.map(SQLValue.text) ?? .null),
                        (" WHERE org_id = ", .text(s.organizationID)), (" AND project_id = ", .text(s.projectID)),
                        (" AND event_id = ", .text(s.event.id)),
                        (" AND cost_nanos" + same, s.cost.map { .int($0.nanos) } ?? .null),
                        (" AND price_id" + same, s.priceID.map(SQLValue.text) ?? .null),
                    ]), expectedChanges: 1))
        }
        for delta in try RollupDelta.repricing(changes) {
            let n = 2 + delta.table.dimensions.count + UsageMetrics.columns.count
            for row in delta.rows {
                var s = SQLStatement(dialect, Schema.rollupUpsert(delta.table, rows: "VALUES (PLACEHOLDERS)"))
                s = Self.fill(s, with: Schema.rollupValues(row.key, row.metrics), count: n)
                steps.append(SQLStep(s))
            }
        }
        steps.append(SQLStep(auditInsert(audit)))
        // The closed months are read in the same transaction: an event of a closed month is never re-priced.
        let closed = statement([
            ("SELECT month, from_us, to_us FROM closed_periods WHERE org_id = ", .text(audit.organizationID))
        ])
        let planned = steps
        // The organization's row first (PostgreSQL): a closing in progress finishes before the closed months are read.
        let reads = [organizationLock(audit.organizationID), closed].compactMap { $0 }
        let verdict = try await database.transaction { (outcomes: [SQLOutcome]) -> SQLDecision<RepricingVerdict> in
            if outcomes.count < reads.count { return .run(reads[outcomes.count]) }
            if outcomes.count == reads.count {
                if let month = try Self.closedMonth(holding: changes, in: outcomes[reads.count - 1].rows) {
                    return .rollback(.closed(month))
                }
            } else if let expected = planned[outcomes.count - reads.count - 1].expectedChanges,
                outcomes[outcomes.count - 1].changes != expected
            {
                return .rollback(.changed)
            }
            let next = outcomes.count - reads.count
            return next < planned.count ? .run(planned[next].statement) : .commit(.applied)
        }
        switch verdict {
        case .applied: return
        case .closed(let month):
            throw TallyError.conflict(
                "\(month) is closed: its events keep their prices; reopen it (POST /api/v1/periods/\(month)/reopen) "
                    + "to re-price them")
        case .changed:
            throw TallyError.conflict("the data changed while this was being applied; nothing was changed, try again")
        }
    }

    /// Builds `VALUES (?, …)` with its binds in the dialect's placeholder style.
    static func fill(_ template: SQLStatement, with values: [SQLValue], count: Int) -> SQLStatement {
        let parts = template.text.split(separator: "PLACEHOLDERS", omittingEmptySubsequences: false).map(String.init)
        var s = SQLStatement(template.dialect, parts[0])
        for (i, v) in values.enumerated() {
            if i > 0 { s.append(", ") }
            s.bind(v)
        }
        s.append(parts[1])
        return s
    }

    func auditInsert(_ a: AuditRecord) -> SQLStatement {
        statement([
            ("INSERT INTO audit_log (id, org_id, at_us, actor, action, detail) VALUES (", .text(a.id)),
            (", ", .text(a.organizationID)), (", ", .int(a.at.microseconds)), (", ", .text(a.actor)),
            (", ", .text(a.action)), (", ", .text(a.detail)), (")", nil),
        ])
    }
}

/// How a re-pricing transaction ended.
enum RepricingVerdict: Sendable {
    case applied
    /// An event to change is in this closed month.
    case closed(String)
    /// An event's cost changed since it was read.
    case changed
}

import TallyCore

/// Insights, their settings and the weekly digest's opt-in and sending record (migration 13); once for both dialects.
extension SQLStore {
    static var insightColumns: String {
        "SELECT id, org_id, insight_key, kind, title, detail, evidence, savings_nanos, explorer_url, status, "
            + "first_seen_us, last_seen_us FROM insights"
    }

    static func insight(_ r: SQLRow) throws -> Insight {
        Insight(
            id: try r.text("id"), organizationID: try r.text("org_id"),
            finding: InsightFinding(
                kind: try r.raw("kind"), key: try r.text("insight_key"), title: try r.text("title"),
                detail: try r.text("detail"),
                evidence: try r.parsed("evidence", as: "insight evidence", EvidenceColumn.figures(_:)),
                estimatedMonthlySavings: try r.optionalInt("savings_nanos").map(USD.init(nanos:)),
                explorerURL: try r.text("explorer_url")),
            status: try r.raw("status"), firstSeen: try r.instant("first_seen_us"),
            lastSeen: try r.instant("last_seen_us"))
    }

    public func recordInsights(organizationID: String, findings: [Insight], at: Instant) async throws {
        let org = SQLValue.text(organizationID)
        var steps: [SQLStep] = findings.map { i in
            var s = insertStatement(
                "insights",
                [
                    "id", "org_id", "insight_key", "kind", "title", "detail", "evidence", "savings_nanos",
                    "explorer_url", "status", "first_seen_us", "last_seen_us",
                ],
                [
                    .text(i.id), org, .text(i.finding.key), .text(i.finding.kind.rawValue), .text(i.finding.title),
                    .text(i.finding.detail), .text(EvidenceColumn.text(i.finding.evidence)),
                    i.finding.estimatedMonthlySavings.map { .int($0.nanos) } ?? .null, .text(i.finding.explorerURL),
                    .text(InsightStatus.new.rawValue), .int(at.microseconds), .int(at.microseconds),
                ])
            // Seen again: fresh figures; a dismissed insight stays dismissed, a resolved one is new again.
            s.append(
                " ON CONFLICT (org_id, insight_key) DO UPDATE SET kind = excluded.kind, title = excluded.title, "
                    + "detail = excluded.detail, evidence = excluded.evidence, savings_nanos = excluded.savings_nanos, "
                    + "explorer_url = excluded.explorer_url, last_seen_us = excluded.last_seen_us, "
                    + "status = CASE WHEN insights.status = 'dismissed' THEN 'dismissed' ELSE 'new' END")
            return SQLStep(s, expectedChanges: 1)
        }
        var resolve = statement([
            ("UPDATE insights SET status = 'resolved' WHERE org_id = ", org), (" AND status <> 'resolved'", nil),
        ])
        if !findings.isEmpty {
            resolve.append(" AND insight_key NOT IN (")
            for (n, i) in findings.enumerated() {
                if n > 0 { resolve.append(", ") }
                resolve.bind(i.finding.key)
            }
            resolve.append(")")
        }
        steps.append(SQLStep(resolve))
        steps.append(
            SQLStep(
                statement([
                    ("INSERT INTO insight_settings (org_id, computed_us) VALUES (", org),
                    (", ", .int(at.microseconds)),
                    (") ON CONFLICT (org_id) DO UPDATE SET computed_us = excluded.computed_us", nil),
                ]), expectedChanges: 1))
        try await database.transaction(steps)
    }

    public func insights(organizationID: String, status: InsightStatus?) async throws -> [Insight] {
        var parts: [(String, SQLValue?)] = [(Self.insightColumns + " WHERE org_id = ", .text(organizationID))]
        if let status { parts.append((" AND status = ", .text(status.rawValue))) }
        // Insights without savings last on both databases (PostgreSQL would put NULLs first in a DESC order).
        parts.append((" ORDER BY last_seen_us DESC, (savings_nanos IS NULL), savings_nanos DESC, id", nil))
        return try await database.query(statement(parts)).map(Self.insight)
    }

    public func dismissInsight(organizationID: String, id: String, audit: AuditRecord) async throws -> Insight {
        let update = statement([
            ("UPDATE insights SET status = 'dismissed' WHERE org_id = ", .text(organizationID)),
            (" AND id = ", .text(id)),
        ])
        do {
            try await database.transaction([SQLStep(update, expectedChanges: 1), SQLStep(auditInsert(audit))])
        } catch TallyError.conflict {
            throw TallyError.notFound("insight '\(id)'")
        }
        guard
            let insight = try await database.query(
                statement([
                    (Self.insightColumns + " WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
                ])
            ).first.map(Self.insight)
        else { throw TallyError.notFound("insight '\(id)'") }
        return insight
    }

    public func insightsComputedAt(organizationID: String) async throws -> Instant? {
        try await database.query(
            statement([("SELECT computed_us FROM insight_settings WHERE org_id = ", .text(organizationID))])
        ).first?.optionalInstant("computed_us")
    }

    public func insightSettings(organizationID: String) async throws -> InsightSettings {
        let rows = try await database.query(
            statement([("SELECT definition FROM insight_settings WHERE org_id = ", .text(organizationID))]))
        guard let definition = try rows.first?.optionalText("definition") else { return InsightSettings() }
        return try InsightSettings(definition: definition)
    }

    public func saveInsightSettings(organizationID: String, _ settings: InsightSettings, audit: AuditRecord)
        async throws
    {
        let upsert = statement([
            ("INSERT INTO insight_settings (org_id, definition, updated_us) VALUES (", .text(organizationID)),
            (", ", .text(settings.json)), (", ", .int(audit.at.microseconds)),
            (
                ") ON CONFLICT (org_id) DO UPDATE SET definition = excluded.definition, updated_us = excluded.updated_us",
                nil
            ),
        ])
        try await database.transaction([SQLStep(upsert, expectedChanges: 1), SQLStep(auditInsert(audit))])
    }

    // MARK: Weekly digest

    public func weeklyDigestChannelIDs(organizationID: String) async throws -> [String] {
        try await database.query(
            statement([
                ("SELECT id FROM alert_channels WHERE org_id = ", .text(organizationID)),
                (" AND kind = 'email' AND weekly_digest = 1 ORDER BY created_us, id", nil),
            ])
        ).map { try $0.text("id") }
    }

    public func setWeeklyDigest(organizationID: String, channelID: String, enabled: Bool) async throws {
        let changed = try await database.execute(
            statement([
                ("UPDATE alert_channels SET weekly_digest = ", .int(enabled ? 1 : 0)),
                (" WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(channelID)),
            ]))
        guard changed == 1 else { throw TallyError.notFound("alert channel '\(channelID)'") }
    }

    public func claimWeeklyDigest(organizationID: String, channelID: String, week: CivilDate, at: Instant)
        async throws -> Bool
    {
        var insert = insertStatement(
            "weekly_digests", ["org_id", "channel_id", "week", "sent_us"],
            [.text(organizationID), .text(channelID), .text(week.description), .int(at.microseconds)])
        insert.append(" ON CONFLICT (org_id, channel_id, week) DO NOTHING")
        return try await database.execute(insert) == 1
    }

    public func releaseWeeklyDigest(organizationID: String, channelID: String, week: CivilDate) async throws {
        try await database.execute(
            statement([
                ("DELETE FROM weekly_digests WHERE org_id = ", .text(organizationID)),
                (" AND channel_id = ", .text(channelID)), (" AND week = ", .text(week.description)),
            ]))
    }
}

/// `[InsightFigure]` as the text the `insights.evidence` column holds: a JSON list of `[name, type, value]` with money
/// in nano-dollars (integers, never floats), in the engine's order.
enum EvidenceColumn {
    static func text(_ figures: [InsightFigure]) -> String {
        var w = JSONWriter()
        w.beginArray()
        for f in figures {
            w.beginArray()
            w.string(f.name)
            switch f.value {
            case .usd(let v): w.string("usd"); w.int(v.nanos)
            case .count(let v): w.string("count"); w.int(v)
            case .percent(let v): w.string("percent"); w.string(v)
            case .text(let v): w.string("text"); w.string(v)
            }
            w.endArray()
        }
        w.endArray()
        return w.text
    }

    /// nil when the text is not such a list (the row reader then names the column).
    static func figures(_ text: String) -> [InsightFigure]? {
        guard case .array(let items)? = try? JSONParser.parse(Array(text.utf8)) else { return nil }
        var figures: [InsightFigure] = []
        for item in items {
            guard case .array(let parts) = item, parts.count == 3, case .string(let name) = parts[0],
                case .string(let type) = parts[1]
            else { return nil }
            switch (type, parts[2]) {
            case ("usd", .number(let n)):
                guard let v = Int64(n) else { return nil }; figures.append(.init(name, .usd(USD(nanos: v))))
            case ("count", .number(let n)):
                guard let v = Int64(n) else { return nil }; figures.append(.init(name, .count(v)))
            case ("percent", .string(let s)): figures.append(.init(name, .percent(s)))
            case ("text", .string(let s)): figures.append(.init(name, .text(s)))
            default: return nil
            }
        }
        return figures
    }
}

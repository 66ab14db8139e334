import Foundation
import TallyAggregate
import TallyCore

/// Captured bodies, projects' capture settings, safety filters and flag counts (issue 21), for both dialects.
extension SQLStore {
    // MARK: Captured bodies

    /// The rows of `event_contents` for the stored events that carry captured bodies: planned with the insert, written
    /// in its transaction, so a body never outlives a refused event and an acknowledged one has its body.
    static func contentInsert(_ events: [StoredEvent]) -> SQLBulkInsert? {
        let rows: [[SQLValue]] = events.compactMap { s in
            guard let c = s.content else { return nil }
            func blob(_ bytes: [UInt8]?) -> SQLValue { bytes.map { .text(Data($0).base64EncodedString()) } ?? .null }
            return [
                .text(s.organizationID), .text(s.projectID), .text(s.event.id), .text(c.keyID), .text(c.mode.rawValue),
                blob(c.request), blob(c.response), .int(c.requestTruncated ? 1 : 0), .int(c.responseTruncated ? 1 : 0),
                .int(c.expiresAt.microseconds),
            ]
        }
        guard !rows.isEmpty else { return nil }
        let columns = [
            "org_id", "project_id", "event_id", "key_id", "mode", "request", "response", "request_truncated",
            "response_truncated", "expires_us",
        ]
        return SQLBulkInsert(
            table: "event_contents", columns: columns,
            integerColumns: columns.map { ["request_truncated", "response_truncated", "expires_us"].contains($0) },
            rows: rows, conflict: .skip(key: ["org_id", "project_id", "event_id"]), mayHoldNulls: true)
    }

    public func eventContent(organizationID: String, projectID: String, eventID: String) async throws
        -> SealedEventContent?
    {
        let rows = try await database.query(
            statement([
                (
                    "SELECT key_id, mode, request, response, request_truncated, response_truncated, expires_us "
                        + "FROM event_contents WHERE org_id = ", .text(organizationID)
                ),
                (" AND project_id = ", .text(projectID)), (" AND event_id = ", .text(eventID)),
                // Past its retention a body is gone, even before the janitor's next round.
                (" AND expires_us > ", .int(Instant.now.microseconds)),
            ]))
        return try rows.first.map { r in
            func blob(_ column: String) throws -> [UInt8]? {
                try r.optionalParsed(column, as: "base64") { Data(base64Encoded: $0).map(Array.init) }
            }
            return SealedEventContent(
                keyID: try r.text("key_id"), request: try blob("request"), response: try blob("response"),
                requestTruncated: try r.bool("request_truncated"), responseTruncated: try r.bool("response_truncated"),
                mode: try r.raw("mode"), expiresAt: try r.instant("expires_us"))
        }
    }

    public func deleteExpiredContent(now: Instant) async throws -> Int {
        try await database.execute(
            statement([("DELETE FROM event_contents WHERE expires_us <= ", .int(now.microseconds))]))
    }

    public func contentSettings(organizationID: String) async throws -> [String: ContentSettings] {
        let rows = try await database.query(
            statement([
                (
                    "SELECT id, content_capture, content_retention_days FROM projects WHERE org_id = ",
                    .text(organizationID)
                )
            ]))
        var settings: [String: ContentSettings] = [:]
        for r in rows {
            settings[try r.text("id")] = ContentSettings(
                capture: try r.raw("content_capture"), retentionDays: Int(try r.int("content_retention_days")))
        }
        return settings
    }

    public func setContentSettings(organizationID: String, projectID: String, _ settings: ContentSettings)
        async throws
    {
        let changed = try await database.execute(
            statement([
                ("UPDATE projects SET content_capture = ", .text(settings.capture.rawValue)),
                (", content_retention_days = ", .int(Int64(settings.retentionDays))),
                (" WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(projectID)),
            ]))
        guard changed == 1 else { throw TallyError.notFound("project '\(projectID)'") }
    }

    // MARK: Safety filters

    public func safetyFilters(organizationID: String) async throws -> [SafetyFilter] {
        try await database.query(
            statement([
                (
                    "SELECT id, org_id, name, project_id, detectors, keywords, patterns, side, action, created_us, "
                        + "updated_us FROM safety_filters WHERE org_id = ", .text(organizationID)
                ),
                (" ORDER BY created_us, id", nil),
            ])
        ).map { r in
            func list(_ column: String) throws -> [String] {
                try r.optionalParsed(column, as: "a JSON list of strings", Self.decodeStrings) ?? []
            }
            return SafetyFilter(
                id: try r.text("id"), organizationID: try r.text("org_id"), name: try r.text("name"),
                projectID: try r.optionalText("project_id"), detectors: try list("detectors"),
                keywords: try list("keywords"), patterns: try list("patterns"), side: try r.text("side"),
                action: try r.text("action"), createdAt: try r.instant("created_us"),
                updatedAt: try r.instant("updated_us"))
        }
    }

    public func createSafetyFilter(_ f: SafetyFilter, audit: AuditRecord) async throws {
        let insert = statement([
            (
                "INSERT INTO safety_filters (id, org_id, name, project_id, detectors, keywords, patterns, side, action, "
                    + "created_us, updated_us) VALUES (", .text(f.id)
            ),
            (", ", .text(f.organizationID)), (", ", .text(f.name)), (", ", f.projectID.map(SQLValue.text) ?? .null),
            (", ", .text(Self.encodeStrings(f.detectors))), (", ", .text(Self.encodeStrings(f.keywords))),
            (", ", .text(Self.encodeStrings(f.patterns))), (", ", .text(f.side)), (", ", .text(f.action)),
            (", ", .int(f.createdAt.microseconds)), (", ", .int(f.updatedAt.microseconds)), (")", nil),
        ])
        try await database.transaction(
            [SQLStep(insert), SQLStep(auditInsert(audit))],
            onConflict: .conflict("a safety filter named '\(f.name)' already exists"))
    }

    public func updateSafetyFilter(_ f: SafetyFilter, audit: AuditRecord) async throws {
        let update = statement([
            ("UPDATE safety_filters SET name = ", .text(f.name)),
            (", project_id = ", f.projectID.map(SQLValue.text) ?? .null),
            (", detectors = ", .text(Self.encodeStrings(f.detectors))),
            (", keywords = ", .text(Self.encodeStrings(f.keywords))),
            (", patterns = ", .text(Self.encodeStrings(f.patterns))), (", side = ", .text(f.side)),
            (", action = ", .text(f.action)), (", updated_us = ", .int(f.updatedAt.microseconds)),
            (" WHERE org_id = ", .text(f.organizationID)), (" AND id = ", .text(f.id)),
        ])
        do {
            try await database.transaction([SQLStep(update, expectedChanges: 1), SQLStep(auditInsert(audit))])
        } catch TallyError.conflict(let message) where message.hasPrefix("the data changed") {
            throw TallyError.notFound("safety filter '\(f.id)'")
        } catch TallyError.conflict {
            throw TallyError.conflict("a safety filter named '\(f.name)' already exists")
        }
    }

    public func deleteSafetyFilter(organizationID: String, id: String, audit: AuditRecord) async throws {
        try await database.transaction(
            [
                SQLStep(
                    statement([
                        ("DELETE FROM safety_filters WHERE org_id = ", .text(organizationID)),
                        (" AND id = ", .text(id)),
                    ]), expectedChanges: 1),
                SQLStep(auditInsert(audit)),
            ], onConflict: .notFound("safety filter '\(id)'"))
    }

    /// One flag of one kind (and feature) in `flagCounts`.
    struct FlagKey: Hashable {
        var kind: String
        var flag: String
        var feature: String?
    }

    static func encodeStrings(_ values: [String]) -> String {
        var w = JSONWriter()
        w.beginArray()
        for v in values { w.string(v) }
        w.endArray()
        return w.text
    }

    static func decodeStrings(_ text: String) -> [String]? {
        guard case .array(let items)? = try? JSONParser.parse(Array(text.utf8)) else { return nil }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { return nil }
            out.append(s)
        }
        return out
    }

    // MARK: Flag counts

    /// At most this many (feature, flag combination) rows are read: past it the answer is refused as too many groups.
    static var flagRowLimit: Int { 20_000 }

    /// Sums over the raw events of the range, grouped by their flag lists (and feature): few distinct lists, so few
    /// rows, split into one count per flag here. Events without flags are read too: they are the denominators.
    public func flagCounts(_ q: FlagQuery) async throws -> FlagCounts {
        let filters = try await resolvingTeams(q.filters, organizationID: q.organizationID)
        let feature = q.byFeature ? "feature, " : ""
        var s = SQLStatement(
            dialect,
            "SELECT \(feature)safety_flags, quality_flags, \(UsageSQL.splitSums(UsageSQL.rawMetricExpressions)) "
                + "FROM usage_events WHERE org_id = ")
        s.bind(q.organizationID)
        s.appendFilters(filters)
        s.append(" AND ts_us >= ")
        s.bind(q.from.microseconds)
        s.append(" AND ts_us < ")
        s.bind(q.to.microseconds)
        s.append(" GROUP BY \(feature)safety_flags, quality_flags LIMIT ")
        s.bind(Int64(Self.flagRowLimit + 1))
        let rows = try await database.query(s)
        if rows.count > Self.flagRowLimit { throw TallyError.tooManyGroups(limit: Self.flagRowLimit) }
        var sums: [FlagKey: (requests: Int64, cost: USD)] = [:]
        var requests: [String: Int64] = [:]
        for r in rows {
            let metrics = try UsageSQL.metrics(r)
            let featureName = q.byFeature ? try r.optionalText("feature") : nil
            let total = requests[featureName ?? "", default: 0]
            requests[featureName ?? ""] =
                total.addingReportingOverflow(metrics.requests).overflow ? .max : total + metrics.requests
            for (kind, column) in [("safety", "safety_flags"), ("quality", "quality_flags")] {
                for flag in Set(UsageSQL.decodeFlags(try r.optionalText(column))) {
                    let key = FlagKey(kind: kind, flag: flag, feature: featureName)
                    var sum = sums[key] ?? (0, .zero)
                    sum.requests =
                        sum.requests.addingReportingOverflow(metrics.requests).overflow
                        ? .max : sum.requests + metrics.requests
                    sum.cost = sum.cost.adding(metrics.cost) ?? sum.cost
                    sums[key] = sum
                }
            }
        }
        let flags = sums.map { key, sum in
            FlagCount(kind: key.kind, flag: key.flag, feature: key.feature, requests: sum.requests, cost: sum.cost)
        }.sorted { ($0.requests, $1.flag, $1.feature ?? "") > ($1.requests, $0.flag, $0.feature ?? "") }
        return FlagCounts(flags: flags, requests: requests)
    }
}

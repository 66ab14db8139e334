import TallyAggregate
import TallyCore

/// Retention (issue 24): raw events trimmed in chunks along `usage_events_org_ts`, rollups by bucket, and the
/// boundaries readers are told about in `retention_marks`.
extension SQLStore {
    public func recordRetentionBoundaries(_ boundaries: RetentionBoundaries) async throws {
        for (what, at) in [("raw_events", boundaries.rawEventsFrom), ("rollups", boundaries.rollupsFrom)] {
            guard let at else { continue }
            try await database.execute(
                statement([
                    ("INSERT INTO retention_marks (what, before_us) VALUES (", .text(what)),
                    (", ", .int(at.microseconds)),
                    (
                        ") ON CONFLICT (what) DO UPDATE SET before_us = excluded.before_us "
                            + "WHERE retention_marks.before_us < excluded.before_us", nil
                    ),
                ]))
        }
    }

    public func retentionBoundaries() async throws -> RetentionBoundaries {
        var boundaries = RetentionBoundaries()
        for row in try await database.query(SQLStatement(dialect, "SELECT what, before_us FROM retention_marks")) {
            let at = try row.instant("before_us")
            switch try row.text("what") {
            case "raw_events": boundaries.rawEventsFrom = at
            case "rollups": boundaries.rollupsFrom = at
            default: break
            }
        }
        return boundaries
    }

    public func deleteRawEvents(organizationID: String, before: Instant, limit: Int) async throws -> Int {
        // The chunk is chosen once, by sequence, so the bodies and the events deleted are the same ones.
        let chosen = try await database.query(
            statement([
                ("SELECT seq FROM usage_events WHERE org_id = ", .text(organizationID)),
                (" AND ts_us < ", .int(before.microseconds)), (" ORDER BY ts_us LIMIT ", .int(Int64(limit))),
            ])
        ).map { try $0.int("seq") }
        guard let first = chosen.min(), let last = chosen.max() else { return 0 }
        // Between the smallest and largest sequence chosen, and before the cut-off: at least the rows chosen, and
        // at most rows just as old that arrived meanwhile, which go now rather than next round.
        func range(_ alias: String) -> [(String, SQLValue?)] {
            [
                ("\(alias)org_id = ", .text(organizationID)), (" AND \(alias)ts_us < ", .int(before.microseconds)),
                (" AND \(alias)seq BETWEEN ", .int(first)), (" AND ", .int(last)),
            ]
        }
        let bodies = statement(
            [
                (
                    "DELETE FROM event_contents WHERE EXISTS (SELECT 1 FROM usage_events e WHERE "
                        + "e.project_id = event_contents.project_id AND e.event_id = event_contents.event_id AND ", nil
                )
            ] + range("e.") + [(") AND org_id = ", .text(organizationID))])
        let events = statement([("DELETE FROM usage_events WHERE ", nil)] + range(""))
        return try await database.transaction { outcomes in
            switch outcomes.count {
            case 0: .run(bodies)
            case 1: .run(events)
            default: .commit(outcomes[1].changes)
            }
        }
    }

    public func deleteRollups(before: Instant) async throws -> Int {
        let hour = before.microseconds / 3_600_000_000
        var deleted = 0
        for table in RollupTable.all {
            let bucket = table.bucket == .hour ? hour : hour / 24
            deleted += try await database.execute(
                statement([("DELETE FROM \(table.name) WHERE \(table.bucket.column) < ", .int(bucket))]))
        }
        deleted += try await database.execute(
            statement([("DELETE FROM performance_rollup_hourly WHERE hour < ", .int(hour))]))
        return deleted
    }

    public func reclaimSpace() async throws {
        // Pages freed by the deletes go back to the file system (new databases are made with auto_vacuum =
        // INCREMENTAL; in an older file this does nothing, and new events reuse the freed pages instead).
        if dialect == .sqlite { try await database.execute(SQLStatement(dialect, "PRAGMA incremental_vacuum")) }
    }
}

import TallyAggregate
import TallyCore

/// Retention (issue 24): raw events trimmed in chunks along `usage_events_org_ts`, rollups by bucket, and the
/// boundaries readers are told about in `retention_marks`.
extension SQLStore {
    public func recordRetentionBoundaries(_ boundaries: RetentionBoundaries) async throws {
        defer { rawEventsBoundary.forget() }  // this process's inserts see the new boundary at once
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
        // The chunk: the oldest `limit` events of the organization before the cut-off, along `usage_events_org_ts`.
        // Chosen the same way by both statements of the transaction, bodies first.
        let chunk: [(String, SQLValue?)] = [
            ("SELECT seq FROM usage_events WHERE org_id = ", .text(organizationID)),
            (" AND ts_us < ", .int(before.microseconds)), (" ORDER BY ts_us, seq LIMIT ", .int(Int64(limit))),
        ]
        let bodies = statement(
            [
                ("DELETE FROM event_contents WHERE org_id = ", .text(organizationID)),
                (
                    " AND EXISTS (SELECT 1 FROM usage_events e WHERE e.project_id = event_contents.project_id "
                        + "AND e.event_id = event_contents.event_id AND e.seq IN (", nil
                ),
            ] + chunk + [("))", nil)])
        // The time bound lets PostgreSQL look only in the months before the cut-off.
        let events = statement(
            [("DELETE FROM usage_events WHERE ts_us < ", .int(before.microseconds)), (" AND seq IN (", nil)] + chunk
                + [(")", nil)])
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
        if dialect == .postgres {
            // Event keys outlive raw events (an event sent again is still a duplicate while its rollup counts it),
            // and go with the rollups. Not counted as rollup rows.
            try await database.execute(
                statement([("DELETE FROM usage_event_keys WHERE ts_us < ", .int(before.microseconds))]))
        }
        return deleted
    }

    public func reclaimSpace() async throws {
        // Pages freed by the deletes go back to the file system (new databases are made with auto_vacuum =
        // INCREMENTAL; in an older file this does nothing, and new events reuse the freed pages instead).
        // A few thousand pages (4 KiB each) at a time: each step is a short write transaction of its own.
        guard dialect == .sqlite,
            try await database.query(SQLStatement(dialect, "PRAGMA auto_vacuum")).first?.int("auto_vacuum") == 2
        else { return }
        func free() async throws -> Int64 {
            try await database.query(SQLStatement(dialect, "PRAGMA freelist_count")).first?.int("freelist_count") ?? 0
        }
        var left = try await free()
        while left > 0 {
            try await database.execute(SQLStatement(dialect, "PRAGMA incremental_vacuum(2000)"))
            let now = try await free()
            if now >= left { break }  // nothing more given back: stop rather than spin
            left = now
        }
    }
}

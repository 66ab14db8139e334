import Synchronization
import TallyCore

/// The months whose partitions this process knows exist, so an insert asks PostgreSQL only for a month it has not
/// met. A partition dropped since (retention on another replica) is found by the insert failing, which empties it.
final class KnownPartitions: Sendable {
    private let months = Mutex<Set<EventPartitions.Month>>([])

    func missing(_ wanted: Set<EventPartitions.Month>) -> Set<EventPartitions.Month> {
        months.withLock { wanted.subtracting($0) }
    }

    func add(_ found: Set<EventPartitions.Month>) { months.withLock { $0.formUnion(found) } }
    func forget() { months.withLock { $0.removeAll() } }
}

/// Where raw events begin (`retention_marks`), as read within the last minute: PostgreSQL's inserts count older
/// events without keeping them, so a late or hostile old timestamp never makes a month retention has dropped.
final class RawEventsBoundary: Sendable {
    private let cached = Mutex<(value: Instant?, read: ContinuousClock.Instant)?>(nil)

    func value(reading: () async throws -> Instant?) async throws -> Instant? {
        let now = ContinuousClock.now
        if let c = cached.withLock({ $0 }), now - c.read < .seconds(60) { return c.value }
        let value = try await reading()
        cached.withLock { $0 = (value, now) }
        return value
    }

    func forget() { cached.withLock { $0 = nil } }
}

/// PostgreSQL's monthly event partitions (`EventPartitions`): created ahead and on demand, dropped by retention, and
/// an older table converted in place.
extension SQLStore {
    /// Makes sure the partitions these events need exist (PostgreSQL; nothing elsewhere): one per month they fall in,
    /// never the months between.
    func ensurePartitions(for events: [StoredEvent]) async throws {
        guard dialect == .postgres else { return }
        try await ensurePartitions(Set(events.map { EventPartitions.Month(containing: $0.event.timestamp) }))
    }

    func ensurePartitions(from lowest: Instant, through highest: Instant) async throws {
        try await ensurePartitions(Set(EventPartitions.months(from: lowest, through: highest)))
    }

    /// Months before `EventPartitions.floor` share a partition made by the migration.
    func ensurePartitions(_ months: Set<EventPartitions.Month>) async throws {
        let missing = knownPartitions.missing(months.filter { $0 >= EventPartitions.floor })
        guard !missing.isEmpty else { return }
        try await createPartitions(missing)
        knownPartitions.add(missing)
    }

    /// Creates the partitions of these months that do not exist yet, under the partition lock (replicas may race).
    /// Each is made beside the table and attached, which locks the partitioned table only against other schema
    /// changes, never against reads or writes.
    func createPartitions(_ months: Set<EventPartitions.Month>) async throws {
        _ = try await database.transaction { (outcomes: [SQLOutcome]) throws -> SQLDecision<Bool> in
            switch outcomes.count {
            case 0: return .run(Self.partitionLock)
            case 1: return .run(Self.partitionedParent)
            case 2: return .run(Self.partitions(of: try outcomes[1].rows.only().text("parent")))
            default:
                let parent = try outcomes[1].rows.only().text("parent")
                let existing = Set(try outcomes[2].rows.map { try $0.text("name") })
                let made = outcomes.count - 3
                let todo = months.sorted().filter { !existing.contains($0.partition) }
                let step = made / 2
                guard step < todo.count else { return .commit(true) }
                let month = todo[step]
                return .run(
                    SQLStatement(
                        .postgres,
                        made % 2 == 0
                            ? "CREATE TABLE \(month.partition) (LIKE \(parent) INCLUDING DEFAULTS)"
                            : "ALTER TABLE \(parent) ATTACH PARTITION \(month.partition) FOR VALUES FROM "
                                + "(\(month.start.microseconds)) TO (\(month.next.start.microseconds))"))
            }
        }
    }

    /// Taken by whatever creates or drops partitions, released at commit.
    static var partitionLock: SQLStatement {
        SQLStatement(
            .postgres,
            "SELECT CAST(1 AS BIGINT) AS locked FROM (SELECT pg_advisory_xact_lock(\(EventPartitions.partitionLock))) l"
        )
    }

    /// The names of a table's partitions (none for a table that is not partitioned).
    static func partitions(of parent: String) -> SQLStatement {
        var s = SQLStatement(
            .postgres,
            "SELECT c.relname::TEXT AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                + "WHERE i.inhparent = to_regclass(")
        s.bind(parent)
        s.append(")")
        return s
    }

    /// The partitioned events table's name: `usage_events`, or the conversion's table while an older one is converted.
    static var partitionedParent: SQLStatement {
        SQLStatement(
            .postgres,
            "SELECT CASE WHEN (SELECT relkind::TEXT FROM pg_class WHERE oid = to_regclass('usage_events')) = 'p' "
                + "THEN 'usage_events' ELSE '\(EventPartitions.converting)' END AS parent")
    }

    public func prepareEventPartitions(through: Instant) async throws {
        guard dialect == .postgres else { return }
        try await ensurePartitions(from: .now, through: through)
    }

    // MARK: Retention

    public func dropRawEventPartitions(before: Instant) async throws -> Int {
        guard dialect == .postgres else { return 0 }
        // While an older table is converted, `usage_events` has no partitions: the chunks trim it.
        let partitions = try await database.query(Self.partitions(of: "usage_events")).map { try $0.text("name") }
        var dropped = 0
        // `usage_events_before` stays, whatever its end: events before 2020 have nowhere else to go. The chunked
        // deletes trim it.
        for name in partitions.sorted() where name != EventPartitions.before {
            guard let end = EventPartitions.end(of: name), end <= before else { continue }
            // The name was read from the catalog and matched Tally's own pattern: it is safe in SQL.
            // Writers into the month wait (none should come: events before the raw-events boundary are counted, not
            // kept, see `insert`), so the count and the bodies deleted are those of the rows dropped.
            let hold = SQLStatement(.postgres, "LOCK TABLE \(name) IN SHARE MODE")
            let count = SQLStatement(.postgres, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM \(name)")
            let bodies = SQLStatement(
                .postgres,
                "DELETE FROM event_contents c WHERE EXISTS (SELECT 1 FROM \(name) e WHERE e.org_id = c.org_id "
                    + "AND e.project_id = c.project_id AND e.event_id = c.event_id)")
            let drop = SQLStatement(.postgres, "DROP TABLE IF EXISTS \(name)")
            // Dropping a partition locks the whole table for a moment: rather than queue every reader behind a long
            // query, it gives up after 3 s, and the chunked deletes that follow take the month's events instead.
            let patience = SQLStatement(.postgres, "SET LOCAL lock_timeout = '3s'")
            do {
                dropped += try await database.transaction { (outcomes: [SQLOutcome]) throws -> SQLDecision<Int> in
                    switch outcomes.count {
                    case 0: .run(patience)
                    case 1: .run(Self.partitionLock)
                    case 2: .run(hold)
                    case 3: .run(count)
                    case 4: .run(bodies)
                    case 5: .run(drop)
                    default: .commit(Int(try outcomes[3].rows.only().int("n")))
                    }
                }
            } catch TallyError.unavailable {
                continue
            }
        }
        if dropped > 0 { knownPartitions.forget() }
        return dropped
    }

    // MARK: Converting an older table

    public func partitionEventsStep(batch: Int) async throws -> EventPartitioningStep {
        guard dialect == .postgres else { return .notApplicable }
        let state = try await database.query(
            SQLStatement(
                .postgres,
                "SELECT (SELECT relkind::TEXT FROM pg_class WHERE oid = to_regclass('usage_events')) AS kind, "
                    + "copied_through FROM usage_events_partitioning")
        ).only()
        if try state.text("kind") == "p" { return .finished }
        let through = try state.int("copied_through")
        // The next batch, by sequence: how many, their time span, the last one; and whether any follow.
        let window: [(String, SQLValue?)] = [
            ("(SELECT seq, ts_us FROM usage_events WHERE seq > ", .int(through)),
            (" ORDER BY seq LIMIT ", .int(Int64(max(1, batch)))), (") b", nil),
        ]
        let bounds = try await database.query(
            statement([("SELECT CAST(COUNT(*) AS BIGINT) AS n, MAX(seq) AS last FROM ", nil)] + window)
        ).only()
        let count = try bounds.int("n")
        let last = try bounds.optionalInt("last") ?? through
        let finishing = try await database.query(
            statement([("SELECT seq FROM usage_events WHERE seq > ", .int(last)), (" LIMIT 1", nil)])
        ).isEmpty
        // Batch 0 (at migration): only an empty old table is replaced there and then.
        if batch == 0 && count > 0 { return .copied(0) }
        let columns = (["seq"] + UsageSQL.eventColumns).joined(separator: ", ")
        let range: [(String, SQLValue?)] =
            finishing
            ? [(" WHERE seq > ", .int(through))] : [(" WHERE seq > ", .int(through)), (" AND seq <= ", .int(last))]
        // The months of what is copied (days: division truncates before 1970, whose events all share the first
        // partition anyway); the last batch also makes today's, for events arriving while it waits for its locks.
        let days = try await database.query(
            statement([("SELECT DISTINCT ts_us / 86400000000 AS day FROM usage_events", nil)] + range))
        try await ensurePartitions(
            Set(
                try days.map {
                    EventPartitions.Month(containing: Instant(microseconds: try $0.int("day") * 86_400_000_000))
                }))
        if finishing { try await ensurePartitions(from: .now, through: .now.adding(seconds: 2 * 86_400)) }
        // A batch waits a moment at most for the writers in progress: while it waits, PostgreSQL queues the writers
        // that come next behind it, so a long one would hold every ingest up. Given up, the next step tries again.
        var steps = [SQLStep(SQLStatement(.postgres, "SET LOCAL lock_timeout = '2s'"))]
        if finishing {
            // The last batch ends the conversion: the tables are locked in the order ingest writes them (the keys,
            // then the events), before the conversion lock, so writers wait and readers of the old table are done
            // before it goes.
            steps += [
                SQLStep(SQLStatement(.postgres, "LOCK TABLE usage_event_keys IN EXCLUSIVE MODE")),
                SQLStep(SQLStatement(.postgres, "LOCK TABLE usage_events IN ACCESS EXCLUSIVE MODE")),
            ]
        }
        steps += [
            SQLStep(SQLStatement(.postgres, "SELECT pg_advisory_xact_lock(\(EventPartitions.conversionLock))")),
            // The batch is planned outside the lock: it goes ahead only if no other replica copied it meanwhile, nor
            // finished the conversion (a replica that waited on the old table's lock then finds the new table).
            SQLStep(
                statement([
                    (
                        "UPDATE usage_events_partitioning SET copied_through = copied_through WHERE copied_through = ",
                        .int(through)
                    ),
                    (" AND finished_us IS NULL", nil),
                ]), expectedChanges: 1),
        ]
        steps += [
            SQLStep(
                statement(
                    [
                        (
                            "INSERT INTO \(EventPartitions.converting) (\(columns)) SELECT \(columns) FROM usage_events",
                            nil
                        )
                    ]
                        + range)),
            SQLStep(
                statement(
                    [
                        (
                            "INSERT INTO usage_event_keys (org_id, project_id, event_id, ts_us) "
                                + "SELECT org_id, project_id, event_id, ts_us FROM usage_events", nil
                        )
                    ] + range
                        + [
                            // A key claimed meanwhile by the same event sent again takes the stored event's time.
                            (
                                " ON CONFLICT (org_id, project_id, event_id) DO UPDATE SET ts_us = EXCLUDED.ts_us "
                                    + "WHERE usage_event_keys.ts_us <> EXCLUDED.ts_us", nil
                            )
                        ])),
            SQLStep(
                statement([
                    ("UPDATE usage_events_partitioning SET copied_through = ", .int(last)),
                    (" WHERE copied_through = ", .int(through)),
                ]), expectedChanges: 1),
        ]
        if finishing {
            steps += EventPartitions.finishing(now: .now).map { SQLStep(SQLStatement(.postgres, $0)) }
        }
        do {
            try await database.transaction(steps)
        } catch TallyError.conflict {
            return .copied(0)  // another replica took this batch; the next step goes on from its end
        }
        if finishing { knownPartitions.forget() }  // the partitions now belong to `usage_events`
        return finishing ? .finished : .copied(Int(count))
    }
}

import TallyCore

/// PostgreSQL keeps `usage_events` partitioned by UTC month (issue 24): a month's events are one table, so retention
/// drops whole months instead of deleting row by row, and a query over a period reads only its months.
///
/// - Months from `floor` on get a partition each, named `usage_events_y2026m12`, created ahead by
///   `EventPartitioningService` and on demand before an insert that needs one. Everything earlier shares
///   `usage_events_before`, so a hostile timestamp can make at most one partition per month since 2020 (timestamps more
///   than a day ahead are refused at ingest).
/// - A partitioned table's unique indexes must hold the partition key, and an event's identity does not hold its
///   timestamp: the key `(org_id, project_id, event_id)` lives in `usage_event_keys`, claimed in the insert's
///   transaction before the event (`SQLBulkWrite.claim`).
/// - A table made before partitioning is converted in place, batch by batch (`SQLStore.partitionEventsStep`).
public enum EventPartitions {
    /// A UTC calendar month, as `year * 12 + month - 1`.
    public struct Month: Hashable, Comparable, Sendable {
        public var index: Int

        public init(year: Int, month: Int) { index = year * 12 + month - 1 }
        init(index: Int) { self.index = index }

        public init(containing instant: Instant) {
            let day: Int64 = 86_400_000_000
            let us = instant.microseconds
            let days = us >= 0 ? us / day : (us - day + 1) / day
            let date = CivilDate(daysSinceEpoch: days)
            self.init(year: date.year, month: date.month)
        }

        public var year: Int { index / 12 }
        public var month: Int { index % 12 + 1 }
        public var next: Month { Month(index: index + 1) }
        public var start: Instant {
            Instant(microseconds: CivilDate(year: year, month: month, day: 1).daysSinceEpoch * 86_400_000_000)
        }
        /// The partition holding this month's events.
        public var partition: String {
            "usage_events_y" + String(year) + "m" + (month < 10 ? "0" : "") + String(month)
        }

        public static func < (a: Month, b: Month) -> Bool { a.index < b.index }
    }

    /// The first month with a partition of its own; earlier events share `before`.
    public static let floor = Month(year: 2020, month: 1)
    public static let before = "usage_events_before"
    /// The partitioned table while an older table is being converted; renamed `usage_events` when done.
    public static let converting = "usage_events_partitioned"

    /// Advisory locks: creating or dropping partitions; copying a batch of an old table (taken shared by every
    /// statement writing `usage_events` or `usage_event_keys` while the conversion runs, see migration 20).
    static let partitionLock: Int64 = 2_047_965_714
    static let conversionLock: Int64 = 2_047_965_715

    /// The months with partitions of their own that events timestamped from `lowest` to `highest` need.
    public static func months(from lowest: Instant, through highest: Instant) -> [Month] {
        let first = max(Month(containing: lowest), floor)
        let last = Month(containing: highest)
        guard first <= last else { return [] }
        return (first.index...last.index).map(Month.init(index:))
    }

    /// The end of the events a partition holds (exclusive), read from its name; nil for a name Tally never makes.
    public static func end(of partition: String) -> Instant? {
        if partition == before { return floor.start }
        let b = Array(partition.utf8)
        let prefix = Array("usage_events_y".utf8)
        guard b.count == prefix.count + 7, Array(b.prefix(prefix.count)) == prefix,
            b[prefix.count + 4] == UInt8(ascii: "m"),
            let year = Int(String(decoding: b[prefix.count..<(prefix.count + 4)], as: UTF8.self)),
            let month = Int(String(decoding: b[(prefix.count + 5)...], as: UTF8.self)), (1...12).contains(month)
        else { return nil }
        return Month(year: year, month: month).next.start
    }

    /// Migration 20's statements on PostgreSQL: the key table, the partitioned table beside the old one, the
    /// conversion's progress, and the triggers that keep the copy exact while the old table is still written.
    static func migration() -> [String] {
        let lock = "PERFORM pg_advisory_xact_lock_shared(\(conversionLock));"
        return [
            """
            CREATE TABLE usage_event_keys (org_id TEXT NOT NULL, project_id TEXT NOT NULL, event_id TEXT NOT NULL,
              ts_us BIGINT NOT NULL, PRIMARY KEY (org_id, project_id, event_id))
            """,
            // Keys go in roughly in time order: a block range index finds the old ones for rollup retention in a few
            // pages, where a B-tree would cost as much again as the key itself.
            "CREATE INDEX usage_event_keys_ts ON usage_event_keys USING brin (ts_us)",
            """
            CREATE TABLE \(converting) (LIKE usage_events INCLUDING DEFAULTS, PRIMARY KEY (seq, ts_us))
              PARTITION BY RANGE (ts_us)
            """,
            "CREATE INDEX usage_events_partitioned_org_ts ON \(converting) (org_id, ts_us, seq)",
            "CREATE INDEX usage_events_partitioned_event ON \(converting) (org_id, project_id, event_id)",
            """
            CREATE INDEX usage_events_partitioned_unpriced ON \(converting) (org_id, provider, model, ts_us)
              WHERE cost_nanos IS NULL
            """,
            "CREATE TABLE \(before) PARTITION OF \(converting) FOR VALUES FROM (MINVALUE) TO (\(floor.start.microseconds))",
            """
            CREATE TABLE usage_events_partitioning (id BIGINT PRIMARY KEY CHECK (id = 1), copied_through BIGINT NOT NULL,
              finished_us BIGINT)
            """,
            "INSERT INTO usage_events_partitioning (id, copied_through) VALUES (1, 0)",
            // While the old table is converted, every statement writing it or the keys first takes the conversion
            // lock shared, before any row or sequence number: a batch (which takes it exclusively) never runs beside a
            // writer, so no event commits behind the batch's back. A change to an event already copied is made to
            // its copy too.
            """
            CREATE FUNCTION tally_conversion_lock() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN \(lock) RETURN NULL; END $$
            """,
            """
            CREATE FUNCTION tally_conversion_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE through BIGINT;
            BEGIN
              SELECT copied_through INTO through FROM usage_events_partitioning;
              IF TG_OP IN ('UPDATE', 'DELETE') THEN
                DELETE FROM \(converting) p USING old_rows o WHERE p.seq = o.seq AND p.ts_us = o.ts_us AND o.seq <= through;
              END IF;
              IF TG_OP IN ('UPDATE', 'INSERT') THEN
                INSERT INTO \(converting) SELECT * FROM new_rows n WHERE n.seq <= through;
              END IF;
              RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER usage_events_conversion_lock BEFORE INSERT OR UPDATE OR DELETE ON usage_events
              FOR EACH STATEMENT EXECUTE FUNCTION tally_conversion_lock()
            """,
            """
            CREATE TRIGGER usage_event_keys_conversion_lock BEFORE INSERT OR UPDATE OR DELETE ON usage_event_keys
              FOR EACH STATEMENT EXECUTE FUNCTION tally_conversion_lock()
            """,
            """
            CREATE TRIGGER usage_events_conversion_insert AFTER INSERT ON usage_events
              REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_conversion_mirror()
            """,
            """
            CREATE TRIGGER usage_events_conversion_update AFTER UPDATE ON usage_events
              REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
              EXECUTE FUNCTION tally_conversion_mirror()
            """,
            """
            CREATE TRIGGER usage_events_conversion_delete AFTER DELETE ON usage_events
              REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_conversion_mirror()
            """,
        ]
    }

    /// The statements ending the conversion, once every event is copied (after the conversion lock and a write lock
    /// on the old table): the old table goes, the partitioned one takes its name, its sequence and index names.
    static func finishing(now: Instant) -> [String] {
        [
            "DROP TRIGGER usage_events_conversion_lock ON usage_events",
            "DROP TRIGGER usage_events_conversion_insert ON usage_events",
            "DROP TRIGGER usage_events_conversion_update ON usage_events",
            "DROP TRIGGER usage_events_conversion_delete ON usage_events",
            "DROP TRIGGER usage_event_keys_conversion_lock ON usage_event_keys",
            "DROP FUNCTION tally_conversion_mirror()",
            "DROP FUNCTION tally_conversion_lock()",
            "ALTER SEQUENCE usage_events_seq_seq OWNED BY \(converting).seq",
            "DROP TABLE usage_events",
            "ALTER TABLE \(converting) RENAME TO usage_events",
            "ALTER INDEX usage_events_partitioned_org_ts RENAME TO usage_events_org_ts",
            "ALTER INDEX usage_events_partitioned_event RENAME TO usage_events_event",
            "ALTER INDEX usage_events_partitioned_unpriced RENAME TO usage_events_unpriced",
            "UPDATE usage_events_partitioning SET finished_us = \(now.microseconds)",
        ]
    }
}

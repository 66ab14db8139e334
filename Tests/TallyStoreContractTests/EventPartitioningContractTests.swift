import Foundation
import TallyCore
import TallyServices
import TallyStorePostgres
import TallyStoreSQL
import TallyTestSupport
import Testing

/// PostgreSQL's monthly event partitions (issue 24): a new database is partitioned from the start, a populated one is
/// converted in place batch by batch while events keep arriving, changing and going, and retention drops whole months
/// while every summary stays the same and an event sent again stays a duplicate.
@Suite(.serialized) struct EventPartitioningContractTests {
    /// A new PostgreSQL database at `version`, given to `body` as its raw database and a store over it.
    func withDatabase(
        migratedThrough version: Int, _ body: @Sendable (PostgresSQLDatabase, PostgresStore) async throws -> Void
    ) async throws {
        guard StoreKind.postgresURL != nil else { return }
        try await StoreKind.withNewPostgresDatabase { db in
            let store = SQLStore(db)
            try await store.applyMigrations(through: version)
            try await body(db, store)
        }
    }

    static func kind(_ db: PostgresSQLDatabase) async throws -> String {
        try await db.query(
            SQLStatement(
                .postgres, "SELECT relkind::TEXT AS kind FROM pg_class WHERE oid = to_regclass('usage_events')")
        ).only().text("kind")
    }

    static func partitions(_ db: PostgresSQLDatabase) async throws -> [String] {
        try await db.query(
            SQLStatement(
                .postgres,
                "SELECT c.relname::TEXT AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    + "WHERE i.inhparent = to_regclass('usage_events') ORDER BY 1")
        ).map { try $0.text("name") }
    }

    static func count(_ db: PostgresSQLDatabase, _ table: String) async throws -> Int64 {
        try await db.query(SQLStatement(.postgres, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM \(table)")).only().int(
            "n")
    }

    /// Every event of the organization, oldest first.
    static func everything(_ store: some TallyStore, _ org: String) async throws -> [StoredEvent] {
        try await store.events(EventQuery(organizationID: org, limit: 100_000)).events
    }

    @Test func aNewDatabaseIsPartitionedAndMakesMonthsOnDemand() async throws {
        try await withDatabase(migratedThrough: .max) { db, store in
            try await store.migrate()
            #expect(try await Self.kind(db) == "p")
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            // A month long past, one before partitions begin, and one a hostile client could pick: each goes where it
            // belongs, and the old one into the shared partition rather than one of its own.
            let outcome = try await store.insert([
                EventBatch(
                    organizationID: org.id,
                    events: [
                        stored("a", "2026-03-15T10:00:00Z", org: org.id, project: web),
                        stored("b", "2019-12-31T23:59:59Z", org: org.id, project: web),
                        stored("c", "0001-01-01T00:00:00Z", org: org.id, project: web),
                        stored("d", "2026-04-01T00:00:00Z", org: org.id, project: web),
                    ])
            ])
            #expect(outcome.map(\.accepted) == [4])
            // (Besides this month's and tomorrow's, made when the empty table was replaced.)
            let current = Set(
                EventPartitions.months(from: .now, through: .now.adding(seconds: 2 * 86_400)).map(\.partition))
            #expect(
                try await Self.partitions(db)
                    == (current.union(["usage_events_before", "usage_events_y2026m03", "usage_events_y2026m04"]))
                    .sorted())
            #expect(try await Self.count(db, "usage_events_before") == 2)
            #expect(try await Self.count(db, "usage_events_y2026m04") == 1)
            // The key is the event's, not its timestamp's: the same id at another time is a duplicate.
            let again = try await store.insert([
                EventBatch(
                    organizationID: org.id, events: [stored("a", "2026-05-02T10:00:00Z", org: org.id, project: web)])
            ])
            #expect(again.map(\.duplicates) == [1])
            #expect(try await Self.count(db, "usage_events") == 4)
            try await store.prepareEventPartitions(through: at("2026-12-20T00:00:00Z"))
            #expect(try await Self.partitions(db).contains(EventPartitions.Month(containing: .now).partition))
        }
    }

    @Test func aPopulatedTableIsConvertedInPlaceWhileItIsWritten() async throws {
        try await withDatabase(migratedThrough: 19) { db, oldStore in
            let org = try await oldStore.defaultOrganization(timeZone: "UTC")
            let web = try await oldStore.createProject(organizationID: org.id, name: "web")
            // 120 events stored before partitioning existed, over four months.
            let old = (0..<120).map { i in
                stored(
                    "old\(i)", "2026-\(["07", "08", "09", "10"][i % 4])-\(10 + i % 17)T\(10 + i % 13):00:00Z",
                    org: org.id,
                    project: web,
                    input: Int64(100 + i), cost: USD(nanos: Int64(1_000 + i)))
            }
            let write = SQLBulkWrite(check: nil, insert: UsageSQL.eventInsert(.sqlite, old)) { _ in [] }
            #expect(try await db.bulkWrite(write).count == 120)

            try await oldStore.migrate()
            #expect(try await Self.kind(db) == "r", "a populated table is converted in batches, not at migration")
            var store = SQLStore(db)
            // An event stored before partitioning, sent again while the table is converted, is still a duplicate.
            let resent = try await store.insert([EventBatch(organizationID: org.id, events: [old[5]])])
            #expect(resent.map(\.duplicates) == [1])

            var snapshot: [StoredEvent] = []
            var round = 0
            var steps: [EventPartitioningStep] = []
            while true {
                round += 1
                // Writers keep going between batches: new events, events sent again, a re-pricing, a deletion.
                _ = try await store.insert([
                    EventBatch(
                        organizationID: org.id,
                        events: [
                            stored(
                                "new\(round)", "2026-1\(round % 2)-0\(1 + round % 9)T08:00:00Z", org: org.id,
                                project: web),
                            old[(round * 7) % 120],
                        ])
                ])
                var reprice = SQLStatement(
                    .postgres, "UPDATE usage_events SET cost_nanos = cost_nanos + 1 WHERE event_id = ")
                reprice.bind("old\((round * 11) % 120)")
                try await db.execute(reprice)
                var delete = SQLStatement(.postgres, "DELETE FROM usage_events WHERE event_id = ")
                delete.bind("old\((round * 13 + 3) % 120)")
                try await db.execute(delete)
                snapshot = try await Self.everything(store, org.id)
                if round == 4 { store = SQLStore(db) }  // a restart: the conversion goes on from what is stored
                let step = try await store.partitionEventsStep(batch: 17)
                steps.append(step)
                if step == .finished { break }
                #expect(round < 40)
            }
            #expect(steps.filter { $0 == .copied(17) }.count >= 6)
            #expect(try await Self.kind(db) == "p")
            let after = try await Self.everything(store, org.id)
            #expect(after.count == snapshot.count && after == snapshot)
            #expect(try await Self.count(db, "usage_event_keys") >= Int64(after.count))
            let progress = try await db.query(
                SQLStatement(.postgres, "SELECT finished_us FROM usage_events_partitioning")
            ).only()
            #expect(try progress.optionalInt("finished_us") != nil)
            // The indexes took the old names; the triggers and the old table are gone.
            let indexes = try await db.query(
                SQLStatement(
                    .postgres,
                    "SELECT indexname::TEXT AS name FROM pg_indexes WHERE tablename = 'usage_events' ORDER BY 1")
            ).map { try $0.text("name") }
            #expect(indexes.contains("usage_events_org_ts") && indexes.contains("usage_events_event"))
            #expect(try await Self.count(db, "pg_trigger WHERE tgname LIKE '%conversion%'") == 0)
            #expect(try await store.partitionEventsStep(batch: 17) == .finished)

            // After the conversion: old and new events are duplicates when sent again, and new ones go in.
            let last = try await store.insert([
                EventBatch(
                    organizationID: org.id,
                    events: [
                        old[1], stored("new1", "2026-11-02T08:00:00Z", org: org.id, project: web),
                        stored("later", "2026-11-03T08:00:00Z", org: org.id, project: web),
                    ])
            ])
            #expect(last.map(\.accepted) == [1] && last.map(\.duplicates) == [2])
        }
    }

    @Test func retentionDropsWholeMonthsAndSummariesStay() async throws {
        try await withDatabase(migratedThrough: .max) { db, store in
            try await store.migrate()
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let web = try await store.createProject(organizationID: org.id, name: "web")
            // August to November 2026, two events a day, and one from 2019.
            var events = [stored("ancient", "2019-06-01T00:00:00Z", org: org.id, project: web, cost: USD(nanos: 7))]
            for day in 0..<122 {
                let date = CivilDate(
                    daysSinceEpoch: CivilDate(year: 2026, month: 8, day: 1).daysSinceEpoch + Int64(day))
                for h in [3, 17] {
                    events.append(
                        stored(
                            "e\(day)-\(h)", "\(date)T\(h < 10 ? "0" : "")\(h):30:00Z", org: org.id, project: web,
                            model: h == 3 ? "gpt-4o" : "gpt-4o-mini", input: Int64(day + h),
                            cost: USD(nanos: Int64(100 * day + h))))
                }
            }
            _ = try await store.insert([EventBatch(organizationID: org.id, events: events)])
            let queries = [
                ("2019-01-01T00:00:00Z", "2026-12-01T00:00:00Z", "UTC"),
                ("2026-08-01T00:00:00Z", "2026-12-01T00:00:00Z", "America/New_York"),
            ]
            var before: [SummaryResult] = []
            for q in queries {
                before.append(try await RetentionContractTests.summary(store, org: org.id, q.0, q.1, zone: q.2))
            }
            // 45 days before 2026-12-01 12:00: raw events before 2026-10-17 go. August, September and the 2019 event
            // go with their partitions; October's first 16 days in chunks.
            let outcome = try await Retention(store: store, policy: RetentionPolicy(eventDays: 45), chunk: 5)
                .apply(now: at("2026-12-01T12:00:00Z"))
            #expect(outcome.eventsDeleted == 1 + (31 + 30 + 16) * 2)
            let left = try await Self.partitions(db)
            #expect(!left.contains("usage_events_y2026m08") && !left.contains("usage_events_y2026m09"))
            #expect(left.contains("usage_events_y2026m10"))
            // The partition of events before 2020 stays (nothing else could take them), emptied by the chunks.
            let oldest = try await Self.count(db, "usage_events_before")
            #expect(left.contains("usage_events_before") && oldest == 0)
            for (q, expected) in zip(queries, before) {
                #expect(try await RetentionContractTests.summary(store, org: org.id, q.0, q.1, zone: q.2) == expected)
            }
            #expect(try await Self.everything(store, org.id).count == (15 + 30) * 2)
            // An event of a dropped month sent again is still a duplicate: its rollup counts it already.
            let again = try await store.insert([EventBatch(organizationID: org.id, events: [events[20]])])
            #expect(again.map(\.duplicates) == [1])
            #expect(
                try await RetentionContractTests.summary(store, org: org.id, queries[0].0, queries[0].1) == before[0])
            // New events older than where raw events begin are counted but not kept, so no dropped month comes back;
            // newer ones are kept. (The boundary is read from the store, as another replica's retention moves it.)
            let late = try await SQLStore(db).insert([
                EventBatch(
                    organizationID: org.id,
                    events: [
                        stored("late-aug", "2026-08-20T10:00:00Z", org: org.id, project: web, input: 5),
                        stored("late-2018", "2018-01-01T00:00:00Z", org: org.id, project: web, input: 6),
                        stored("fresh", "2026-11-28T10:00:00Z", org: org.id, project: web, input: 7),
                    ])
            ])
            #expect(late.map(\.accepted) == [3])
            let afterLate = try await Self.partitions(db)
            #expect(!afterLate.contains("usage_events_y2026m08"))
            let kept = try await Self.everything(store, org.id).map(\.event.id)
            #expect(kept.contains("fresh") && !kept.contains("late-aug") && !kept.contains("late-2018"))
            let counted = try await RetentionContractTests.summary(store, org: org.id, queries[0].0, queries[0].1)
            #expect(counted.totals.inputTokens == before[0].totals.inputTokens + 5 + 7, "2018 is before the range")
            // Sent again, they are duplicates: their keys were claimed.
            let again2 = try await store.insert([
                EventBatch(
                    organizationID: org.id,
                    events: [stored("late-aug", "2026-08-20T10:00:00Z", org: org.id, project: web, input: 5)])
            ])
            #expect(again2.map(\.duplicates) == [1])
        }
    }

    /// Writers run beside the batches, not between them: every event acknowledged is there once after the swap, and
    /// every re-pricing of an event already copied reached its copy.
    @Test func writersBesideTheBatchesLoseNothing() async throws {
        try await withDatabase(migratedThrough: 19) { db, oldStore in
            let org = try await oldStore.defaultOrganization(timeZone: "UTC")
            let web = try await oldStore.createProject(organizationID: org.id, name: "web")
            let old = (0..<400).map { i in
                stored(
                    "old\(i)", "2026-\(["08", "09", "10", "11"][i % 4])-\(10 + i % 17)T10:00:00Z", org: org.id,
                    project: web, cost: USD(nanos: 1_000))
            }
            _ = try await db.bulkWrite(SQLBulkWrite(check: nil, insert: UsageSQL.eventInsert(.sqlite, old)) { _ in [] })
            try await oldStore.migrate()
            let ingested = try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<3 {
                    group.addTask {
                        let store = SQLStore(db)
                        var accepted = 0
                        for round in 0..<25 {
                            let events = (0..<4).map { k in
                                stored(
                                    "w\(writer)-\(round)-\(k)", "2026-1\(k % 2)-0\(1 + round % 9)T0\(writer):00:00Z",
                                    org: org.id, project: web, cost: USD(nanos: 10))
                            }
                            let outcome = try await store.insert([
                                EventBatch(organizationID: org.id, events: events + [old[(round * 31 + writer) % 400]])
                            ])
                            accepted += outcome[0].accepted
                            var reprice = SQLStatement(
                                .postgres, "UPDATE usage_events SET cost_nanos = cost_nanos + 1 WHERE event_id = ")
                            reprice.bind("old\((round * 17 + writer * 5) % 400)")
                            try await db.execute(reprice)
                        }
                        return accepted
                    }
                }
                group.addTask {
                    let store = SQLStore(db)
                    while try await store.partitionEventsStep(batch: 23) != .finished { await Task.yield() }
                    return 0
                }
                return try await group.reduce(0, +)
            }
            #expect(ingested == 3 * 25 * 4, "new events stored, old ones sent again refused")
            #expect(try await Self.kind(db) == "p")
            #expect(try await Self.count(db, "usage_events") == 400 + 300)
            #expect(try await Self.count(db, "usage_event_keys") == 400 + 300)
            let money = try await db.query(
                SQLStatement(.postgres, "SELECT CAST(SUM(cost_nanos) AS BIGINT) AS total FROM usage_events")
            ).only().int("total")
            #expect(money == 400 * 1_000 + 300 * 10 + 3 * 25, "every re-pricing counted once")
        }
    }
}

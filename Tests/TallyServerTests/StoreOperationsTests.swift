import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import TallyCore
import TallyServer
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

/// Issue 24: `tally import --ndjson` prices and stores as the API does; `tally backup` / `tally restore` round-trip.
@Suite struct StoreOperationsTests {
    /// 400 events over two projects and three models, a third without an id, some tagged; timestamps in the past.
    static func lines(count: Int = 400) -> [String] {
        let models = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o-mini")]
        return (0..<count).map { i in
            let (provider, model) = models[i % 3]
            let day = 1 + i % 20
            let id = i % 3 == 0 ? "" : #""id":"line-\#(i)","#
            let project = i % 4 == 0 ? #","project":"api""# : ""
            return
                #"{\#(id)"timestamp":"2026-10-\#(day < 10 ? "0" : "")\#(day)T\#(10 + i % 9):00:00Z","provider":"\#(provider)","model":"\#(model)","input_tokens":\#(100 + i * 7),"output_tokens":\#(i % 50),"feature":"f\#(i % 5)"\#(project)}"#
        }
    }

    /// Feeds `text` in pieces of `size` bytes, so lines are cut across reads.
    static func reader(_ text: String, size: Int) -> () -> [UInt8]? {
        let bytes = Array(text.utf8)
        nonisolated(unsafe) var offset = 0
        return {
            guard offset < bytes.count else { return nil }
            defer { offset += size }
            return Array(bytes[offset..<min(offset + size, bytes.count)])
        }
    }

    static func importing(
        _ f: Fixture, _ text: String, project: String? = "web", batch: Int = 64, skipInvalid: Bool = false
    ) async throws -> StoreOperations.ImportResult {
        try await StoreOperations.importEvents(
            store: f.store, config: AppConfig(), logger: Logger(label: "test"), defaultProject: project,
            batchSize: batch, skipInvalid: skipInvalid, read: reader(text, size: 777), progress: { _ in })
    }

    static let summaryPath =
        "/api/v1/usage/summary?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z&group_by=day,model,project,feature"

    @Test func importedEventsAreStoredAndPricedAsTheAPIStoresThem() async throws {
        let imported = try await Fixture.make()
        let posted = try await Fixture.make()
        let lines = Self.lines()
        let result = try await Self.importing(imported, lines.joined(separator: "\n") + "\n")
        #expect(result.status.stored == 400 && result.status.invalid == 0 && result.stoppedAt == nil)
        #expect(result.status.lines == 400)
        let expected = try await posted.app().test(.router) { client in
            // The same lines through POST /api/v1/events, with the import's default project made explicit.
            let body = lines.map {
                $0.contains(#""project""#) ? $0 : $0.replacingOccurrences(of: "}", with: #","project":"web"}"#)
            }
            let r = try await client.call(
                .post, "/api/v1/events", token: posted.admin, contentType: "application/x-ndjson",
                body: body.joined(separator: "\n"))
            #expect(r.status == .ok, "\(r.text)")
            return try await client.call(.get, Self.summaryPath, token: posted.admin).text
        }
        try await imported.app().test(.router) { client in
            let r = try await client.call(.get, Self.summaryPath, token: imported.admin)
            #expect(r.status == .ok)
            #expect(r.text == expected)
            #expect(int(r.json?["totals"]?["unpriced_requests"]) == 0, "every event is priced")
            #expect(int(r.json?["totals"]?["requests"]) == 400)
            let event = try await client.call(.get, "/api/v1/events/line-1", token: imported.admin)
            #expect(str(event.json?["source"]) == "import")
        }
    }

    @Test func importingAgainStoresNothingTwiceAndIdenticalLinesStayDistinct() async throws {
        let f = try await Fixture.make()
        let same = #"{"timestamp":"2026-10-02T10:00:00Z","provider":"openai","model":"gpt-4o","input_tokens":5}"#
        let text = (Self.lines(count: 50) + [same, same]).joined(separator: "\n")
        let first = try await Self.importing(f, text)
        #expect(first.status.stored == 52 && first.status.duplicates == 0)
        let second = try await Self.importing(f, text, batch: 7)
        #expect(second.status.stored == 0 && second.status.duplicates == 52)
    }

    @Test func anInvalidLineStopsTheImportAndKeepsTheLinesBeforeIt() async throws {
        let f = try await Fixture.make()
        var lines = Self.lines(count: 10)
        lines[4] = #"{"provider":"openai","input_tokens":1}"#  // line 5: no model
        lines[7] = "not json"  // line 8
        lines.insert("", at: 2)  // a blank line still counts: line numbers are the file's
        let stopped = try await Self.importing(f, lines.joined(separator: "\n"))
        #expect(stopped.stoppedAt == 6)
        #expect(stopped.status.stored == 4)
        #expect(stopped.problems.first?.line == 6 && stopped.problems.first?.field == "model")
        let skipping = try await Self.importing(f, lines.joined(separator: "\n"), skipInvalid: true)
        #expect(skipping.stoppedAt == nil)
        #expect(skipping.status.stored == 4 && skipping.status.duplicates == 4 && skipping.status.invalid == 2)
        #expect(skipping.problems.map(\.line) == [6, 9])
        // An unknown project is the line's problem too, found when it is attributed.
        let unknown = try await Self.importing(
            f,
            Self.lines(count: 3).joined(separator: "\n") + "\n"
                + #"{"provider":"openai","model":"gpt-4o","project":"nope"}"#,
            project: "api")
        #expect(unknown.stoppedAt == 4 && unknown.problems.first?.field == "project")
        // Line 1 is stored already (it names project api); lines 2 and 3 are new in project api (an id is unique
        // within its project).
        #expect(unknown.status.stored == 2 && unknown.status.duplicates == 1)
        // A line past 1 MiB is refused without being held; the lines after it keep their numbers.
        var long = Self.lines(count: 6)
        long[2] = #"{"provider":"openai","model":""# + String(repeating: "x", count: 1_100_000) + #""}"#
        long[4] = "{"
        let overlong = try await Self.importing(f, long.joined(separator: "\n"), project: "api", skipInvalid: true)
        #expect(overlong.problems.map(\.line) == [3, 5] && overlong.problems.first?.field == "line")
        #expect(overlong.status.lines == 6 && overlong.status.invalid == 2)
        let stoppedLong = try await Self.importing(f, long.joined(separator: "\n"), project: "api")
        #expect(stoppedLong.stoppedAt == 3 && stoppedLong.status.lines == 3)
        await #expect(throws: TallyError.notFound("project 'nope'")) {
            _ = try await Self.importing(f, "", project: "nope")
        }
    }

    @Test func backupAndRestoreRoundTrip() async throws {
        let f = try await Fixture.make()
        _ = try await Self.importing(f, Self.lines().joined(separator: "\n"))
        var config = AppConfig()
        config.database = .sqlite(path: f.dir.appendingPathComponent("tally.sqlite").path)
        let backup = f.dir.appendingPathComponent("backup.sqlite").path
        let copied = try StoreOperations.backup(config, to: backup, replace: false)
        #expect(copied.events == 400)
        #expect(throws: TallyError.self) { try StoreOperations.backup(config, to: backup, replace: false) }
        let mode = try FileManager.default.attributesOfItem(atPath: backup)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // Never a directory (it would be deleted with what it holds), never the live database itself.
        let folder = f.dir.appendingPathComponent("backups").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: folder + "/older.sqlite"))
        #expect(throws: TallyError.self) { try StoreOperations.backup(config, to: folder, replace: true) }
        #expect(FileManager.default.fileExists(atPath: folder + "/older.sqlite"))
        #expect(throws: TallyError.self) {
            try StoreOperations.backup(config, to: f.dir.appendingPathComponent("./tally.sqlite").path, replace: true)
        }
        #expect(try StoreOperations.backup(config, to: backup, replace: true).events == 400)

        // Into a new data directory; then the summary is the same.
        var target = AppConfig()
        target.dataDirectory = f.dir.appendingPathComponent("restored").path
        target.database = .sqlite(path: target.dataDirectory + "/tally.sqlite")
        let restored = try StoreOperations.restore(target, from: backup, force: false, logger: Logger(label: "test"))
        #expect(restored.events == 400)
        let other = try SQLiteDatabase.open(path: target.dataDirectory + "/tally.sqlite")
        try await other.migrate()
        let query = SummaryQuery(
            organizationID: SQLiteStore.defaultOrganizationID,
            from: Instant(rfc3339: "2026-10-01T00:00:00Z")!, to: Instant(rfc3339: "2026-11-01T00:00:00Z")!,
            timeZone: .utc, grain: .day, dimensions: [.model, .project], filters: DimensionFilters())
        #expect(try await other.summary(query) == (try await f.store.summary(query)))

        // A store with data is replaced only with force; a file that is not a Tally database never.
        #expect(throws: TallyError.self) {
            try StoreOperations.restore(target, from: backup, force: false, logger: Logger(label: "test"))
        }
        #expect(
            try StoreOperations.restore(target, from: backup, force: true, logger: Logger(label: "test")).events == 400)
        let notTally = f.dir.appendingPathComponent("notes.txt").path
        try Data("hello".utf8).write(to: URL(fileURLWithPath: notTally))
        #expect(throws: TallyError.invalid([FieldProblem(field: "--from", reason: "is not an SQLite database")])) {
            try StoreOperations.restore(target, from: notTally, force: true, logger: Logger(label: "test"))
        }
        // A backup of a newer Tally (a migration this binary does not know) is refused.
        let newer = SQLiteStore(try SQLiteDatabase(path: backup))
        try await newer.database.execute(
            SQLStatement(
                .sqlite, "INSERT INTO schema_migrations (version, name, applied_us) VALUES (9999, 'future', 0)"))
        #expect(throws: TallyError.self) {
            try StoreOperations.restore(target, from: backup, force: true, logger: Logger(label: "test"))
        }
        // PostgreSQL has its own tools.
        var postgres = AppConfig()
        postgres.database = .postgres(url: "postgres://localhost/tally")
        #expect(throws: TallyError.self) { try StoreOperations.backup(postgres, to: backup, replace: true) }
    }

    /// `tally migrate-store`: a SQLite store with events, tokens and rollups moved into a fresh PostgreSQL database
    /// answers the same summary and events, and the counts and money sums of both sides are compared equal.
    @Test(.enabled(if: StoreKind.postgresURL != nil)) func aStoreMovedToPostgreSQLReadsTheSame() async throws {
        let f = try await Fixture.make()
        _ = try await Self.importing(f, Self.lines().joined(separator: "\n"))
        let url = try #require(StoreKind.postgresURL)
        let name = "tally_move_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await StoreKind.withPostgres(url) { admin in
            _ = try await admin.execute(SQLStatement(.postgres, "CREATE DATABASE \(name)"))
        }
        var parts = URLComponents(string: url)!
        parts.path = "/" + name
        let target = parts.string!
        let moved = try await StoreMove.run(
            from: f.dir.appendingPathComponent("tally.sqlite").path, to: target, resume: false,
            logger: Logger(label: "test"), progress: { _, _ in })
        #expect(moved.mismatches.isEmpty)
        #expect(moved.copied.first { $0.table == "usage_events" }?.rows == 400)
        #expect(moved.checks.contains { $0.name == "money.usage_events.cost_nanos" && $0.source != "0" })
        // Parents before children: organizations, then projects, then the tokens that name them.
        let order = moved.copied.map(\.table)
        #expect(order.firstIndex(of: "organizations")! < order.firstIndex(of: "projects")!)
        #expect(order.firstIndex(of: "projects")! < order.firstIndex(of: "api_tokens")!)
        let query = SummaryQuery(
            organizationID: SQLiteStore.defaultOrganizationID,
            from: Instant(rfc3339: "2026-10-01T00:00:00Z")!, to: Instant(rfc3339: "2026-11-01T00:00:00Z")!,
            timeZone: .utc, grain: .day, dimensions: [.model, .project], filters: DimensionFilters())
        let expected = try await f.store.summary(query)
        let events = try await f.store.events(EventQuery(organizationID: SQLiteStore.defaultOrganizationID, limit: 50))
        try await StoreKind.withPostgres(target) { db in
            let store = SQLStore(db)
            #expect(try await store.summary(query) == expected)
            let page = try await store.events(EventQuery(organizationID: SQLiteStore.defaultOrganizationID, limit: 50))
            #expect(page.events.map(\.event.id) == events.events.map(\.event.id))
            // The sequence continues after the copied events: a new one is the newest stored.
            #expect(try await store.latestSequence() == (try await f.store.latestSequence()))
        }
        // Into a database holding data only with resume.
        await #expect(throws: TallyError.self) {
            _ = try await StoreMove.run(
                from: f.dir.appendingPathComponent("tally.sqlite").path, to: target, resume: false,
                logger: Logger(label: "test"), progress: { _, _ in })
        }
        let again = try await StoreMove.run(
            from: f.dir.appendingPathComponent("tally.sqlite").path, to: target, resume: true,
            logger: Logger(label: "test"), progress: { _, _ in })
        #expect(again.mismatches.isEmpty)
        try await StoreKind.withPostgres(url) { admin in
            _ = try await admin.execute(SQLStatement(.postgres, "DROP DATABASE \(name) WITH (FORCE)"))
        }
    }
}

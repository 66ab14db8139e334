import Foundation
import TallyAggregate
import TallyCore
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

/// The narrow rollups (issue 24, migration 21): a summary picks the narrowest table that has what it needs, and the
/// migration fills the new tables from the main ones exactly, keeping a hostile sum past Int64 at its largest instead
/// of failing the start of the server.
@Suite struct NarrowRollupContractTests {
    @Test func summariesReadTheNarrowestTableThatCanAnswer() {
        #expect(RollupTable.covering([.model]) == .byModel)
        #expect(RollupTable.covering([]) == .byModel)
        #expect(RollupTable.covering([.provider, .model]) == .byModel)
        #expect(RollupTable.covering([.model, .project, .feature]) == .byFeature)
        #expect(RollupTable.covering([.project]) == .byFeature)
        #expect(RollupTable.covering([.apiKey]) == .main)
        #expect(RollupTable.covering([.user, .project]) == .byUser)
        #expect(RollupTable.covering([.user, .feature]) == nil)
        for table in RollupTable.all where table.bucket == .hour { #expect(table.daily.dimensions == table.dimensions) }
    }

    @Test(arguments: StoreKind.available)
    func theMigrationFillsTheNarrowTablesFromTheMainOnes(kind: StoreKind) async throws {
        switch kind {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-narrow-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try await check(try SQLiteDatabase.open(path: directory.appendingPathComponent("tally.sqlite").path))
        case .postgres:
            guard StoreKind.postgresURL != nil else { return }
            try await StoreKind.withNewPostgresDatabase { db in try await check(SQLStore(db)) }
        }
    }

    func check<D: SQLDatabase>(_ store: SQLStore<D>) async throws {
        try await store.applyMigrations(through: 20)
        let d = store.database.dialect
        // Rows of the main tables as an older version left them: per model, two features.
        let rows: [(model: String, feature: String, input: Int64, cost: Int64)] = [
            ("gpt-4o", "a", 7, 1_000), ("gpt-4o", "b", 8, 2_000),
            ("o3", "a", 1 << 40 + 1, 1 << 61), ("o3", "b", 1 << 41 + 3, 1 << 61),  // large, still exact
            ("hostile", "a", 1, Int64.max - 5), ("hostile", "b", 1, 10),  // past Int64 together
        ]
        for table in [RollupTable.main, RollupTable.mainDaily] {
            let columns =
                ["org_id", table.bucket.column] + table.dimensions.map(\.column) + ["input_tokens", "cost_nanos"]
            for row in rows {
                var s = SQLStatement(d, "INSERT INTO \(table.name) (\(columns.joined(separator: ", "))) VALUES (")
                let values: [SQLValue] =
                    [.text("org_1"), .int(table.bucket == .hour ? 490_000 : 20_416)]
                    + table.dimensions.map { dim -> SQLValue in
                        switch dim {
                        case .model: .text(row.model)
                        case .feature: .text(row.feature)
                        case .provider: .text("openai")
                        default: .text("")
                        }
                    } + [.int(row.input), .int(row.cost)]
                for (i, v) in values.enumerated() {
                    if i > 0 { s.append(", ") }
                    s.bind(v)
                }
                s.append(")")
                try await store.database.execute(s)
            }
        }
        try await store.applyMigrations()
        for table in [RollupTable.byModel, RollupTable.byModelDaily] {
            let read = try await store.database.query(
                SQLStatement(d, "SELECT model, input_tokens, cost_nanos, requests FROM \(table.name) ORDER BY model"))
            let got = try read.map {
                [try $0.text("model"), String(try $0.int("input_tokens")), String(try $0.int("cost_nanos"))]
            }
            let large: Int64 = (1 << 40 + 1) + (1 << 41 + 3)
            let expected: [[String]] = [
                ["gpt-4o", "15", "3000"], ["hostile", "2", String(Int64.max)],
                ["o3", String(large), String(Int64(1) << 62)],
            ]
            #expect(got == expected, "\(table.name)")
        }
        // The feature tables keep each feature apart.
        let features = try await store.database.query(
            SQLStatement(d, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM usage_rollup_feature_daily"))
        #expect(try features.only().int("n") == 6)
    }
}

import Foundation
import Logging
import PostgresNIO
import TallyCore
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite

/// `tally migrate-store --from <sqlite file> --to postgres://…` (issue 24): the whole store moved to PostgreSQL.
///
/// Both schemas are migrated to this version first; then, under the SQLite file's write lock (`tally serve` keeps
/// answering reads, its writes wait and then answer 503), every table is copied parents first (`StoreCopy`), the
/// sequences continued, and the row counts and money sums compared on both sides. A target that holds data is
/// only written with `resume` (an interrupted move run again: pages are upserts, events continue after the last
/// sequence copied).
public enum StoreMove {
    public struct Result: Sendable {
        /// Rows copied per table, in copy order.
        public var copied: [(table: String, rows: Int)]
        /// The checks, each with its value on both sides (rows per table, money sums).
        public var checks: [(name: String, source: String, target: String)]
        public var mismatches: [String] { checks.filter { $0.source != $0.target }.map(\.name) }
    }

    public static func run(
        from path: String, to url: String, resume: Bool, logger: Logger,
        progress: @Sendable (_ table: String, _ rows: Int) -> Void
    ) async throws -> Result {
        guard FileManager.default.fileExists(atPath: path) else { throw TallyError.notFound("the SQLite file \(path)") }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw TallyError.invalid([FieldProblem(field: "--to", reason: "must be a postgres:// URL")])
        }
        let source = try SQLiteDatabase(path: path)
        try await SQLStore(source).migrate()
        let client = PostgresClient(
            configuration: try PostgresSQLDatabase.configuration(url: url), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let target = PostgresSQLDatabase(client: client, logger: logger)
            try await SQLStore(target).migrate()
            let copy = StoreCopy(source: source, target: target)
            let tables = try await copy.tables()
            if !resume {
                let held = try await StoreCopy.checksums(target, tables: tables).filter {
                    $0.key.hasPrefix("rows.") && $0.value != "0"
                }
                guard held.isEmpty else {
                    throw TallyError.conflict(
                        "the PostgreSQL database holds data already (\(held.keys.sorted().prefix(3).map { $0.dropFirst(5) }.joined(separator: ", "))…): "
                            + "use an empty database, or pass --resume to finish a move that was interrupted")
                }
            }
            let lock = try SQLiteWriteLock(path: path)
            defer { lock.release() }
            var copied: [(String, Int)] = []
            for table in tables {
                copied.append((table.name, try await copy.copy(table, resume: resume) { progress(table.name, $0) }))
            }
            try await copy.continueSequences()
            let before = try await StoreCopy.checksums(source, tables: tables)
            let after = try await StoreCopy.checksums(target, tables: tables)
            return Result(
                copied: copied,
                checks: before.keys.sorted().map { ($0, before[$0] ?? "-", after[$0] ?? "-") })
        }
    }
}

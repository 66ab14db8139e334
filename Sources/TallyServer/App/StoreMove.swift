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
/// only written with `resume` (an interrupted move run again: every table but the events emptied and copied again,
/// the events continued after the last sequence copied) or `restart` (everything emptied and copied again).
public enum StoreMove {
    public struct Result: Sendable {
        /// Rows copied per table, in copy order.
        public var copied: [(table: String, rows: Int)]
        /// The checks, each with its value on both sides (rows per table, money sums).
        public var checks: [(name: String, source: String, target: String)]
        public var mismatches: [String] { checks.filter { $0.source != $0.target }.map(\.name) }
    }

    public static func run(
        from path: String, to url: String, resume: Bool, restart: Bool = false, logger: Logger,
        progress: @Sendable (_ table: String, _ rows: Int) -> Void
    ) async throws -> Result {
        guard FileManager.default.fileExists(atPath: path) else { throw TallyError.notFound("the SQLite file \(path)") }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw TallyError.invalid([FieldProblem(field: "--to", reason: "must be a postgres:// URL")])
        }
        let source = try SQLiteDatabase(path: path)
        try await SQLStore(source).migrate()
        let configuration: PostgresClient.Configuration
        do {
            configuration = try PostgresSQLDatabase.configuration(url: url)
        } catch TallyError.invalid(let problems) {
            throw TallyError.invalid(problems.map { FieldProblem(field: "--to", reason: $0.reason) })
        }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let running = StoreBootstrap.StoreClient(client)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await running.run() }
            defer { group.cancelAll() }
            await running.waitUntilRunning()
            let target = PostgresSQLDatabase(client: client, logger: logger)
            try await SQLStore(target).migrate()
            let copy = StoreCopy(source: source, target: target)
            let tables = try await copy.tables()
            if !resume && !restart {
                let held = try await StoreCopy.checksums(target, tables: tables).filter {
                    $0.key.hasPrefix("rows.") && $0.value != "0"
                }
                guard held.isEmpty else {
                    throw TallyError.conflict(
                        "the PostgreSQL database holds data already (\(held.keys.sorted().prefix(3).map { $0.dropFirst(5) }.joined(separator: ", "))…): "
                            + "use an empty database, pass --resume to finish a move that was interrupted, "
                            + "or --restart to empty it and copy everything again")
                }
            }
            let lock = try SQLiteWriteLock(path: path)
            defer { lock.release() }
            if resume || restart { try await copy.empty(tables, everything: restart) }
            var copied: [(String, Int)] = []
            for table in tables {
                copied.append(
                    (table.name, try await copy.copy(table, resume: resume && !restart) { progress(table.name, $0) }))
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

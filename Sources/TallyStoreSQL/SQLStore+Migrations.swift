import TallyCore

/// The schema's ledger, `schema_migrations`, kept here for both databases; a driver only runs the transaction.
///
/// Several replicas may start at once. Each reads the ledger, plans the pending migrations and runs them in ONE
/// transaction whose first statement records the first of them: the replica that comes second (PostgreSQL: it waits on
/// the advisory lock; SQLite: on the write lock) finds that record taken, rolls back without having changed anything,
/// and reads the ledger again, now complete.
extension SQLStore {
    public func migrate() async throws {
        try await applyMigrations()
        // PostgreSQL: an empty events table made before partitioning is replaced by the partitioned one now; a
        // populated one is converted in batches by `tally serve` or `tally partition-events`.
        _ = try await partitionEventsStep(batch: 0)
    }

    /// The pending migrations up to `version` (tests make a store of an older version with it).
    package func applyMigrations(through version: Int = .max) async throws {
        for attempt in 1...3 {
            let applied = try await appliedMigrationVersions()
            let pending = Schema.migrations(dialect).filter { !applied.contains($0.version) && $0.version <= version }
            if pending.isEmpty { return }
            // Any constant shared by every replica; `pg_advisory_xact_lock` releases it at commit. SQLite's write
            // transaction is the lock there. The ledger is created under the lock: two concurrent `CREATE TABLE IF NOT
            // EXISTS` can collide in PostgreSQL's catalog.
            var steps =
                dialect == .postgres ? [SQLStep(SQLStatement(dialect, "SELECT pg_advisory_xact_lock(2047965713)"))] : []
            steps.append(
                SQLStep(
                    SQLStatement(
                        dialect,
                        """
                        CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                          applied_us \(dialect == .postgres ? "BIGINT" : "INTEGER") NOT NULL)
                        """)))
            let now = Instant.now.microseconds
            for migration in pending {
                var record = SQLStatement(dialect, "INSERT INTO schema_migrations (version, name, applied_us) VALUES (")
                record.bind(Int64(migration.version))
                record.append(", ")
                record.bind(migration.name)
                record.append(", ")
                record.bind(now)
                record.append(")")
                steps.append(SQLStep(record, expectedChanges: 1))
                steps += migration.statements.map { SQLStep(SQLStatement(dialect, $0)) }
            }
            do {
                return try await database.transaction(steps)
            } catch TallyError.conflict where attempt < 3 {
                continue  // another replica migrated meanwhile: read the ledger again
            }
        }
    }

    public func isReady() async -> Bool {
        guard let applied = try? await appliedMigrationVersions() else { return false }
        return Schema.migrations(dialect).allSatisfy { applied.contains($0.version) }
    }

    public func pendingMigrations() async throws -> [String] {
        let applied = try await appliedMigrationVersions()
        return Schema.migrations(dialect).filter { !applied.contains($0.version) }.map(\.name)
    }

    /// Empty before the first migration (no ledger yet): read-only commands report the schema as behind.
    func appliedMigrationVersions() async throws -> Set<Int> {
        let exists =
            dialect == .postgres
            ? "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM pg_tables WHERE tablename = 'schema_migrations'"
            : "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        guard try await database.query(SQLStatement(dialect, exists)).only().int("n") > 0 else { return [] }
        let rows = try await database.query(SQLStatement(dialect, "SELECT version FROM schema_migrations"))
        return Set(try rows.map { Int(try $0.int("version")) })
    }
}

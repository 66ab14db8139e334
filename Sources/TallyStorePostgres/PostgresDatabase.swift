import Foundation
import Logging
import NIOSSL
import PostgresNIO
import TallyAggregate
import TallyCore
import TallyStoreSQL

public typealias PostgresStore = SQLStore<PostgresSQLDatabase>

/// The production store: PostgreSQL through PostgresNIO's pooled `PostgresClient`.
///
/// Several `tally serve` replicas may share one database: migrations take an advisory lock, event ids are unique
/// per project, and rollup increments are `ON CONFLICT … DO UPDATE` upserts written in key order (no deadlocks).
public struct PostgresSQLDatabase: SQLDatabase {
    public let dialect = SQLDialect.postgres
    public let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=disable|prefer|require`.
    public static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? ""),
              let host = parts.host, !host.isEmpty
        else { throw TallyError.invalid([FieldProblem(field: "TALLY_DATABASE_URL", reason: "expected postgres://user:password@host:port/database")]) }
        let database = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        let sslmode = parts.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS
        switch sslmode {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        default: throw TallyError.invalid([FieldProblem(field: "TALLY_DATABASE_URL", reason: "unknown sslmode '\(sslmode)'")])
        }
        var config = PostgresClient.Configuration(
            host: host, port: parts.port ?? 5432, username: parts.user ?? "postgres",
            password: parts.password, database: database.isEmpty ? nil : database, tls: tls
        )
        config.options.maximumConnections = 16
        return config
    }

    static func query(_ statement: SQLStatement) -> PostgresQuery {
        var binds = PostgresBindings(capacity: statement.binds.count)
        for value in statement.binds {
            switch value {
            case .int(let v): binds.append(v)
            case .text(let t): binds.append(t)
            case .null: binds.appendNull()
            }
        }
        return PostgresQuery(unsafeSQL: statement.text, binds: binds)
    }

    static func row(_ row: PostgresRow) throws -> SQLRow {
        var values: [SQLValue] = []
        for cell in row {
            guard cell.bytes != nil else { values.append(.null); continue }
            switch cell.dataType {
            case .int8, .int4, .int2: values.append(.int(try cell.decode(Int64.self)))
            default: values.append(.text(try cell.decode(String.self)))
            }
        }
        return SQLRow(values)
    }

    func mapErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            do {
                return try await body()
            } catch let error as PostgresTransactionError {
                // What failed inside the transaction is the error that matters (a TallyError or a PSQLError).
                throw error.closureError ?? error.commitError ?? error.beginError ?? error
            }
        } catch let error as PSQLError {
            if error.serverInfo?[.sqlState] == "23505" {
                throw TallyError.conflict(error.serverInfo?[.detail] ?? "already exists")
            }
            // Schema.rollupUpsert's overflow refusal (NULL into a NOT NULL rollup column), or bigint out of range.
            if error.serverInfo?[.sqlState] == "23502", error.serverInfo?[.tableName]?.hasPrefix("usage_rollup") == true {
                throw Schema.rollupOverflow(column: error.serverInfo?[.columnName])
            }
            if error.serverInfo?[.sqlState] == "22003" { throw Schema.rollupOverflow(column: nil) }
            let message = error.serverInfo?[.message] ?? "\(error.code)"
            throw TallyError.unavailable("PostgreSQL: \(message)")
        }
    }

    public func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        try await mapErrors {
            var rows: [SQLRow] = []
            for try await row in try await client.query(Self.query(statement), logger: logger) {
                rows.append(try Self.row(row))
            }
            return rows
        }
    }

    @discardableResult
    public func execute(_ statement: SQLStatement) async throws -> Int {
        try await mapErrors {
            try await client.withConnection { connection in
                try await connection.query(Self.query(statement), logger: logger).get().metadata.rows ?? 0
            }
        }
    }

    public func transaction(_ steps: [SQLStep]) async throws {
        try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                for step in steps {
                    let result = try await connection.query(Self.query(step.statement), logger: logger).get()
                    if let expected = step.expectedChanges, (result.metadata.rows ?? 0) != expected {
                        throw TallyError.conflict("the data changed while this was being applied; nothing was changed, try again")
                    }
                }
            }
        }
    }

    // MARK: Bulk insert

    /// Arrays cannot carry NULLs through `unnest` here, so absent values travel as sentinels and `NULLIF` restores them.
    static let nullInteger = Int64.min

    public func insert(_ batches: [EventBatch]) async throws -> [InsertOutcome] {
        // The first occurrence of an id wins, within a batch and across the batches of this group.
        var firstIndex: [String: Int] = [:]
        var candidates: [StoredEvent] = []
        var owner: [Int] = []
        for (b, batch) in batches.enumerated() {
            for event in batch.events {
                let key = event.organizationID + "\u{1}" + event.projectID + "\u{1}" + event.event.id
                guard firstIndex[key] == nil else { continue }
                firstIndex[key] = candidates.count
                candidates.append(event)
                owner.append(b)
            }
        }
        return try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                var inserted: [StoredEvent] = []
                var accepted = Array(repeating: 0, count: batches.count)
                if !candidates.isEmpty {
                    try await self.lockLiveProjects(Set(candidates.map(\.projectID)), connection)
                    let rows = try await connection.query(Self.insertEvents(candidates), logger: logger)
                    for try await (org, project, id) in rows.decode((String, String, String).self) {
                        guard let index = firstIndex[org + "\u{1}" + project + "\u{1}" + id] else { continue }
                        inserted.append(candidates[index])
                        accepted[owner[index]] += 1
                    }
                }
                for delta in try RollupDelta.compute(inserted) where !delta.rows.isEmpty {
                    try await connection.query(Self.upsertRollup(delta), logger: logger)
                }
                return batches.enumerated().map { b, batch in
                    InsertOutcome(accepted: accepted[b], duplicates: batch.events.count - accepted[b])
                }
            }
        }
    }

    /// Events queued for a project must not land after its organization's deletion committed (they would be rows of
    /// nobody, counted in no total, never deleted). The key-share locks, taken in id order as the deletion takes its
    /// own, make a deletion that began first finish first (the project is then gone and the batch refused), and a
    /// deletion that comes later wait for this commit and delete these events with the rest.
    func lockLiveProjects(_ ids: Set<String>, _ connection: PostgresConnection) async throws {
        let wanted = ids.sorted()
        var live = Set<String>()
        let rows = try await connection.query(
            "SELECT id FROM projects WHERE id = ANY(\(wanted)) ORDER BY id FOR KEY SHARE", logger: logger)
        for try await id in rows.decode(String.self) { live.insert(id) }
        guard live.count == wanted.count else { throw TallyError.notFound("project") }
    }

    static func insertEvents(_ events: [StoredEvent]) -> PostgresQuery {
        let columns = UsageSQL.eventColumns
        var texts = [[String]](repeating: [], count: columns.count)
        var ints = [[Int64]](repeating: [], count: columns.count)
        let isInt = columns.map { UsageSQL.integerEventColumns.contains($0) }
        for event in events {
            for (i, value) in UsageSQL.eventValues(event).enumerated() {
                switch value {
                case .int(let v): ints[i].append(v)
                case .text(let t): texts[i].append(t)
                case .null: if isInt[i] { ints[i].append(nullInteger) } else { texts[i].append("") }
                }
            }
        }
        var binds = PostgresBindings(capacity: columns.count)
        var arrays: [String] = []
        var selects: [String] = []
        for (i, column) in columns.enumerated() {
            if isInt[i] {
                binds.append(ints[i])
                arrays.append("$\(i + 1)::int8[]")
                selects.append("NULLIF(\(column), \(nullInteger))")
            } else {
                binds.append(texts[i])
                arrays.append("$\(i + 1)::text[]")
                selects.append("NULLIF(\(column), '')")
            }
        }
        let sql = "INSERT INTO usage_events (\(columns.joined(separator: ", "))) SELECT \(selects.joined(separator: ", "))"
            + " FROM unnest(\(arrays.joined(separator: ", "))) AS u(\(columns.joined(separator: ", ")))"
            + " ON CONFLICT (org_id, project_id, event_id) DO NOTHING RETURNING org_id, project_id, event_id"
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    static func upsertRollup(_ delta: RollupDelta) -> PostgresQuery {
        var binds = PostgresBindings()
        binds.append(delta.rows.map(\.key.organizationID))
        binds.append(delta.rows.map(\.key.bucket))
        var arrays = ["$1::text[]", "$2::int8[]"]
        for d in delta.table.dimensions.indices {
            binds.append(delta.rows.map { $0.key.values[d] })
            arrays.append("$\(arrays.count + 1)::text[]")
        }
        for m in UsageMetrics.columns.indices {
            binds.append(delta.rows.map { $0.metrics.columnValues[m] })
            arrays.append("$\(arrays.count + 1)::int8[]")
        }
        return PostgresQuery(
            unsafeSQL: Schema.rollupUpsert(delta.table, rows: "SELECT * FROM unnest(\(arrays.joined(separator: ", ")))"),
            binds: binds
        )
    }

    // MARK: Migrations

    /// Any constant shared by every replica; `pg_advisory_xact_lock` releases it at commit.
    static let migrationLock: Int64 = 0x7A11_7A11

    public func migrate(_ migrations: [Migration]) async throws {
        try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                      applied_us BIGINT NOT NULL)
                    """, logger: logger)
                var applied = Set<Int>()
                for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
                    .decode(Int.self) { applied.insert(version) }
                for migration in migrations where !applied.contains(migration.version) {
                    for sql in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                    }
                    let now = Instant.now.microseconds
                    try await connection.query(
                        "INSERT INTO schema_migrations (version, name, applied_us) VALUES (\(migration.version), \(migration.name), \(now))",
                        logger: logger
                    )
                }
            }
        }
    }

    public func appliedMigrationVersions() async throws -> Set<Int> {
        let exists = try await query(SQLStatement(.postgres, "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_tables WHERE tablename = 'schema_migrations'"))
        guard exists.first?.int(0) == 1 else { return [] }
        let rows = try await query(SQLStatement(.postgres, "SELECT version FROM schema_migrations"))
        return Set(rows.compactMap { $0.int(0).map(Int.init) })
    }
}

import Foundation
import Logging
import NIOSSL
import PostgresNIO
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
    /// `TALLY_DATABASE_READ_URL`'s replica, when one is configured.
    public let replica: ReadReplica?

    public init(client: PostgresClient, logger: Logger, replica: ReadReplica? = nil) {
        self.client = client
        self.logger = logger
        self.replica = replica
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=disable|prefer|require`.
    public static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? ""),
            let host = parts.host, !host.isEmpty
        else {
            throw TallyError.invalid([
                FieldProblem(
                    field: "TALLY_DATABASE_URL", reason: "expected postgres://user:password@host:port/database")
            ])
        }
        let database = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        let sslmode = parts.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS
        switch sslmode {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        default:
            throw TallyError.invalid([FieldProblem(field: "TALLY_DATABASE_URL", reason: "unknown sslmode '\(sslmode)'")]
            )
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

    /// A row, with the result's column names (read from its first row, shared by the others).
    static func row(_ row: PostgresRow, _ columns: inout SQLColumns?) throws -> SQLRow {
        let names = columns ?? SQLColumns(row.map(\.columnName))
        columns = names
        return SQLRow(columns: names, values: try values(row))
    }

    static func values(_ row: PostgresRow) throws -> [SQLValue] {
        var values: [SQLValue] = []
        for cell in row {
            guard cell.bytes != nil else { values.append(.null); continue }
            switch cell.dataType {
            case .int8, .int4, .int2: values.append(.int(try cell.decode(Int64.self)))
            default: values.append(.text(try cell.decode(String.self)))
            }
        }
        return values
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
            if error.serverInfo?[.sqlState] == "23502", error.serverInfo?[.tableName]?.hasPrefix("usage_rollup") == true
            {
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
            var columns: SQLColumns?
            for try await row in try await client.query(Self.query(statement), logger: logger) {
                rows.append(try Self.row(row, &columns))
            }
            return rows
        }
    }

    public func queryMayLag(_ statement: SQLStatement) async throws -> [SQLRow] {
        if let replica, let rows = await replica.query(statement) { return rows }
        return try await query(statement)
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
                        throw TallyError.conflict(
                            "the data changed while this was being applied; nothing was changed, try again")
                    }
                }
            }
        }
    }

    /// Carries a rolled-back transaction's value out of `withTransaction`, which rolls back on a thrown error.
    struct RolledBack<Value: Sendable>: Error {
        var value: Value
    }

    public func transaction<Value: Sendable>(
        deciding next: @escaping @Sendable ([SQLOutcome]) throws -> SQLDecision<Value>
    ) async throws -> Value {
        do {
            return try await mapErrors {
                try await client.withTransaction(logger: logger) { connection in
                    var outcomes: [SQLOutcome] = []
                    while true {
                        switch try next(outcomes) {
                        case .run(let statement):
                            let result = try await connection.query(Self.query(statement), logger: logger).get()
                            var columns: SQLColumns?
                            let rows = try result.rows.map { try Self.row($0, &columns) }
                            let changes = result.metadata.command == "SELECT" ? 0 : (result.metadata.rows ?? 0)
                            outcomes.append(SQLOutcome(changes: changes, rows: rows))
                        case .commit(let value): return value
                        case .rollback(let value): throw RolledBack(value: value)
                        }
                    }
                }
            }
        } catch let rolledBack as RolledBack<Value> {
            return rolledBack.value
        }
    }

    // MARK: Bulk insert

    /// Arrays cannot carry NULLs through `unnest` here, so absent values travel as sentinels and `NULLIF` restores them.
    static let nullInteger = Int64.min

    public func bulkWrite(_ write: SQLBulkWrite) async throws -> [Int] {
        try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                if let check = write.check {
                    var rows = 0
                    for try await _ in try await connection.query(Self.query(check.statement), logger: logger) {
                        rows += 1
                    }
                    guard rows == check.rows else { throw check.otherwise }
                }
                var stored: [Int]
                if let claim = write.claim {
                    let (toInsert, counted) = write.split(claimed: try await self.insert(claim, connection))
                    let inserted =
                        toInsert.isEmpty
                        ? [] : try await self.insert(write.insert.only(toInsert), connection).map { toInsert[$0] }
                    stored = (inserted + counted).sorted()
                } else {
                    stored = try await self.insert(write.insert, connection)
                }
                for then in try write.then(stored) where !then.rows.isEmpty {
                    _ = try await self.insert(then, connection)
                }
                return stored
            }
        }
    }

    /// One statement over `unnest` arrays; for `.skip`, the positions of the rows stored (told by `RETURNING` their
    /// keys, unique among the rows).
    func insert(_ insert: SQLBulkInsert, _ connection: PostgresConnection) async throws -> [Int] {
        guard insert.skipsConflicts else {
            try await connection.query(Self.unnest(insert, returning: nil), logger: logger)
            return []
        }
        let key = insert.keyPositions
        var position: [[SQLValue]: Int] = [:]
        position.reserveCapacity(insert.rows.count)
        for (i, row) in insert.rows.enumerated() { position[key.map { row[$0] }] = i }
        var stored: [Int] = []
        for try await row in try await connection.query(Self.unnest(insert, returning: key), logger: logger) {
            if let i = position[try Self.values(row)] { stored.append(i) }
        }
        return stored.sorted()
    }

    /// `INSERT … SELECT … FROM unnest($1::text[], $2::int8[], …)`: one array per column.
    static func unnest(_ insert: SQLBulkInsert, returning key: [Int]?) -> PostgresQuery {
        let columns = insert.columns
        var texts = [[String]](repeating: [], count: columns.count)
        var ints = [[Int64]](repeating: [], count: columns.count)
        for row in insert.rows {
            for (i, value) in row.enumerated() {
                switch value {
                case .int(let v): ints[i].append(v)
                case .text(let t): texts[i].append(t)
                case .null: if insert.integerColumns[i] { ints[i].append(nullInteger) } else { texts[i].append("") }
                }
            }
        }
        var binds = PostgresBindings(capacity: columns.count)
        var arrays: [String] = []
        var selects: [String] = []
        for (i, column) in columns.enumerated() {
            if insert.integerColumns[i] {
                binds.append(ints[i])
                arrays.append("$\(i + 1)::int8[]")
                selects.append("NULLIF(\(column), \(nullInteger))")
            } else {
                binds.append(texts[i])
                arrays.append("$\(i + 1)::text[]")
                selects.append("NULLIF(\(column), '')")
            }
        }
        let rows =
            insert.mayHoldNulls
            ? "SELECT \(selects.joined(separator: ", ")) FROM unnest(\(arrays.joined(separator: ", "))) AS u(\(columns.joined(separator: ", ")))"
            : "SELECT * FROM unnest(\(arrays.joined(separator: ", ")))"
        var sql = insert.sql(rows: rows)
        if let key { sql += " RETURNING " + key.map { columns[$0] }.joined(separator: ", ") }
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }
}

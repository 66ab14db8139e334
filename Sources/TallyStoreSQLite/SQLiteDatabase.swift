import Foundation
import GRDB
import TallyCore
import TallyStoreSQL

public typealias SQLiteStore = SQLStore<SQLiteDatabase>

/// The embedded store: one SQLite file in WAL mode through GRDB's DatabasePool (one writer, concurrent readers).
///
/// `synchronous = FULL` makes every commit durable before it returns, so an acknowledged event survives a crash
/// or power loss; group commit (several requests in one transaction) keeps that affordable.
public struct SQLiteDatabase: SQLDatabase {
    public let dialect = SQLDialect.sqlite
    let pool: DatabasePool

    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // The writer walks the events' unique index and the rollups' keys on every insert: keep them in
            // memory (64 MiB) rather than re-reading pages; readers keep SQLite's small default.
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA cache_size = -65536") }
            // A new file gives pages freed by retention back on `PRAGMA incremental_vacuum` (it can only be chosen
            // before the first table exists; an older file keeps reusing its free pages instead).
            if !db.configuration.readonly, try Int.fetchOne(db, sql: "PRAGMA page_count") == 0 {
                try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
            }
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw TallyError.unavailable("cannot open the SQLite database at \(path): \(Self.describe(error))")
        }
    }

    public static func open(path: String) throws -> SQLiteStore { SQLStore(try SQLiteDatabase(path: path)) }

    static func arguments(_ values: [SQLValue]) -> StatementArguments {
        StatementArguments(
            values.map { value -> (any DatabaseValueConvertible)? in
                switch value {
                case .int(let v): v
                case .text(let t): t
                case .null: nil
                }
            })
    }

    static func row(_ row: Row, _ columns: SQLColumns) throws -> SQLRow {
        var values: [SQLValue] = []
        values.reserveCapacity(columns.names.count)
        for (i, dbValue) in row.databaseValues.enumerated() {
            switch dbValue.storage {
            case .int64(let v): values.append(.int(v))
            case .string(let s): values.append(.text(s))
            // Only a pre-1.x rollup that overflowed into a float holds one.
            case .double(let d):
                guard let v = Int64(exactly: d.rounded(.towardZero)) else {
                    throw SQLRowError(
                        column: columns.names[i], problem: "holds a real number beyond an integer's range")
                }
                values.append(.int(v))
            case .blob(let b): values.append(.text(String(decoding: b, as: UTF8.self)))
            case .null: values.append(.null)
            }
        }
        return SQLRow(columns: columns, values: values)
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? DatabaseError { return e.message ?? "\(e.resultCode)" }
        return "\(error)"
    }

    func mapErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DatabaseError
            where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
            || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY
        {
            throw TallyError.conflict(error.message ?? "already exists")
        } catch let error as DatabaseError
            where error.extendedResultCode == .SQLITE_CONSTRAINT_NOTNULL
            && (error.message ?? "").contains("usage_rollup")
        {
            // "NOT NULL constraint failed: usage_rollup_hourly.cost_nanos": Schema.rollupUpsert's overflow refusal.
            throw Schema.rollupOverflow(column: error.message?.split(separator: ".").last.map(String.init))
        } catch let error as DatabaseError where error.message == "integer overflow" {
            // SUM() over integers past Int64 (summaries split their sums so as not to get here; other sums might).
            throw Schema.rollupOverflow(column: nil)
        } catch let error as DatabaseError {
            throw TallyError.unavailable("SQLite: \(Self.describe(error))")
        }
    }

    public func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        try await mapErrors {
            try await pool.read { db in
                let prepared = try db.makeStatement(sql: statement.text)
                let columns = SQLColumns(prepared.columnNames)
                return try Row.fetchAll(prepared, arguments: Self.arguments(statement.binds)).map {
                    try Self.row($0, columns)
                }
            }
        }
    }

    @discardableResult
    public func execute(_ statement: SQLStatement) async throws -> Int {
        try await mapErrors {
            try await pool.write { db in
                try db.execute(sql: statement.text, arguments: Self.arguments(statement.binds))
                return db.changesCount
            }
        }
    }

    public func bulkWrite(_ write: SQLBulkWrite) async throws -> [Int] {
        try await mapErrors {
            try await pool.write { db in
                if let check = write.check {
                    let rows = try Row.fetchAll(
                        db, sql: check.statement.text, arguments: Self.arguments(check.statement.binds))
                    guard rows.count == check.rows else { throw check.otherwise }
                }
                var candidates = Array(write.insert.rows.indices)
                var counted: [Int] = []
                if let claim = write.claim {
                    let statement = try Self.prepare(claim, db)
                    (candidates, counted) = write.split(
                        claimed: try candidates.filter { try statement.run(claim.rows[$0]) > 0 })
                }
                var stored: [Int] = []
                let insert = try Self.prepare(write.insert, db)
                for i in candidates where try insert.run(write.insert.rows[i]) > 0 { stored.append(i) }
                stored = (stored + counted).sorted()
                for then in try write.then(stored) {
                    let statement = try Self.prepare(then, db)
                    for row in then.rows { try statement.run(row) }
                }
                return stored
            }
        }
    }

    /// `INSERT … VALUES (?, …)`, prepared once and stepped once per row.
    static func prepare(_ insert: SQLBulkInsert, _ db: Database) throws -> BulkStatement {
        try BulkStatement(
            db,
            sql: insert.sql(
                rows: "VALUES (" + Array(repeating: "?", count: insert.columns.count).joined(separator: ", ") + ")"))
    }

    public func transaction<Value: Sendable>(
        deciding next: @escaping @Sendable ([SQLOutcome]) throws -> SQLDecision<Value>
    ) async throws -> Value {
        try await mapErrors {
            try await pool.writeWithoutTransaction { db in
                var value: Value?
                try db.inTransaction(.immediate) {
                    var outcomes: [SQLOutcome] = []
                    while true {
                        switch try next(outcomes) {
                        case .run(let statement):
                            let prepared = try db.makeStatement(sql: statement.text)
                            let columns = SQLColumns(prepared.columnNames)
                            let rows = try Row.fetchAll(prepared, arguments: Self.arguments(statement.binds)).map {
                                try Self.row($0, columns)
                            }
                            // sqlite3_changes() keeps the last write's count through a SELECT.
                            outcomes.append(SQLOutcome(changes: prepared.isReadonly ? 0 : db.changesCount, rows: rows))
                        case .commit(let v):
                            value = v
                            return .commit
                        case .rollback(let v):
                            value = v
                            return .rollback
                        }
                    }
                }
                return value!
            }
        }
    }

    public func transaction(_ steps: [SQLStep]) async throws {
        try await mapErrors {
            try await pool.write { db in
                for step in steps {
                    try db.execute(sql: step.statement.text, arguments: Self.arguments(step.statement.binds))
                    if let expected = step.expectedChanges, db.changesCount != expected {
                        throw TallyError.conflict(
                            "the data changed while this was being applied; nothing was changed, try again")
                    }
                }
            }
        }
    }
}

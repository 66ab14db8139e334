import TallyCore

/// Many rows for one table, inserted the way the driver does it fastest (SQLite: one prepared statement stepped once
/// per row; PostgreSQL: one statement over `unnest` arrays). What the rows are and what a conflict does is decided
/// here, by the store; the driver only moves them.
public struct SQLBulkInsert: Sendable {
    public enum Conflict: Sendable {
        /// `ON CONFLICT (key) DO NOTHING`: a row whose key is stored already is skipped. The rows must be unique on
        /// the key among themselves (the store removes repeats first), so the driver can tell which were stored.
        case skip(key: [String])
        /// `ON CONFLICT DO NOTHING` with no target: a row that conflicts with any unique index is skipped; `key` (unique
        /// among the rows) is what tells the driver which were stored. For a table whose uniqueness is not one index
        /// (PostgreSQL's partitioned events, whose key lives in `usage_event_keys`).
        case skipAnyConflict(key: [String])
        /// `ON CONFLICT (key) DO UPDATE SET <assignments>`.
        case update(key: [String], assignments: String)
    }

    public var table: String
    public var columns: [String]
    /// Per column: true when it holds integers, false when text. PostgreSQL types its arrays by it.
    public var integerColumns: [Bool]
    /// Each row's values in `columns` order.
    public var rows: [[SQLValue]]
    public var conflict: Conflict
    /// Whether values may be NULL. PostgreSQL carries them through its arrays as `Int64.min` and '', turned back
    /// into NULL by `NULLIF` (so those two values are stored as NULL too); without it the rows go through as they are.
    public var mayHoldNulls: Bool

    public init(
        table: String, columns: [String], integerColumns: [Bool], rows: [[SQLValue]], conflict: Conflict,
        mayHoldNulls: Bool
    ) {
        precondition(columns.count == integerColumns.count)
        self.table = table
        self.columns = columns
        self.integerColumns = integerColumns
        self.rows = rows
        self.conflict = conflict
        self.mayHoldNulls = mayHoldNulls
    }

    /// `INSERT INTO <table> (<columns>) <rows> ON CONFLICT …`, where `rows` is `VALUES (…)` or a `SELECT`.
    public func sql(rows: String) -> String {
        let head = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) \(rows)"
        switch conflict {
        case .skip(let key): return head + " ON CONFLICT (\(key.joined(separator: ", "))) DO NOTHING"
        case .skipAnyConflict: return head + " ON CONFLICT DO NOTHING"
        case .update(let key, let assignments):
            return head + " ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(assignments)"
        }
    }

    /// The positions of the conflict key's columns.
    public var keyPositions: [Int] {
        switch conflict {
        case .skip(let key), .skipAnyConflict(let key), .update(let key, _): key.map { columns.firstIndex(of: $0)! }
        }
    }

    /// Whether the driver must tell which rows were stored.
    public var skipsConflicts: Bool {
        if case .update = conflict { false } else { true }
    }

    /// These rows only, in their order.
    public func only(_ positions: [Int]) -> SQLBulkInsert {
        var copy = self
        copy.rows = positions.map { rows[$0] }
        return copy
    }
}

/// A query a bulk write runs first, in its transaction, which must return `rows` rows, else `otherwise` is thrown and
/// nothing is written (on PostgreSQL it also takes the row locks the query asks for).
public struct SQLCheck: Sendable {
    public var statement: SQLStatement
    public var rows: Int
    public var otherwise: TallyError

    public init(_ statement: SQLStatement, rows: Int, otherwise: TallyError) {
        self.statement = statement
        self.rows = rows
        self.otherwise = otherwise
    }
}

/// One write transaction of bulk inserts: the check, the rows whose conflicts are skipped, then what the store
/// plans from the rows actually stored (rollup increments), all or nothing.
public struct SQLBulkWrite: Sendable {
    public var check: SQLCheck?
    /// Rows claiming each insert row's key in another table first (row i for row i, skipped on conflict): only the
    /// rows whose claim was stored are inserted. PostgreSQL's partitioned events keep their unique key this way.
    public var claim: SQLBulkInsert?
    /// Positions counted as stored when their claim is, without being inserted (PostgreSQL's events older than where
    /// raw events are kept: counted in the rollups, not kept).
    public var claimOnly: Set<Int> = []
    public var insert: SQLBulkInsert
    /// Given the positions (in `insert.rows`, ascending) of the rows stored, the inserts that follow in the same
    /// transaction.
    public var then: @Sendable (_ stored: [Int]) throws -> [SQLBulkInsert]

    public init(
        check: SQLCheck?, claim: SQLBulkInsert? = nil, insert: SQLBulkInsert,
        then: @escaping @Sendable ([Int]) throws -> [SQLBulkInsert]
    ) {
        precondition(claim.map { $0.rows.count == insert.rows.count } ?? true)
        self.check = check
        self.claim = claim
        self.insert = insert
        self.then = then
    }

    /// With a claim: the positions claimed that are to be inserted, and those counted without being inserted.
    public func split(claimed: [Int]) -> (insert: [Int], only: [Int]) {
        (claimed.filter { !claimOnly.contains($0) }, claimed.filter { claimOnly.contains($0) })
    }
}

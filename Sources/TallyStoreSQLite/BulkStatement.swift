import GRDB
import GRDBSQLite
import TallyStoreSQL

/// A statement prepared once per write transaction and stepped once per row, binding values straight
/// through the SQLite C API: the ingestion path inserts thousands of rows per commit, and building GRDB
/// `StatementArguments` for each row cost more than SQLite's own work.
final class BulkStatement {
    private let connection: OpaquePointer
    private let handle: OpaquePointer
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ db: Database, sql: String) throws {
        connection = db.sqliteConnection!
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)), sql: sql)
        }
        handle = statement
    }

    deinit { sqlite3_finalize(handle) }

    /// Runs the statement with these values; returns the number of rows it changed.
    @discardableResult
    func run(_ values: [SQLValue]) throws -> Int {
        sqlite3_reset(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .int(let v): sqlite3_bind_int64(handle, index, v)
            case .null: sqlite3_bind_null(handle, index)
            case .text(var t):
                t.withUTF8 { bytes in
                    _ = sqlite3_bind_text(
                        handle, index, UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self),
                        Int32(bytes.count), Self.transient)
                }
            }
        }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else {
            let extended = sqlite3_extended_errcode(connection)
            sqlite3_reset(handle)
            throw DatabaseError(
                resultCode: ResultCode(rawValue: extended), message: String(cString: sqlite3_errmsg(connection)))
        }
        return Int(sqlite3_changes(connection))
    }
}

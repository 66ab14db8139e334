import TallyCore

/// The names of a result's columns, shared by all its rows: a row is read by column name, never by position, so a
/// column added to or moved in a query cannot shift what the others read.
public final class SQLColumns: Sendable {
    public let names: [String]
    /// Each name's position; -1 for a name the result holds twice (reading it would be a guess).
    private let positions: [String: Int]

    public init(_ names: [String]) {
        self.names = names
        var positions: [String: Int] = [:]
        for (i, name) in names.enumerated() { positions[name] = positions[name] == nil ? i : -1 }
        self.positions = positions
    }

    /// The position of the column named so; a name the result lacks, or holds twice, is an error.
    public func position(of name: String) throws(SQLRowError) -> Int {
        guard let i = positions[name] else {
            throw SQLRowError(column: name, problem: "is not in the result (\(names.joined(separator: ", ")))")
        }
        guard i >= 0 else { throw SQLRowError(column: name, problem: "appears more than once in the result") }
        return i
    }
}

/// A stored value that is not what the code reads it as: a missing column, a NULL where a value must be, text
/// where a number must be, a value no case of an enumeration has. The row is refused, never read as a default.
public struct SQLRowError: Error, Sendable, Equatable, CustomStringConvertible {
    public var column: String
    public var problem: String

    public init(column: String, problem: String) {
        self.column = column
        self.problem = problem
    }

    public var description: String { "column '\(column)' \(problem)" }
}

/// One result row, read by column name. Every accessor checks the value: `int`/`text` refuse NULL, the
/// `optional…` ones take NULL as absent, and a value of the other type is an error in both.
public struct SQLRow: Sendable {
    public let columns: SQLColumns
    public let values: [SQLValue]

    public init(columns: SQLColumns, values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public func value(_ column: String) throws(SQLRowError) -> SQLValue {
        values[try columns.position(of: column)]
    }

    public func optionalInt(_ column: String) throws(SQLRowError) -> Int64? {
        switch try value(column) {
        case .int(let v): return v
        case .null: return nil
        case .text: throw SQLRowError(column: column, problem: "holds text, not an integer")
        }
    }

    public func int(_ column: String) throws(SQLRowError) -> Int64 {
        guard let v = try optionalInt(column) else {
            throw SQLRowError(column: column, problem: "is NULL, not an integer")
        }
        return v
    }

    public func optionalText(_ column: String) throws(SQLRowError) -> String? {
        switch try value(column) {
        case .text(let t): return t
        case .null: return nil
        case .int: throw SQLRowError(column: column, problem: "holds an integer, not text")
        }
    }

    public func text(_ column: String) throws(SQLRowError) -> String {
        guard let t = try optionalText(column) else { throw SQLRowError(column: column, problem: "is NULL, not text") }
        return t
    }

    /// An integer column that holds 0 or 1.
    public func optionalBool(_ column: String) throws(SQLRowError) -> Bool? {
        switch try optionalInt(column) {
        case nil: return nil
        case 0: return false
        case 1: return true
        case _?: throw SQLRowError(column: column, problem: "holds an integer other than 0 or 1")
        }
    }

    public func bool(_ column: String) throws(SQLRowError) -> Bool {
        guard let b = try optionalBool(column) else {
            throw SQLRowError(column: column, problem: "is NULL, not 0 or 1")
        }
        return b
    }

    /// Microseconds since 1970.
    public func optionalInstant(_ column: String) throws(SQLRowError) -> Instant? {
        try optionalInt(column).map(Instant.init(microseconds:))
    }

    public func instant(_ column: String) throws(SQLRowError) -> Instant { Instant(microseconds: try int(column)) }

    /// A text column holding one case of an enumeration.
    public func optionalRaw<T: RawRepresentable>(_ column: String, as type: T.Type = T.self) throws(SQLRowError) -> T?
    where T.RawValue == String {
        guard let raw = try optionalText(column) else { return nil }
        guard let value = T(rawValue: raw) else {
            throw SQLRowError(column: column, problem: "holds a value that is no \(T.self)")
        }
        return value
    }

    public func raw<T: RawRepresentable>(_ column: String, as type: T.Type = T.self) throws(SQLRowError) -> T
    where T.RawValue == String {
        guard let value = try optionalRaw(column, as: type) else {
            throw SQLRowError(column: column, problem: "is NULL, not a \(T.self)")
        }
        return value
    }

    /// Any other reading of a text column: `parse` returns nil for text it does not accept, which is an error.
    public func optionalParsed<T>(_ column: String, as what: String, _ parse: (String) -> T?) throws(SQLRowError) -> T?
    {
        guard let raw = try optionalText(column) else { return nil }
        guard let value = parse(raw) else { throw SQLRowError(column: column, problem: "does not hold \(what)") }
        return value
    }

    public func parsed<T>(_ column: String, as what: String, _ parse: (String) -> T?) throws(SQLRowError) -> T {
        guard let value = try optionalParsed(column, as: what, parse) else {
            throw SQLRowError(column: column, problem: "is NULL, not \(what)")
        }
        return value
    }
}

extension Array where Element == SQLRow {
    /// The one row an aggregate query returns; none is an error, not an empty answer.
    public func only() throws(SQLRowError) -> SQLRow {
        guard count == 1, let row = first else {
            throw SQLRowError(column: "*", problem: "expected one row, got \(count)")
        }
        return row
    }
}

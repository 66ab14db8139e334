import TallyCore

/// A value bound to a statement parameter.
public enum SQLValue: Sendable, Hashable {
    case int(Int64)
    case text(String)
    case null
}

public enum SQLDialect: Sendable {
    case sqlite, postgres
}

/// SQL text with bound parameters, built for one dialect. Values are never spliced into the text.
public struct SQLStatement: Sendable {
    public let dialect: SQLDialect
    public private(set) var text = ""
    public private(set) var binds: [SQLValue] = []

    public init(_ dialect: SQLDialect, _ text: String = "") {
        self.dialect = dialect
        self.text = text
    }

    public mutating func append(_ sql: String) { text += sql }

    public mutating func bind(_ value: SQLValue) {
        binds.append(value)
        text += dialect == .postgres ? "$\(binds.count)" : "?"
    }

    public mutating func bind(_ value: String) { bind(.text(value)) }
    public mutating func bind(_ value: Int64) { bind(.int(value)) }

    /// `AND column IN (…)` for each filtered dimension, columns from the code, values bound.
    public mutating func appendFilters(_ filters: DimensionFilters, tableAlias: String = "") {
        for dimension in filters.keys.sorted() {
            let values = filters[dimension] ?? []
            append(" AND \(tableAlias)\(dimension.column) IN (")
            for (i, v) in values.enumerated() {
                if i > 0 { append(", ") }
                bind(v)
            }
            if values.isEmpty { append("NULL") }
            append(")")
        }
    }

    /// The value of the event's tag `key` (NULL without it): the tags column is the JSON object `encodeTags` wrote.
    /// The key is bound, never spliced: as a JSON path `$."key"` in SQLite (callers keep keys to letters, digits and
    /// `_.:-`, so the quoted label needs no escapes), as the `->>` operand in PostgreSQL.
    public mutating func appendTagValue(_ key: String, tableAlias: String = "") {
        switch dialect {
        case .sqlite:
            append("json_extract(\(tableAlias)tags, ")
            bind("$.\"" + key + "\"")
            append(")")
        case .postgres:
            append("(CAST(\(tableAlias)tags AS jsonb) ->> CAST(")
            bind(key)
            append(" AS TEXT))")
        }
    }

    /// `AND (` the event carries any of `flags` `)`, safety or quality: each a bound `LIKE '%,flag,%'` with the
    /// pattern's own characters escaped (flags name filters, which may hold `%` or `_`).
    public mutating func appendFlagFilter(_ flags: [String], tableAlias: String = "") {
        guard !flags.isEmpty else { return }
        append(" AND (")
        for (i, flag) in flags.enumerated() {
            var escaped = ""
            for c in flag {
                if c == "%" || c == "_" || c == "\\" { escaped.append("\\") }
                escaped.append(c)
            }
            let pattern = "%," + escaped + ",%"
            if i > 0 { append(" OR ") }
            append("\(tableAlias)safety_flags LIKE ")
            bind(pattern)
            append(" ESCAPE '\\' OR \(tableAlias)quality_flags LIKE ")
            bind(pattern)
            append(" ESCAPE '\\'")
        }
        append(")")
    }
}

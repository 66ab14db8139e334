import TallyAggregate
import TallyCore

/// `tally migrate-store` (issue 24): every table of an SQLite store copied into a PostgreSQL store migrated to the
/// same schema, rows as they are (ids, sequences, sealed keys, hashes), parents before children.
///
/// A page is read by key (keyset, never OFFSET) and written with one upsert on the table's primary key, so copying
/// again overwrites rather than duplicates: an interrupted move is run again to completion. The append-only tables
/// (`usage_events`, `policy_hits`) resume after the highest sequence already copied.
public struct StoreCopy<Source: SQLDatabase, Target: SQLDatabase>: Sendable {
    public struct Table: Sendable, Equatable {
        public var name: String
        public var columns: [String]
        /// The primary key's columns, in key order; empty for a table without one (copied whole again each time).
        public var key: [String]
    }

    public let source: Source
    public let target: Target

    public init(source: Source, target: Target) {
        self.source = source
        self.target = target
    }

    /// Tables whose rows are only ever added, keyed by a sequence: a resumed copy starts after the last one copied.
    static var appendOnly: Set<String> { ["usage_events", "policy_hits"] }

    /// The source's tables (not the migrations' ledger, which the target keeps itself), parents first.
    public func tables() async throws -> [Table] {
        precondition(source.dialect == .sqlite, "the source is read through SQLite's catalog")
        let names = try await source.query(
            SQLStatement(
                .sqlite,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                    + "AND name <> 'schema_migrations' ORDER BY name")
        ).map { try $0.text("name") }
        var tables: [String: Table] = [:]
        var parents: [String: Set<String>] = [:]
        for name in names {
            var s = SQLStatement(.sqlite, "SELECT name, pk FROM pragma_table_info(")
            s.bind(name)
            s.append(") ORDER BY cid")
            let columns = try await source.query(s)
            let key = try columns.filter { try $0.int("pk") > 0 }.sorted { try $0.int("pk") < $1.int("pk") }
                .map { try $0.text("name") }
            tables[name] = Table(name: name, columns: try columns.map { try $0.text("name") }, key: key)
            var f = SQLStatement(.sqlite, "SELECT \"table\" AS parent FROM pragma_foreign_key_list(")
            f.bind(name)
            f.append(")")
            parents[name] = Set(try await source.query(f).map { try $0.text("parent") }).subtracting([name])
        }
        // Names read from the file go into SQL on both sides: only plain names of tables the target has (the same
        // migrations made both), never anything a hand-edited file could smuggle in.
        let known = Set(
            try await target.query(
                SQLStatement(
                    target.dialect,
                    target.dialect == .postgres
                        ? "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
                        : "SELECT name FROM sqlite_master WHERE type = 'table'")
            ).map { try $0.text("name") })
        for table in tables.values {
            guard ([table.name] + table.columns).allSatisfy(Self.isPlainName) else {
                throw TallyError.invalid([
                    FieldProblem(field: "--from", reason: "holds a table or column whose name Tally never makes")
                ])
            }
            guard known.contains(table.name) else {
                throw TallyError.invalid([
                    FieldProblem(field: "--from", reason: "holds a table Tally's schema does not have: \(table.name)")
                ])
            }
        }
        var ordered: [Table] = []
        var placed = Set<String>()
        func place(_ name: String) {
            guard !placed.contains(name), let table = tables[name] else { return }
            placed.insert(name)
            for parent in (parents[name] ?? []).sorted() { place(parent) }
            ordered.append(table)
        }
        for name in names { place(name) }
        return ordered
    }

    /// Lowercase letters, digits and underscores, not starting with a digit: every name Tally's schema uses.
    static func isPlainName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(48...57).contains(first), name.utf8.count <= 63 else { return false }
        return name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }
    }

    /// Before a resumed copy: every table but the append-only ones is emptied in the target, children first, and
    /// copied whole again, so rows the source deleted or changed since the interrupted run (sessions, budgets, a
    /// re-pricing of settings) are not left behind. Events continue after the last sequence copied.
    /// `everything` (a restart): the events too.
    public func empty(_ tables: [Table], everything: Bool) async throws {
        for table in tables.reversed() where everything || !Self.appendOnly.contains(table.name) {
            try await target.execute(SQLStatement(target.dialect, "DELETE FROM \(table.name)"))
        }
        if everything && target.dialect == .postgres {
            try await target.execute(SQLStatement(.postgres, "DELETE FROM usage_event_keys"))
        }
    }

    /// Copies one table; `progress` is told the rows copied so far after each page. Returns the rows copied.
    public func copy(_ table: Table, resume: Bool, progress: (Int) -> Void = { _ in }) async throws -> Int {
        let key = table.key.isEmpty ? ["rowid"] : table.key
        let select = (table.key.isEmpty ? ["rowid"] : []) + table.columns
        // Parameters per statement stay well under PostgreSQL's 65,535.
        let pageSize = max(1, min(2_000, 30_000 / table.columns.count))
        if table.key.isEmpty {
            try await target.execute(SQLStatement(target.dialect, "DELETE FROM \(table.name)"))
        }
        var after: [SQLValue]?
        if resume, Self.appendOnly.contains(table.name), table.key.count == 1 {
            let last = try await target.query(
                SQLStatement(target.dialect, "SELECT MAX(\(table.key[0])) AS last FROM \(table.name)")
            ).first
            if let last, case .int(let value)? = last.values.first { after = [.int(value)] }
        }
        var copied = 0
        while true {
            var page = SQLStatement(.sqlite, "SELECT \(select.joined(separator: ", ")) FROM \(table.name)")
            if let after {
                page.append(" WHERE (\(key.joined(separator: ", "))) > (")
                for (i, value) in after.enumerated() {
                    if i > 0 { page.append(", ") }
                    page.bind(value)
                }
                page.append(")")
            }
            page.append(" ORDER BY \(key.joined(separator: ", ")) LIMIT ")
            page.bind(Int64(pageSize))
            let rows = try await source.query(page)
            guard let last = rows.last else { break }
            after = try key.map { try last.value($0) }
            let write = upsert(table, rows: rows, skipping: table.key.isEmpty ? 1 : 0)
            if target.dialect == .postgres && table.name == "usage_events" {
                // The events and their keys in one transaction: a move interrupted between them would leave events
                // whose resending is not a duplicate.
                try await prepareEvents(rows)
                try await target.transaction([SQLStep(write), SQLStep(try claimKeys(rows))])
            } else {
                try await target.execute(write)
            }
            copied += rows.count
            progress(copied)
            if rows.count < pageSize { break }
        }
        return copied
    }

    /// PostgreSQL's events are partitioned by month (`EventPartitions`): the page's months are made first.
    func prepareEvents(_ rows: [SQLRow]) async throws {
        let months = try rows.map { EventPartitions.Month(containing: try $0.instant("ts_us")) }
        try await SQLStore(target).ensurePartitions(Set(months))
    }

    /// ... and their keys live in `usage_event_keys`: the page's are claimed after it is copied.
    func claimKeys(_ rows: [SQLRow]) throws -> SQLStatement {
        let sequences = try rows.map { try $0.int("seq") }
        let (first, last) = (sequences.min() ?? 0, sequences.max() ?? -1)
        var s = SQLStatement(
            target.dialect,
            "INSERT INTO usage_event_keys (org_id, project_id, event_id, ts_us) SELECT org_id, project_id, event_id, "
                + "ts_us FROM usage_events WHERE seq >= ")
        s.bind(first)
        s.append(" AND seq <= ")
        s.bind(last)
        s.append(" ON CONFLICT (org_id, project_id, event_id) DO NOTHING")
        return s
    }

    /// `INSERT … VALUES (…), … ON CONFLICT (key) DO UPDATE SET every other column`. PostgreSQL's partitioned events
    /// are unique by sequence and timestamp (the partition key must be in every unique index).
    func upsert(_ table: Table, rows: [SQLRow], skipping leading: Int) -> SQLStatement {
        var table = table
        if target.dialect == .postgres && table.name == "usage_events" { table.key = ["seq", "ts_us"] }
        var s = SQLStatement(
            target.dialect, "INSERT INTO \(table.name) (\(table.columns.joined(separator: ", "))) VALUES ")
        for (r, row) in rows.enumerated() {
            s.append(r == 0 ? "(" : ", (")
            for i in 0..<table.columns.count {
                if i > 0 { s.append(", ") }
                s.bind(row.values[leading + i])
            }
            s.append(")")
        }
        guard !table.key.isEmpty else { return s }
        let others = table.columns.filter { !table.key.contains($0) }
        s.append(" ON CONFLICT (\(table.key.joined(separator: ", "))) ")
        s.append(
            others.isEmpty
                ? "DO NOTHING" : "DO UPDATE SET " + others.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", "))
        return s
    }

    /// PostgreSQL's sequences continue after the sequences copied.
    public func continueSequences() async throws {
        guard target.dialect == .postgres else { return }
        for table in Self.appendOnly.sorted() {
            try await target.query(
                SQLStatement(
                    .postgres,
                    "SELECT setval(pg_get_serial_sequence('\(table)', 'seq'), GREATEST((SELECT MAX(seq) FROM \(table)), 1))"
                ))
        }
    }

    /// What must be equal on both sides once copied: each table's rows, and the money of the events and rollups.
    public static func checksums(_ database: some SQLDatabase, tables: [Table]) async throws -> [String: String] {
        var sums: [String: String] = [:]
        for table in tables {
            sums["rows." + table.name] = String(
                try await database.query(
                    SQLStatement(database.dialect, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM \(table.name)")
                ).only().int("n"))
        }
        let money: [(String, String)] =
            [("usage_events", "cost_nanos"), ("usage_events", "provider_cost_nanos")]
            + RollupTable.all.map { ($0.name, "cost_nanos") }
        for (table, column) in money {
            // Summed as text on both sides: SQLite's integer SUM stops at Int64, PostgreSQL's gives NUMERIC.
            let sql =
                database.dialect == .postgres
                ? "SELECT COALESCE(SUM(\(column)), 0)::TEXT AS total FROM \(table)"
                : "SELECT CAST(COALESCE(SUM(\(column)), 0) AS TEXT) AS total FROM \(table)"
            sums["money.\(table).\(column)"] = try await database.query(SQLStatement(database.dialect, sql)).only()
                .text("total")
        }
        return sums
    }
}

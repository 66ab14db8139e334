import Foundation
import GRDB
import TallyCore
import TallyStoreSQL

/// `tally backup` and `tally restore` for the embedded store, through SQLite's online backup API.
///
/// A backup copies every page in ONE step, inside one read transaction: in WAL mode that is a snapshot of one
/// moment, taken while `tally serve` goes on writing (its writers never wait for it). Every commit acknowledged
/// before the snapshot began is in the copy; nothing half-written is.
public enum SQLiteBackup {
    /// What a backup or a restore copied.
    public struct Copied: Sendable, Equatable {
        public var bytes: Int64
        public var events: Int64
        public var schemaVersion: Int
    }

    /// Copies the database at `source` into a new single file at `destination` (rollback journal, not WAL, so the
    /// one file is the whole backup), made 0600 since it holds password hashes and sealed keys. The copy is written
    /// beside the destination under another name, checked (`PRAGMA quick_check`) and renamed into place: an
    /// interrupted backup never leaves a file that looks complete. `replace`: an existing destination is replaced.
    public static func backup(from source: String, to destination: String, replace: Bool) throws -> Copied {
        let files = FileManager.default
        guard files.fileExists(atPath: source) else {
            throw TallyError.notFound("the SQLite database \(source)")
        }
        var isDirectory: ObjCBool = false
        if files.fileExists(atPath: destination, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else {
                throw TallyError.invalid([FieldProblem(field: "--to", reason: "is a directory: name the backup file")])
            }
            guard replace else {
                throw TallyError.conflict(
                    "\(destination) exists already: choose another file, or pass --force to replace it")
            }
            // Replacing the live database itself would unlink it under `tally serve`.
            guard !sameFile(destination, source) else {
                throw TallyError.invalid([FieldProblem(field: "--to", reason: "is the database being backed up")])
            }
        }
        // Written aside, then renamed over the destination: rename replaces a file in one step.
        let partial = destination + ".partial-" + Identifier.make("bak", length: 8)
        guard files.createFile(atPath: partial, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw TallyError.unavailable("cannot create \(partial)")
        }
        defer { try? files.removeItem(atPath: partial) }
        let copied: Copied
        do {
            let from = try DatabaseQueue(path: source, configuration: readerConfiguration())
            let to = try DatabaseQueue(path: partial)
            try from.backup(to: to)
            try to.writeWithoutTransaction { db in
                // The pages came from a WAL database, whose header says so; one self-contained file is wanted.
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
            }
            copied = try check(to, path: partial)
            try to.close()
            try from.close()
        } catch let error as DatabaseError {
            throw TallyError.unavailable("SQLite: \(SQLiteDatabase.describe(error))")
        }
        try syncFile(partial)
        guard rename(partial, destination) == 0 else {
            throw TallyError.unavailable(
                "cannot move the backup to \(destination): \(String(cString: strerror(errno)))")
        }
        return copied
    }

    /// Two paths naming one file (device and inode), whatever links or relative parts they take.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var first = stat()
        var second = stat()
        guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }

    /// What a store's file holds, for `restore`'s refusal: people, projects and events (a fresh store has none,
    /// only the default organization). Nil when the file does not exist or holds no Tally schema.
    public static func contents(of path: String) throws -> (users: Int64, projects: Int64, events: Int64)? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let queue = try DatabaseQueue(path: path, configuration: readerConfiguration())
            defer { try? queue.close() }
            return try queue.read { db in
                guard try db.tableExists("usage_events"), try db.tableExists("users") else { return nil }
                return (
                    try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM users") ?? 0,
                    try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM projects") ?? 0,
                    try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM usage_events") ?? 0
                )
            }
        } catch let error as DatabaseError {
            throw TallyError.unavailable("SQLite: \(SQLiteDatabase.describe(error))")
        }
    }

    /// Replaces the store at `target` with the backup at `backupPath`, page by page through the backup API (which
    /// takes the target's write lock, so no writer sees half of it). The backup is checked first: an SQLite file
    /// that passes `quick_check`, holds Tally's schema, and no migration newer than this binary's (a backup of a
    /// newer Tally would be read wrongly). A store that holds accounts, projects or events is only replaced when
    /// `force` is given.
    public static func restore(from backupPath: String, to target: String, force: Bool) throws -> Copied {
        let knownMigrations = Set(Schema.migrations(.sqlite).map(\.version))
        guard FileManager.default.fileExists(atPath: backupPath) else {
            throw TallyError.notFound("the backup file \(backupPath)")
        }
        do {
            let from = try DatabaseQueue(path: backupPath, configuration: readerConfiguration(readonly: true))
            defer { try? from.close() }
            let copied = try check(from, path: backupPath)
            let versions = try from.read { db in try Int.fetchSet(db, sql: "SELECT version FROM schema_migrations") }
            if let newer = versions.subtracting(knownMigrations).max() {
                throw TallyError.conflict(
                    "the backup was made by a newer version of tally (schema migration \(newer)): restore it with that version"
                )
            }
            if let held = try contents(of: target), held.users + held.projects + held.events > 0, !force {
                throw TallyError.conflict(
                    "the store \(target) is not empty (\(held.users) accounts, \(held.projects) projects, \(held.events) events): "
                        + "pass --force to replace it")
            }
            if !FileManager.default.fileExists(atPath: target),
                !FileManager.default.createFile(atPath: target, contents: nil, attributes: [.posixPermissions: 0o600])
            {
                throw TallyError.unavailable("cannot create \(target)")
            }
            var config = Configuration()
            config.busyMode = .timeout(10)
            let to = try DatabasePool(path: target, configuration: config)
            try from.backup(to: to)
            try to.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.checkpoint(.truncate)
            }
            try to.close()
            return copied
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw TallyError.invalid([FieldProblem(field: "--from", reason: "is not an SQLite database")])
        } catch let error as DatabaseError {
            throw TallyError.unavailable("SQLite: \(SQLiteDatabase.describe(error))")
        }
    }

    static func readerConfiguration(readonly: Bool = false) -> Configuration {
        var config = Configuration()
        config.readonly = readonly
        config.busyMode = .timeout(10)
        return config
    }

    /// The copy must be a sound SQLite file holding Tally's schema; answers what it holds.
    static func check(_ queue: DatabaseQueue, path: String) throws -> Copied {
        try queue.read { db in
            let verdict = try String.fetchAll(db, sql: "PRAGMA quick_check")
            guard verdict == ["ok"] else {
                throw TallyError.unavailable(
                    "\(path) failed SQLite's quick_check: \(verdict.prefix(3).joined(separator: "; "))")
            }
            guard try db.tableExists("schema_migrations"), try db.tableExists("usage_events") else {
                throw TallyError.invalid([FieldProblem(field: "--from", reason: "is not a Tally database")])
            }
            let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            return Copied(
                bytes: pages * pageSize,
                events: try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM usage_events") ?? 0,
                schemaVersion: try Int.fetchOne(db, sql: "SELECT MAX(version) FROM schema_migrations") ?? 0)
        }
    }

    /// The copy reaches the disk before it is renamed into place.
    static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TallyError.unavailable("cannot open \(path) to sync it") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw TallyError.unavailable("cannot sync \(path) to disk") }
    }
}

/// Holds an SQLite database's write lock (`BEGIN IMMEDIATE` on a connection of its own) until `release()`. Other
/// connections and processes go on reading (WAL); their writers wait `busy_timeout`, then fail busy (`tally serve`
/// answers 503 and clients retry). `tally migrate-store` copies under it, so what it copies stands still.
public final class SQLiteWriteLock: Sendable {
    let queue: DatabaseQueue

    public init(path: String) throws {
        do {
            var config = SQLiteBackup.readerConfiguration()
            // The transaction is the lock: it stays open between the two accesses, on purpose.
            config.allowsUnsafeTransactions = true
            queue = try DatabaseQueue(path: path, configuration: config)
            try queue.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        } catch let error as DatabaseError {
            throw TallyError.unavailable("cannot lock \(path) for writing: \(SQLiteDatabase.describe(error))")
        }
    }

    public func release() {
        try? queue.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        try? queue.close()
    }
}

import Foundation
import Logging
import TallyCore
import TallyIngest
import TallyServices
import TallyStoreSQLite

/// What the operator's commands do to a whole store (issue 24): `tally backup`, `tally restore`, `tally import`.
/// The CLI parses and prints; this chooses and runs.
public enum StoreOperations {
    /// What a backup or a restore copied.
    public struct Copied: Sendable {
        public var bytes: Int64
        public var events: Int64
        public var schemaVersion: Int
    }

    /// `tally backup --to FILE`: the embedded store, copied while `tally serve` runs (`SQLiteBackup`).
    public static func backup(_ config: AppConfig, to file: String, replace: Bool) throws -> Copied {
        let copied = try SQLiteBackup.backup(from: try sqlitePath(config, "backup"), to: file, replace: replace)
        return Copied(bytes: copied.bytes, events: copied.events, schemaVersion: copied.schemaVersion)
    }

    /// `tally restore --from FILE`: replaces the embedded store with a backup; the data directory is created if
    /// need be. Every `tally serve` on the store must be stopped first (their caches would not know).
    public static func restore(_ config: AppConfig, from file: String, force: Bool, logger: Logger) throws -> Copied {
        let path = try sqlitePath(config, "restore")
        try StoreBootstrap.createPrivateDirectory(config.dataDirectory, logger: logger)
        let copied = try SQLiteBackup.restore(from: file, to: path, force: force)
        try StoreBootstrap.createPrivateDatabaseFiles(path)
        return Copied(bytes: copied.bytes, events: copied.events, schemaVersion: copied.schemaVersion)
    }

    static func sqlitePath(_ config: AppConfig, _ command: String) throws -> String {
        switch config.database {
        case .sqlite(let path): return path
        case .postgres:
            throw TallyError.unavailable(
                "tally \(command) copies the embedded SQLite store; back up PostgreSQL with pg_dump or point-in-time recovery (docs/operations.md)"
            )
        }
    }

    /// Where an import stands, for the progress bar.
    public struct ImportStatus: Sendable {
        public var bytesRead: Int64
        public var lines: Int
        public var stored: Int
        public var duplicates: Int
        public var invalid: Int
    }

    public struct ImportResult: Sendable {
        public var status: ImportStatus
        /// The first hundred problems: the line's number and what is wrong with it.
        public var problems: [(line: Int, field: String, reason: String)]
        /// The invalid line the import stopped at (the lines before it are stored); nil with `skipInvalid`.
        public var stoppedAt: Int?
    }

    /// `tally import --ndjson`: `read` gives the next bytes (nil at the end); events go to the default organization,
    /// priced with the newest catalog and the organization's own prices, as `tally serve` prices them.
    public static func importEvents(
        store: some TallyStore, config: AppConfig, logger: Logger, defaultProject: String?, batchSize: Int,
        skipInvalid: Bool, read: () throws -> [UInt8]?, progress: (ImportStatus) -> Void
    ) async throws -> ImportResult {
        let organization = try await store.defaultOrganization(timeZone: config.timeZone.identifier)
        let dependencies = Dependencies(store: store, options: ServerOptions(config: config), logger: logger)
        _ = try await dependencies.catalog.loadNewest()
        try await dependencies.prices.reloadAll()
        if let defaultProject,
            try await store.project(organizationID: organization.id, name: defaultProject) == nil,
            try await store.project(organizationID: organization.id, id: defaultProject) == nil
        {
            throw TallyError.notFound("project '\(defaultProject)'")
        }
        let run = EventImport(
            pipeline: dependencies.pipeline,
            options: ImportOptions(
                organizationID: organization.id, defaultProject: defaultProject, batchSize: batchSize,
                skipInvalid: skipInvalid))
        let report = try await run.run(read: read) { progress(status($0)) }
        return ImportResult(
            status: status(report.progress),
            problems: report.problems.map { ($0.line, $0.problem.field, $0.problem.reason) },
            stoppedAt: report.stoppedAt)
    }

    static func status(_ p: ImportProgress) -> ImportStatus {
        ImportStatus(
            bytesRead: p.bytesRead, lines: p.lines, stored: p.stored, duplicates: p.duplicates, invalid: p.invalid)
    }

    /// `tally retention`: applies the retention policy once, now (what `tally serve` does hourly).
    public static func applyRetention(store: some TallyStore, policy: RetentionPolicy) async throws -> (
        eventsDeleted: Int, rollupRowsDeleted: Int, boundaries: RetentionBoundaries
    ) {
        let outcome = try await Retention(store: store, policy: policy).apply()
        return (outcome.eventsDeleted, outcome.rollupRowsDeleted, outcome.boundaries)
    }
}

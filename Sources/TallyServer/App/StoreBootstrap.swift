import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TallyCore
import TallyGateway
import TallyHTTP
import TallyServices
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite
import TallyWeb

/// Opens the configured store and keeps its connections alive while `body` runs.
public enum StoreBootstrap {
    /// The configured store, and the PostgreSQL client that must run (as a Service) for it to answer; nil for SQLite.
    public struct Opened: Sendable {
        public let store: any TallyStore
        public let client: StoreClient?
        /// "sqlite" or "postgresql", for the start-up log line.
        public let kind: String
    }

    /// Opens the store without starting anything: the caller runs `client` (in a ServiceGroup, or beside its work).
    public static func open(_ config: AppConfig, logger: Logger) throws -> Opened {
        switch config.database {
        case .sqlite(let path):
            try createPrivateDirectory(config.dataDirectory, logger: logger)
            try createPrivateDatabaseFiles(path)
            return Opened(store: try SQLiteDatabase.open(path: path), client: nil, kind: "sqlite")
        case .postgres(let url):
            let client = PostgresClient(
                configuration: try PostgresSQLDatabase.configuration(url: url), backgroundLogger: logger)
            let replica = try config.databaseReadURL.map {
                ReadReplica(
                    client: PostgresClient(
                        configuration: try PostgresSQLDatabase.configuration(url: $0), backgroundLogger: logger),
                    maxLag: .seconds(config.databaseReadMaxLagSeconds), logger: logger)
            }
            return Opened(
                store: PostgresStore(PostgresSQLDatabase(client: client, logger: logger, replica: replica)),
                client: StoreClient(client, replica: replica),
                kind: replica == nil ? "postgresql" : "postgresql with a read replica")
        }
    }

    /// The store's PostgreSQL client as a Service, and a way to wait until it runs: a query sent before that waits
    /// for it, with a warning in the log.
    public struct StoreClient: Service {
        let client: PostgresClient
        /// `TALLY_DATABASE_READ_URL`'s replica: its client and its lag monitor run beside the primary's.
        let replica: ReadReplica?
        let started: AsyncStream<Void>
        let starting: AsyncStream<Void>.Continuation

        init(_ client: PostgresClient, replica: ReadReplica? = nil) {
            self.client = client
            self.replica = replica
            (started, starting) = AsyncStream.makeStream(of: Void.self)
        }

        public func run() async throws {
            starting.finish()
            guard let replica else { return await client.run() }
            await withDiscardingTaskGroup { group in
                group.addTask { await replica.client.run() }
                group.addTask { await replica.monitor() }
                await client.run()
                group.cancelAll()
            }
        }

        public func waitUntilRunning() async {
            for await _ in started {}
        }
    }

    public static func withStore<T: Sendable>(
        _ config: AppConfig, logger: Logger, _ body: @Sendable (any TallyStore) async throws -> T
    ) async throws -> T {
        let opened = try open(config, logger: logger)
        guard let client = opened.client else { return try await body(opened.store) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { group.cancelAll() }
            await client.waitUntilRunning()
            return try await body(opened.store)
        }
    }

    /// What a command may do with a schema older than this binary.
    public enum SchemaUse: Sendable {
        /// Applies pending migrations (`tally serve` and the commands that write), unless TALLY_MIGRATE=off: then
        /// refuses, like `.read`, and leaves them to `tally migrate` (rolling upgrades).
        case write
        /// Never migrates (the commands that only list); refuses when a migration is pending.
        case read
        /// Applies pending migrations whatever TALLY_MIGRATE says (`tally migrate`).
        case migrate
    }

    /// The schema is older than this binary and the command may not migrate it: one line for the operator.
    public struct SchemaBehind: Error, CustomStringConvertible, Sendable {
        public let pending: [String]
        /// Why this command does not migrate.
        public let because: String
        public var description: String {
            "the database schema is behind this version of tally (\(pending.count) migration\(pending.count == 1 ? "" : "s") pending) "
                + "and \(because): run tally migrate first"
        }
    }

    /// Migrates, or checks that nothing is pending, as `use` and TALLY_MIGRATE say.
    public static func prepareSchema(_ store: some TallyStore, for use: SchemaUse, config: AppConfig) async throws {
        let because: String
        switch use {
        case .migrate:
            try await store.migrate()
            return
        case .write where config.migrate:
            try await store.migrate()
            return
        case .write: because = "TALLY_MIGRATE is off"
        case .read: because = "this command never migrates"
        }
        let pending = try await store.pendingMigrations()
        guard pending.isEmpty else { throw SchemaBehind(pending: pending, because: because) }
    }

    /// The data directory holds the database (and the master key): only its owner may read it. A directory that
    /// exists already (a mounted volume, one made by hand) is left as it is, with a warning when others may read it.
    static func createPrivateDirectory(_ path: String, logger: Logger) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw AppConfig.Problem(source: "TALLY_DATA_DIR", reason: "\(path) exists and is not a directory")
            }
            if let mode = permissions(path), mode & 0o077 != 0 {
                logger.warning(
                    "the data directory \(path) is open to other users (mode \(String(mode, radix: 8))); its files are kept 0600, but run chmod 700 on it"
                )
            }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw AppConfig.Problem(
                source: "TALLY_DATA_DIR", reason: "cannot create \(path): \(error.localizedDescription)")
        }
    }

    /// The SQLite file is created 0600 before SQLite opens it (SQLite would use 0644 less the umask), and SQLite
    /// gives its -wal and -shm files the database file's mode. Files left wider by an earlier version are narrowed.
    static func createPrivateDatabaseFiles(_ path: String) throws {
        let files = FileManager.default
        if !files.fileExists(atPath: path),
            !files.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        {
            throw AppConfig.Problem(source: "TALLY_DATA_DIR", reason: "cannot create \(path)")
        }
        for file in [path, path + "-wal", path + "-shm"] {
            guard let mode = permissions(file), mode & 0o077 != 0 else { continue }
            do {
                try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
            } catch {
                throw AppConfig.Problem(
                    source: "TALLY_DATA_DIR",
                    reason: "cannot make \(file) private (chmod 600): \(error.localizedDescription)")
            }
        }
    }

    /// The permission bits of a file, nil when it does not exist.
    static func permissions(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_mode & 0o7777)
    }
}

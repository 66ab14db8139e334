import Foundation
import Logging
import PostgresNIO
import TallyCore
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite
import TallyHTTP
import TallyServices
import TallyGateway
import TallyWeb

/// Opens the configured store and keeps its connections alive while `body` runs.
public enum StoreBootstrap {
    public static func withStore<T: Sendable>(
        _ config: TallyConfig, logger: Logger, _ body: @Sendable (any TallyStore) async throws -> T
    ) async throws -> T {
        switch config.database {
        case .sqlite(let path):
            try createPrivateDirectory(config.dataDirectory, logger: logger)
            try createPrivateDatabaseFiles(path)
            return try await body(try SQLiteDatabase.open(path: path))
        case .postgres(let url):
            let client = PostgresClient(configuration: try PostgresSQLDatabase.configuration(url: url), backgroundLogger: logger)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                return try await body(PostgresStore(PostgresSQLDatabase(client: client, logger: logger)))
            }
        }
    }

    /// The data directory holds the database (and the master key): only its owner may read it. A directory that
    /// exists already (a mounted volume, one made by hand) is left as it is, with a warning when others may read it.
    static func createPrivateDirectory(_ path: String, logger: Logger) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw TallyConfig.Problem(source: "TALLY_DATA_DIR", reason: "\(path) exists and is not a directory") }
            if let mode = permissions(path), mode & 0o077 != 0 {
                logger.warning("the data directory \(path) is open to other users (mode \(String(mode, radix: 8))); its files are kept 0600, but run chmod 700 on it")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw TallyConfig.Problem(source: "TALLY_DATA_DIR", reason: "cannot create \(path): \(error.localizedDescription)")
        }
    }

    /// The SQLite file is created 0600 before SQLite opens it (SQLite would use 0644 less the umask), and SQLite
    /// gives its -wal and -shm files the database file's mode. Files left wider by an earlier version are narrowed.
    static func createPrivateDatabaseFiles(_ path: String) throws {
        let files = FileManager.default
        if !files.fileExists(atPath: path), !files.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) {
            throw TallyConfig.Problem(source: "TALLY_DATA_DIR", reason: "cannot create \(path)")
        }
        for file in [path, path + "-wal", path + "-shm"] {
            guard let mode = permissions(file), mode & 0o077 != 0 else { continue }
            do {
                try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
            } catch {
                throw TallyConfig.Problem(source: "TALLY_DATA_DIR", reason: "cannot make \(file) private (chmod 600): \(error.localizedDescription)")
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

import Foundation
import Logging
import PostgresNIO
import TallyCore
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite

/// Opens the configured store and keeps its connections alive while `body` runs.
public enum StoreBootstrap {
    public static func withStore<T: Sendable>(
        _ config: TallyConfig, logger: Logger, _ body: @Sendable (any TallyStore) async throws -> T
    ) async throws -> T {
        switch config.database {
        case .sqlite(let path):
            try createPrivateDirectory(config.dataDirectory)
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

    /// The data directory holds the database (and later keys): only its owner may read it.
    static func createPrivateDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw TallyConfig.Problem(source: "TALLY_DATA_DIR", reason: "\(path) exists and is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw TallyConfig.Problem(source: "TALLY_DATA_DIR", reason: "cannot create \(path): \(error.localizedDescription)")
        }
    }
}

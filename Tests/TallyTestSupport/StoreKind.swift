import Foundation
import Logging
import PostgresNIO
import TallyCore
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite
import Testing

/// The stores under test. PostgreSQL joins when `TALLY_TEST_POSTGRES_URL` names a server (scripts/test starts one).
package enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    package var testDescription: String { rawValue }

    /// The server the PostgreSQL tests create their databases on (`TALLY_TEST_POSTGRES_URL`); nil: SQLite only.
    package static var postgresURL: String? { ProcessInfo.processInfo.environment["TALLY_TEST_POSTGRES_URL"] }

    package static var available: [StoreKind] {
        postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]
    }

    /// A freshly migrated, empty store: a temp SQLite file, or a new PostgreSQL database.
    package func withStore(_ body: @Sendable (any TallyStore) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            let temporary = try await TemporarySQLiteStore.make(prefix: "tally-test")
            defer { temporary.remove() }
            try await body(temporary.store)
        case .postgres:
            try await Self.withNewPostgresDatabase { db in
                let store = SQLStore(db)
                try await store.migrate()
                try await body(store)
            }
        }
    }

    /// A new, empty database on the test PostgreSQL server, not migrated, dropped after `body`.
    package static func withNewPostgresDatabase(
        _ body: @Sendable (PostgresSQLDatabase) async throws -> Void
    ) async throws {
        let url = postgresURL!
        let name = "tally_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await withPostgres(url) { admin in
            _ = try await admin.execute(SQLStatement(.postgres, "CREATE DATABASE \(name)"))
        }
        var parts = URLComponents(string: url)!
        parts.path = "/" + name
        try await withPostgres(parts.string!, body)
        try await withPostgres(url) { admin in
            _ = try await admin.execute(SQLStatement(.postgres, "DROP DATABASE \(name) WITH (FORCE)"))
        }
    }

    package static func withPostgres(
        _ url: String, _ body: @Sendable (PostgresSQLDatabase) async throws -> Void
    ) async throws {
        let client = PostgresClient(
            configuration: try PostgresSQLDatabase.configuration(url: url), backgroundLogger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(PostgresSQLDatabase(client: client, logger: Logger(label: "test")))
        }
    }
}

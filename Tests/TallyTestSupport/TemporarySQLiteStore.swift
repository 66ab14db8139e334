import Foundation
import TallyStoreSQL
import TallyStoreSQLite

/// A freshly migrated, empty SQLite store in a new directory under the system's temporary directory
/// (`<prefix>-<UUID>/tally.sqlite`). The directory stays until `remove()`.
package struct TemporarySQLiteStore: Sendable {
    package let store: SQLiteStore
    package let directory: URL

    package static func make(prefix: String) async throws -> TemporarySQLiteStore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            let store = try SQLiteDatabase.open(path: directory.appendingPathComponent("tally.sqlite").path)
            try await store.migrate()
            return TemporarySQLiteStore(store: store, directory: directory)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    package func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

import Foundation
import Logging
import TallyCore
import TallyStoreSQL
import TallyStoreSQLite
import Testing

@testable import TallyServer

@Suite struct AppConfigTests {
    @Test func everyWrongSettingIsReportedAtOnceInReadingOrder() {
        #expect {
            try AppConfig.load(
                environment: [
                    "TALLY_PORT": "abc", "TALLY_TIME_ZONE": "Mars/Base", "TALLY_GATEWAY_IDLE_TIMEOUT": "1ms",
                    "TALLY_MIGRATE": "later", "TALLY_METRICS_TOKEN": "short",
                ], flags: [.logLevel: "loud"])
        } throws: { error in
            guard let problem = error as? AppConfig.Problem else { return false }
            let sources = problem.lines.map { String($0.prefix { $0 != " " }) }
            return problem.source == "TALLY_PORT"
                && sources == [
                    "TALLY_PORT", "--log-level", "TALLY_TIME_ZONE", "TALLY_GATEWAY_IDLE_TIMEOUT", "TALLY_METRICS_TOKEN",
                    "TALLY_MIGRATE",
                ]
                && problem.description == problem.lines.joined(separator: "\n")
                && !problem.description.contains("short")
        }
    }

    @Test func oneWrongSettingIsOneLine() throws {
        #expect {
            try AppConfig.load(environment: ["TALLY_SMTP_URL": "smtp://"], flags: [:])
        } throws: { error in
            (error as? AppConfig.Problem).map { $0.lines.count == 1 && $0.source == "TALLY_SMTP_URL" } ?? false
        }
    }

    /// Issue 24: retention limits and the read replica's settings, each refused with its own line.
    @Test func retentionAndTheReadReplica() throws {
        let config = try AppConfig.load(
            environment: [
                "TALLY_EVENT_RETENTION_DAYS": "90", "TALLY_DATABASE_URL": "postgres://u:p@db/tally",
                "TALLY_DATABASE_READ_URL": "postgres://u:secret@replica/tally", "TALLY_DATABASE_READ_MAX_LAG": "5",
            ], flags: [:])
        #expect(config.retention == RetentionPolicy(eventDays: 90, rollupDays: nil))
        #expect(config.databaseReadURL == "postgres://u:secret@replica/tally" && config.databaseReadMaxLagSeconds == 5)
        #expect(try AppConfig.load(environment: [:], flags: [:]).retention.keepsEverything)
        #expect {
            try AppConfig.load(
                environment: [
                    "TALLY_ROLLUP_RETENTION_DAYS": "0", "TALLY_DATABASE_READ_URL": "postgres://u:secret@replica/tally",
                    "TALLY_DATABASE_READ_MAX_LAG": "never",
                ], flags: [:])
        } throws: { error in
            guard let problem = error as? AppConfig.Problem else { return false }
            let sources = Set(problem.lines.map { String($0.prefix { $0 != " " }) })
            return sources == ["TALLY_ROLLUP_RETENTION_DAYS", "TALLY_DATABASE_READ_URL", "TALLY_DATABASE_READ_MAX_LAG"]
                && !problem.description.contains("secret")
        }
    }

    @Test func migrateIsOnUnlessTurnedOff() throws {
        #expect(try AppConfig.load(environment: [:], flags: [:]).migrate)
        #expect(try AppConfig.load(environment: ["TALLY_MIGRATE": "on"], flags: [:]).migrate)
        #expect(try !AppConfig.load(environment: ["TALLY_MIGRATE": "OFF"], flags: [:]).migrate)
    }

    @Test func commandsThatMayNotMigrateSayTheSchemaIsBehind() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tally-schema-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var settings = AppConfig()
        settings.dataDirectory = dir
        settings.database = .sqlite(path: dir + "/tally.sqlite")
        settings.migrate = false
        let config = settings
        try await StoreBootstrap.withStore(config, logger: Logger(label: "test")) { store in
            let pending = try await store.pendingMigrations()
            #expect(!pending.isEmpty)
            for use in [StoreBootstrap.SchemaUse.read, .write] {
                await #expect(throws: StoreBootstrap.SchemaBehind.self) {
                    try await StoreBootstrap.prepareSchema(store, for: use, config: config)
                }
            }
            #expect(try await store.pendingMigrations() == pending, "nothing was migrated")
            try await StoreBootstrap.prepareSchema(store, for: .migrate, config: config)
            #expect(try await store.pendingMigrations().isEmpty)
            try await StoreBootstrap.prepareSchema(store, for: .read, config: config)
            try await StoreBootstrap.prepareSchema(store, for: .write, config: config)
        }
    }

    @Test func theSchemaBehindIsOneLineNamingTallyMigrate() {
        let behind = StoreBootstrap.SchemaBehind(pending: ["a", "b"], because: "TALLY_MIGRATE is off")
        #expect(
            behind.description
                == "the database schema is behind this version of tally (2 migrations pending) and TALLY_MIGRATE is off: run tally migrate first"
        )
    }
}
